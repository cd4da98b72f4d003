// Command swarmbench runs a whole Starling system on this machine — one
// starling-server and N starlingd speakers behind an emulated network —
// drives a seeded listening workload through their control APIs, and
// prints a JSON summary on stdout (a table and a progress bar on stderr).
// Run it once with and once without --no-p2p to compare with origin-only.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kong"
	"github.com/dustin/go-humanize"

	"github.com/starling-audio/starling/tools/swarmbench"
)

type cli struct {
	Bin          string        `help:"Directory with starling-server, starling-ingest and starlingd (make build)." default:"bin" type:"path"`
	Dir          string        `help:"Work directory (default: a temporary one, removed at the end)." type:"path"`
	Keep         bool          `help:"Keep the work directory (logs, caches)."`
	Speakers     int           `help:"Number of speakers." default:"30"`
	Tracks       int           `help:"Catalogue size." default:"60"`
	Distinct     int           `help:"Distinct generated audio files the catalogue is ingested from." default:"6"`
	TrackSeconds int           `help:"Length of each generated track." default:"30"`
	Duration     time.Duration `help:"Simulated listening time." default:"20m"`
	Speed        float64       `help:"Play this many times faster than real time (virtual clock)." default:"8"`
	Seed         uint64        `help:"Workload seed." default:"1"`
	Zipf         float64       `help:"Zipf exponent of track popularity." default:"1"`
	Follow       float64       `help:"Probability that a play is followed by the next track in order." default:"0.6"`
	Skip         float64       `help:"Probability that a play is skipped part-way." default:"0.1"`
	Churn        float64       `help:"Leaves per speaker per simulated hour (negative: none)." default:"1"`
	ChurnDown    time.Duration `help:"Simulated time a speaker stays away." default:"2m"`
	NoP2P        bool          `name:"no-p2p" help:"Origin only: the baseline."`
	NoTracker    bool          `name:"no-tracker" help:"Find peers by the overlay search only ([peer] tracker = false)."`
	NoSearch     bool          `name:"no-search" help:"Find peers by the tracker only ([peer] overlay_search = false)."`
	Audio        string        `help:"decode: every speaker decodes Vorbis; bitrate: speakers consume the encoded bytes at the track's bitrate on the same clock (hundreds of speakers on 2 cores)." enum:"decode,bitrate" default:"decode"`
	NoNetem      bool          `help:"No emulated network (bare loopback)."`
	OriginRTT    time.Duration `help:"Round trip to the service (origin and session)." default:"40ms"`
	PeerRTTMin   time.Duration `help:"Smallest round trip to a speaker's peer listener." default:"10ms"`
	PeerRTTMax   time.Duration `help:"Largest round trip to a speaker's peer listener." default:"120ms"`
	UploadMbit   float64       `help:"Each speaker's upload cap to peers in Mbit/s of simulated time (negative: none)." default:"1"`
	MemoryLimit  string        `help:"Run every speaker in a cgroup v1 memory group of this size, e.g. 64MiB (needs root)."`
	StreamConfig string        `help:"TOML lines appended to every speaker's config, e.g. '[stream]\\nlow_seconds = 4'."`
	Plot         string        `help:"Write a PNG of bytes per source over time (stacked) to this file." type:"path"`
	Verbose      bool          `help:"Log progress and warnings to stderr."`
}

func main() {
	var c cli
	kong.Parse(&c, kong.Name("swarmbench"), kong.Description("Measure a Starling fleet on loopback against the Spotify paper, or origin-only with --no-p2p."))
	level := slog.LevelError
	if c.Verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, c, log); err != nil {
		fmt.Fprintln(os.Stderr, "swarmbench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, c cli, log *slog.Logger) error {
	dir := c.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "swarmbench-")
		if err != nil {
			return err
		}
		dir = d
		if !c.Keep {
			defer os.RemoveAll(dir)
		}
	}
	var limit int64
	if c.MemoryLimit != "" {
		v, err := humanize.ParseBytes(c.MemoryLimit)
		if err != nil {
			return fmt.Errorf("--memory-limit %q: %w", c.MemoryLimit, err)
		}
		limit = int64(v)
	}
	neg := func(v float64) float64 {
		if v == 0 {
			return -1 // an explicit 0 means none, not the default
		}
		return v
	}
	cfg := swarmbench.Config{Dir: dir, Bin: c.Bin, Speakers: c.Speakers, Tracks: c.Tracks, Distinct: c.Distinct,
		TrackSeconds: c.TrackSeconds, Duration: c.Duration, Speed: c.Speed, Seed: c.Seed, ZipfS: c.Zipf,
		FollowProb: neg(c.Follow), SkipProb: neg(c.Skip), ChurnPerHour: neg(c.Churn), ChurnDown: c.ChurnDown,
		NoP2P: c.NoP2P, NoTracker: c.NoTracker, NoSearch: c.NoSearch, Audio: c.Audio, NoNetem: c.NoNetem, MemoryLimit: limit, ExtraConfig: strings.ReplaceAll(c.StreamConfig, `\n`, "\n"),
		Net: swarmbench.NetConfig{OriginRTT: c.OriginRTT, PeerRTTMin: c.PeerRTTMin, PeerRTTMax: c.PeerRTTMax,
			UploadBitsPerSec: neg(c.UploadMbit) * 1e6},
		Progress: os.Stderr, Log: log}
	fmt.Fprintf(os.Stderr, "swarmbench: generating tracks and starting %d speakers in %s ...\n", c.Speakers, dir)
	res, series, err := swarmbench.Run(ctx, cfg)
	if err != nil {
		return err
	}
	res.WriteTable(os.Stderr)
	if c.Plot != "" {
		if err := swarmbench.Plot(c.Plot, series, res); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "plot: %s\n", c.Plot)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}
