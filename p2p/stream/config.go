package stream

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// ErrConfig is returned by Config.Validate.
var ErrConfig = errors.New("stream: invalid configuration")

// Config holds the streamer's policy. Zero fields take the defaults below
// (see DefaultConfig); all are honoured by the scheduler in streamer.go.
// Buffer levels are seconds of audio downloaded contiguously ahead of the
// read position, converted with the manifest's bytes per second.
type Config struct {
	// WellFilled: at or above it, peers only (origin only for urgent
	// chunks). Default 10s.
	WellFilled time.Duration
	// Low: below it the origin joins in (until WellFilled is reached again).
	// Default 5s.
	Low time.Duration
	// VeryLow: below it uploads are paused until the buffer is back to Low.
	// Default 2s.
	VeryLow time.Duration
	// Urgent: a chunk due within this goes to the origin when no peer can
	// deliver it in time, whatever the buffer. Default 2s.
	Urgent time.Duration
	// OriginAhead: when peers exist, the origin reads no further than this
	// ahead of playback. Default 15s.
	OriginAhead time.Duration
	// DeadlineMargin: a peer is trusted with a chunk only if its expected
	// download time plus this margin is before the chunk's deadline.
	// Default 1s.
	DeadlineMargin time.Duration
	// StallFactor and StallGrace: a peer request still outstanding after
	// StallFactor × its expected time + StallGrace is taken from the peer
	// and asked again elsewhere. Defaults 3 and 500ms.
	StallFactor float64
	StallGrace  time.Duration
	// PeerBackoff: after a failed request a peer is not asked again for
	// this long. Default 5s.
	PeerBackoff time.Duration
	// DefaultPeerRate is the rate assumed for a peer not yet measured, in
	// bytes per second. Default 64 KiB/s.
	DefaultPeerRate float64
	// PeerRequests is the number of outstanding requests per peer.
	// Default 4.
	PeerRequests int
	// MaxPeerFaults: a peer is dropped after this many bad chunks.
	// Default 3.
	MaxPeerFaults int
	// OriginRequests is the number of concurrent range requests to the
	// origin, and OriginBatch the chunks per request. Defaults 2 and 4.
	OriginRequests int
	OriginBatch    int
	// PrefetchSearch and PrefetchOrigin: the next track (Prefetch) is
	// searched among peers this long before the playing track ends, and
	// taken from the origin if no peer has it this long before the end.
	// Defaults 30s and 10s.
	PrefetchSearch time.Duration
	PrefetchOrigin time.Duration
	// SearchAgain: a track with no peer candidates is searched for again
	// this often while it streams (someone may have completed it since).
	// Default 10s.
	SearchAgain time.Duration
	// MemoryChunks bounds chunks held in memory when the store refuses
	// them (full or failing). Default 64 (1 MiB).
	MemoryChunks int
	// Tick is the longest the scheduler sleeps without an event. Default
	// 100ms.
	Tick time.Duration
	// Logger receives the streamer's logs (default: discard).
	Logger *slog.Logger
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		WellFilled:      10 * time.Second,
		Low:             5 * time.Second,
		VeryLow:         2 * time.Second,
		Urgent:          2 * time.Second,
		OriginAhead:     15 * time.Second,
		DeadlineMargin:  time.Second,
		StallFactor:     3,
		StallGrace:      500 * time.Millisecond,
		PeerBackoff:     5 * time.Second,
		DefaultPeerRate: 64 << 10,
		PeerRequests:    4,
		MaxPeerFaults:   3,
		OriginRequests:  2,
		OriginBatch:     4,
		PrefetchSearch:  30 * time.Second,
		PrefetchOrigin:  10 * time.Second,
		SearchAgain:     10 * time.Second,
		MemoryChunks:    64,
		Tick:            100 * time.Millisecond,
	}
}

// withDefaults fills zero fields from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	set := func(p *time.Duration, v time.Duration) {
		if *p == 0 {
			*p = v
		}
	}
	set(&c.WellFilled, d.WellFilled)
	set(&c.Low, d.Low)
	set(&c.VeryLow, d.VeryLow)
	set(&c.Urgent, d.Urgent)
	set(&c.OriginAhead, d.OriginAhead)
	set(&c.DeadlineMargin, d.DeadlineMargin)
	set(&c.StallGrace, d.StallGrace)
	set(&c.PeerBackoff, d.PeerBackoff)
	set(&c.PrefetchSearch, d.PrefetchSearch)
	set(&c.PrefetchOrigin, d.PrefetchOrigin)
	set(&c.SearchAgain, d.SearchAgain)
	set(&c.Tick, d.Tick)
	if c.StallFactor == 0 {
		c.StallFactor = d.StallFactor
	}
	if c.DefaultPeerRate == 0 {
		c.DefaultPeerRate = d.DefaultPeerRate
	}
	for _, p := range []struct {
		f *int
		v int
	}{{&c.PeerRequests, d.PeerRequests}, {&c.MaxPeerFaults, d.MaxPeerFaults},
		{&c.OriginRequests, d.OriginRequests}, {&c.OriginBatch, d.OriginBatch}, {&c.MemoryChunks, d.MemoryChunks}} {
		if *p.f == 0 {
			*p.f = p.v
		}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate checks the configuration as New will use it (defaults applied).
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case c.VeryLow < 0 || c.Low < 0 || c.WellFilled < 0 || c.Urgent < 0 || c.OriginAhead < 0 ||
		c.DeadlineMargin < 0 || c.StallGrace < 0 || c.PeerBackoff < 0 || c.PrefetchOrigin < 0 || c.Tick < 0 || c.SearchAgain < 0:
		return fmt.Errorf("%w: durations must not be negative", ErrConfig)
	case !(c.VeryLow <= c.Low && c.Low <= c.WellFilled):
		return fmt.Errorf("%w: want VeryLow (%v) <= Low (%v) <= WellFilled (%v)", ErrConfig, c.VeryLow, c.Low, c.WellFilled)
	case c.PrefetchOrigin > c.PrefetchSearch:
		return fmt.Errorf("%w: PrefetchOrigin (%v) must not exceed PrefetchSearch (%v)", ErrConfig, c.PrefetchOrigin, c.PrefetchSearch)
	case c.StallFactor < 1:
		return fmt.Errorf("%w: StallFactor %v must be at least 1", ErrConfig, c.StallFactor)
	case c.DefaultPeerRate < 1:
		return fmt.Errorf("%w: DefaultPeerRate %v must be at least 1 byte/s", ErrConfig, c.DefaultPeerRate)
	case c.PeerRequests < 1 || c.PeerRequests > 64:
		return fmt.Errorf("%w: PeerRequests %d out of range 1..64", ErrConfig, c.PeerRequests)
	case c.MaxPeerFaults < 1:
		return fmt.Errorf("%w: MaxPeerFaults %d must be at least 1", ErrConfig, c.MaxPeerFaults)
	case c.OriginRequests < 1 || c.OriginRequests > 16:
		return fmt.Errorf("%w: OriginRequests %d out of range 1..16", ErrConfig, c.OriginRequests)
	case c.OriginBatch < 1 || c.OriginBatch > 256:
		return fmt.Errorf("%w: OriginBatch %d out of range 1..256", ErrConfig, c.OriginBatch)
	case c.MemoryChunks < 1:
		return fmt.Errorf("%w: MemoryChunks %d must be at least 1", ErrConfig, c.MemoryChunks)
	}
	return nil
}
