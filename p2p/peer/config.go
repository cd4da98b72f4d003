package peer

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"golang.org/x/time/rate"

	"github.com/starling-audio/starling/p2p/track"
)

// Store is the part of the cache the uploader and search need. *cache.Cache
// satisfies it; ReadChunk verifies the chunk against the manifest.
type Store interface {
	Complete(id track.ID) bool
	ReadChunk(id track.ID, i int, dst []byte) ([]byte, error)
}

// Tracker asks the service's tracker who has a complete copy of a track.
// The daemon adapts the p2p/session client to it.
type Tracker interface {
	Query(ctx context.Context, id track.ID) ([]Holder, error)
}

// Config configures a Node. Zero fields take the defaults in brackets.
type Config struct {
	ListenAddr    string // TCP listen address ["127.0.0.1:0" is for tests; required]
	AdvertiseAddr string // address put in search hits [the listener's address]
	Credentials   Credentials
	Store         Store
	Tracker       Tracker // optional: nil searches the overlay only
	// NoOverlaySearch: Search asks the Tracker only and floods no query
	// (this node still answers and forwards its neighbours' queries). For
	// measuring the tracker alone; a speaker keeps both.
	NoOverlaySearch bool
	Logger          *slog.Logger // [discard]
	Agent           string       // sent in Hello ["starling-peer"]

	MaxNeighbours  int           // hard cap, refused beyond [60]
	SoftNeighbours int           // evict down to this [50]
	NewcomerGrace  time.Duration // a neighbour younger than this is not evicted [30s]
	MaxUploads     int           // peers served at once [4]
	MaxQueued      int           // chunk requests waiting or running per peer [8]
	SearchTTL      int           // flood hops [2]
	SearchRate     rate.Limit    // queries+hits accepted per neighbour per second [20]
	SearchBurst    int           // [40]
	SeenQueries    int           // query IDs remembered [4096]
	SeenWindow     time.Duration // how long [2m]
	SearchTimeout  time.Duration // tracker query bound [10s]
	BanDuration    time.Duration // a dropped peer is refused this long [10m]
	HalfLife       time.Duration // of the "recent" bytes and hits [5m]
	DialTimeout    time.Duration // TCP+TLS+Hello [5s]
	MaxHandshakes  int           // inbound handshakes at once [16]
	MaxDials       int           // outbound dials at once [8]
	Keepalive      time.Duration // wire keepalive interval [30s]
	Maintenance    time.Duration // eviction / housekeeping tick [5s]
	// Now is the clock for certificates, utility decay and bans [time.Now].
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	d := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	t := func(p *time.Duration, v time.Duration) {
		if *p == 0 {
			*p = v
		}
	}
	d(&c.MaxNeighbours, 60)
	d(&c.SoftNeighbours, 50)
	d(&c.MaxUploads, 4)
	d(&c.MaxQueued, 8)
	d(&c.SearchTTL, 2)
	d(&c.SearchBurst, 40)
	d(&c.SeenQueries, 4096)
	d(&c.MaxHandshakes, 16)
	d(&c.MaxDials, 8)
	t(&c.NewcomerGrace, 30*time.Second)
	t(&c.SeenWindow, 2*time.Minute)
	t(&c.SearchTimeout, 10*time.Second)
	t(&c.BanDuration, 10*time.Minute)
	t(&c.HalfLife, 5*time.Minute)
	t(&c.DialTimeout, 5*time.Second)
	t(&c.Keepalive, 30*time.Second)
	t(&c.Maintenance, 5*time.Second)
	if c.SearchRate == 0 {
		c.SearchRate = 20
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Agent == "" {
		c.Agent = "starling-peer"
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Validate checks c as New will use it (defaults applied).
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case c.ListenAddr == "":
		return fmt.Errorf("%w: ListenAddr is required (e.g. \":4070\")", ErrConfig)
	case c.Credentials == nil || c.Store == nil:
		return fmt.Errorf("%w: Credentials and Store are required", ErrConfig)
	case c.SoftNeighbours < 1 || c.SoftNeighbours > c.MaxNeighbours:
		return fmt.Errorf("%w: want 1 <= SoftNeighbours (%d) <= MaxNeighbours (%d)", ErrConfig, c.SoftNeighbours, c.MaxNeighbours)
	case c.MaxUploads < 1 || c.MaxQueued < 1 || c.MaxQueued > 32:
		return fmt.Errorf("%w: MaxUploads must be >= 1 and MaxQueued in 1..32", ErrConfig)
	case c.SearchTTL < 1 || c.SearchTTL > maxTTL:
		return fmt.Errorf("%w: SearchTTL %d out of range 1..%d", ErrConfig, c.SearchTTL, maxTTL)
	case c.SearchRate < 0 || c.SearchBurst < 1 || c.SeenQueries < 16:
		return fmt.Errorf("%w: SearchRate must be >= 0, SearchBurst >= 1, SeenQueries >= 16", ErrConfig)
	case c.MaxHandshakes < 1 || c.MaxDials < 1:
		return fmt.Errorf("%w: MaxHandshakes and MaxDials must be >= 1", ErrConfig)
	case c.NewcomerGrace < 0 || c.SeenWindow < 0 || c.SearchTimeout < 0 || c.BanDuration < 0 ||
		c.HalfLife < 0 || c.DialTimeout < 0 || c.Maintenance < 0:
		return fmt.Errorf("%w: durations must not be negative", ErrConfig)
	case len(c.AdvertiseAddr) > MaxAddrLen:
		return fmt.Errorf("%w: AdvertiseAddr longer than %d bytes", ErrConfig, MaxAddrLen)
	}
	return nil
}
