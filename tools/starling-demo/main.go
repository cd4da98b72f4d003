// Command starling-demo runs a small Starling system on this machine: a
// catalogue service with the test fixtures ingested as several tracks and
// three headless speakers, which play the same sequence one after another so
// that later speakers get most of their bytes from earlier ones. It shows a
// live table per speaker and a summary, and leaves no process behind, also
// on Ctrl-C. `make demo` runs it.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/alecthomas/kong"
	"golang.org/x/term"

	"github.com/starling-audio/starling/tools/demo"
)

type cli struct {
	Bin      string        `help:"Directory with starling-server, starling-ingest and starlingd." default:"bin" type:"path"`
	Dir      string        `help:"Work directory (default: a temporary one, removed at the end)." type:"path"`
	Keep     bool          `help:"Keep the work directory (logs, caches) at the end."`
	Speakers int           `help:"Number of speakers." default:"3"`
	Copies   int           `help:"Ingest each track this many times (distinct keys: distinct tracks)." default:"1"`
	Tracks   int           `help:"Tracks each speaker plays in sequence." default:"3"`
	Stagger  time.Duration `help:"Speaker k starts this long after speaker k-1." default:"5s"`
	Audible  bool          `help:"Let the first speaker play on this machine's sound card (backend auto) instead of the null device."`
	NoPeers  bool          `name:"no-p2p" help:"Origin only: the baseline."`
	Music    string        `help:"Directory of .ogg files to ingest instead of generated tracks." type:"path"`
	Length   int           `help:"Length in seconds of each generated track." default:"30"`
	Speed    float64       `help:"Play this many times faster than real time on the virtual clock (1 = real time on the null device)." default:"5"`
	Timeout  time.Duration `help:"Give up after this long." default:"110s"`
}

func main() {
	var c cli
	kong.Parse(&c, kong.Name("starling-demo"), kong.Description("Run a catalogue service and speakers on loopback and show who serves whom."))
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()

	dir := c.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "starling-demo-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "starling-demo:", err)
			os.Exit(1)
		}
		dir = d
		if !c.Keep {
			defer os.RemoveAll(d)
		}
	}
	query := "starling demo"
	var tracks []string
	if c.Music != "" {
		tracks, _ = filepath.Glob(filepath.Join(c.Music, "*.ogg"))
		query = ""
	} else {
		var err error
		fmt.Printf("making %d demo tracks of %d s with sox and oggenc...\n", c.Tracks, c.Length)
		if tracks, err = demo.MakeTracks(ctx, dir, c.Tracks, c.Length); err != nil {
			fmt.Fprintln(os.Stderr, "starling-demo:", err)
			os.Exit(1)
		}
	}
	audible := -1
	if c.Audible {
		audible = 0
		c.Speed = 1 // a sound card plays in real time
	}
	sum, err := demo.Run(ctx, demo.Options{
		Dir: dir, Bin: c.Bin, Speakers: c.Speakers, Tracks: tracks, Copies: c.Copies,
		Plays: c.Tracks, Stagger: c.Stagger, AudibleSpeaker: audible, NoPeers: c.NoPeers, Query: query, Speed: c.Speed,
		Out: os.Stdout, Live: term.IsTerminal(int(os.Stdout.Fd())), Log: log,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "starling-demo:", err)
		if c.Keep || c.Dir != "" {
			fmt.Fprintln(os.Stderr, "logs are in", dir)
		}
		os.Exit(1)
	}
	if c.Keep || c.Dir != "" {
		fmt.Println("logs, configs and caches are in", dir)
	}
	_ = sum
}
