package swarmbench

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"
)

// ErrConfig reports an invalid configuration.
var ErrConfig = errors.New("swarmbench: invalid configuration")

// Config is one benchmark run. The zero value of every field but Dir and
// Bin means its default.
type Config struct {
	// Dir holds the run's catalogue, service and speakers. Required.
	Dir string
	// Bin holds starling-server, starling-ingest and starlingd. Required.
	Bin string
	// Speakers is N (default 30).
	Speakers int
	// Tracks is the catalogue size T (default 60), made of Distinct audio
	// files (default 6) of TrackSeconds each (default 30) ingested
	// ceil(T/Distinct) times with distinct keys.
	Tracks, Distinct, TrackSeconds int
	// Duration is the simulated listening time (default 20m); the run takes
	// Duration/Speed of wall time plus start-up.
	Duration time.Duration
	// Speed is K: playback on the virtual clock K times real time (default 8).
	Speed float64
	// Seed makes the workload reproducible (default 1).
	Seed uint64
	// ZipfS is the popularity exponent (default 1.0).
	ZipfS float64
	// FollowProb is the probability that a play is followed by the next
	// track in catalogue order (default 0.6; negative means 0).
	FollowProb float64
	// SkipProb is the probability that a play is skipped part-way (default
	// 0.1; negative means 0).
	SkipProb float64
	// ChurnPerHour is how often each speaker leaves, per simulated hour
	// (default 1; negative means no churn). A speaker that leaves is
	// stopped and comes back after ChurnDown of simulated time (default
	// 2m) with its cache.
	ChurnPerHour float64
	ChurnDown    time.Duration
	// NoP2P runs the origin-only baseline.
	NoP2P bool
	// NoTracker and NoSearch turn off the tracker or the overlay search
	// (not both), to measure each way of finding peers alone.
	NoTracker, NoSearch bool
	// Audio is "decode" (default: every speaker decodes Vorbis) or
	// "bitrate" (speakers consume the encoded bytes at the track's bitrate
	// on the same virtual clock: hundreds fit on two cores).
	Audio string
	// Net is the emulated network; NoNetem disables it (bare loopback).
	Net     NetConfig
	NoNetem bool
	// MemoryLimit, when > 0, runs each speaker in a cgroup v1 memory group
	// of this many bytes.
	MemoryLimit int64
	// ExtraConfig is appended to every speaker's TOML config (e.g. a
	// [stream] section to try buffer thresholds).
	ExtraConfig string
	// Progress receives the progress bar (default: none).
	Progress io.Writer
	// Log receives diagnostics (default: discard).
	Log *slog.Logger
}

// NetConfig is the emulated network.
type NetConfig struct {
	// OriginRTT is the round trip to the service, both its origin and its
	// session listener (default 40ms).
	OriginRTT time.Duration
	// PeerRTTMin and PeerRTTMax bound the round trip drawn per link (pair
	// of speakers, from a seeded hash) (default 10ms and 120ms).
	PeerRTTMin, PeerRTTMax time.Duration
	// UploadBitsPerSec caps each speaker's upload to peers, in simulated
	// time, with one bucket over all of its links in both directions of
	// connection (default 1 Mbit/s; negative means uncapped).
	UploadBitsPerSec float64
}

func (c *Config) defaults() error {
	if c.Dir == "" || c.Bin == "" {
		return fmt.Errorf("%w: Dir and Bin are required", ErrConfig)
	}
	def := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	def(&c.Speakers, 30)
	def(&c.Tracks, 60)
	def(&c.Distinct, 6)
	def(&c.TrackSeconds, 30)
	if c.Duration == 0 {
		c.Duration = 20 * time.Minute
	}
	if c.Speed == 0 {
		c.Speed = 8
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.ZipfS == 0 {
		c.ZipfS = 1
	}
	if c.FollowProb == 0 {
		c.FollowProb = 0.6
	}
	if c.SkipProb == 0 {
		c.SkipProb = 0.1
	}
	if c.ChurnPerHour == 0 {
		c.ChurnPerHour = 1
	}
	if c.ChurnDown == 0 {
		c.ChurnDown = 2 * time.Minute
	}
	c.FollowProb, c.SkipProb, c.ChurnPerHour = max(c.FollowProb, 0), max(c.SkipProb, 0), max(c.ChurnPerHour, 0)
	if c.Net.OriginRTT == 0 {
		c.Net.OriginRTT = 40 * time.Millisecond
	}
	if c.Net.PeerRTTMin == 0 {
		c.Net.PeerRTTMin = 10 * time.Millisecond
	}
	if c.Net.PeerRTTMax == 0 {
		c.Net.PeerRTTMax = 120 * time.Millisecond
	}
	if c.Net.UploadBitsPerSec == 0 {
		c.Net.UploadBitsPerSec = 1e6
	}
	if c.Audio == "" {
		c.Audio = "decode"
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	switch {
	case c.Speakers < 1 || c.Speakers > 1000:
		return fmt.Errorf("%w: speakers %d, want 1..1000", ErrConfig, c.Speakers)
	case c.Tracks < 1 || c.Distinct < 1 || c.Distinct > 64 || c.TrackSeconds < 4 || c.TrackSeconds > 600:
		return fmt.Errorf("%w: tracks %d, distinct %d (1..64), track seconds %d (4..600)", ErrConfig, c.Tracks, c.Distinct, c.TrackSeconds)
	case c.Speed < 1 || c.Speed > 100:
		return fmt.Errorf("%w: speed %g, want 1..100", ErrConfig, c.Speed)
	case c.Duration < time.Minute:
		return fmt.Errorf("%w: duration %v, want at least 1m of simulated time", ErrConfig, c.Duration)
	case c.ZipfS < 0 || c.FollowProb > 1 || c.SkipProb > 1:
		return fmt.Errorf("%w: zipf %g, follow %g, skip %g", ErrConfig, c.ZipfS, c.FollowProb, c.SkipProb)
	case c.Net.OriginRTT < 0 || c.Net.PeerRTTMin < 0 || c.Net.PeerRTTMax < c.Net.PeerRTTMin:
		return fmt.Errorf("%w: network delays %+v", ErrConfig, c.Net)
	case c.Audio != "decode" && c.Audio != "bitrate":
		return fmt.Errorf("%w: audio %q, want decode or bitrate", ErrConfig, c.Audio)
	case c.NoTracker && c.NoSearch && !c.NoP2P:
		return fmt.Errorf("%w: no tracker and no overlay search leaves no way to find peers (use NoP2P for origin only)", ErrConfig)
	case c.Audio == "bitrate" && c.Speed <= 1:
		return fmt.Errorf("%w: bitrate mode runs on the virtual clock: give a speed above 1", ErrConfig)
	case c.MemoryLimit < 0 || (c.MemoryLimit > 0 && c.MemoryLimit < 16<<20):
		return fmt.Errorf("%w: memory limit %d bytes, want 0 or at least 16 MiB", ErrConfig, c.MemoryLimit)
	}
	return nil
}

// wall converts simulated time to wall time.
func (c *Config) wall(d time.Duration) time.Duration {
	return time.Duration(float64(d) / c.Speed)
}
