// Command starling-ingest adds audio files to a Starling catalogue
// directory: each becomes an encrypted, content-addressed track with its
// manifest, key and catalogue entry (see package tools/catalog).
//
//	starling-ingest --catalog DIR [--title T --artist A --album B --track-no N] [--duplicate] FILES...
//
// Ogg Vorbis files go in as they are; other formats are transcoded to
// Vorbis q5 when ffmpeg or oggenc is on PATH. A file that fails gets its
// own error and the rest still go in; the exit status is 1 if any failed.
// It is thin: flags, logger and progress bar here, the work in catalog.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/alecthomas/kong"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/starling-audio/starling/tools/catalog"
)

// version is stamped at build time: -ldflags "-X main.version=...".
var version = "dev"

type cli struct {
	Version   kong.VersionFlag `help:"Print the version and exit."`
	Catalog   string           `short:"c" required:"" type:"path" placeholder:"DIR" help:"Catalogue directory (created if missing)."`
	Title     string           `help:"Title for every file (overrides the TITLE comment)."`
	Artist    string           `help:"Artist (overrides the ARTIST comment)."`
	Album     string           `help:"Album (overrides the ALBUM comment)."`
	TrackNo   int              `name:"track-no" help:"Track number (overrides TRACKNUMBER)."`
	Duplicate bool             `aliases:"force" help:"Add a new track even if the same source file is already in the catalogue."`
	Progress  bool             `help:"Show a progress bar even when stderr is not a terminal."`
	LogLevel  slog.Level       `help:"Log level (DEBUG, INFO, WARN, ERROR)." default:"WARN"`
	Files     []string         `arg:"" name:"file" help:"Audio files to ingest."`
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, term.IsTerminal(int(os.Stderr.Fd())))
	stop()
	os.Exit(code)
}

// run is main without the process: it returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, stderrIsTerminal bool) int {
	var c cli
	exited := -1
	parser, err := kong.New(&c,
		kong.Name("starling-ingest"),
		kong.Description("Add audio files to a Starling catalogue: encrypt, chunk, manifest, publish."),
		kong.Vars{"version": version},
		kong.Writers(stdout, stderr),
		kong.Exit(func(code int) { exited = code }),
		kong.UsageOnError(),
	)
	if err != nil {
		fmt.Fprintln(stderr, "starling-ingest:", err)
		return 2
	}
	_, err = parser.Parse(args)
	if exited >= 0 { // --help, --version (kong goes on parsing after them)
		return exited
	}
	if err != nil {
		parser.Errorf("%s", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: c.LogLevel}))
	if len(c.Files) > 1 && (c.Title != "" || c.TrackNo != 0) {
		log.Warn("--title and --track-no apply to every file given")
	}
	cat, err := catalog.Open(c.Catalog, log)
	if err != nil {
		fmt.Fprintln(stderr, "starling-ingest:", err)
		return 1
	}
	opts := catalog.IngestOptions{Title: c.Title, Artist: c.Artist, Album: c.Album, TrackNo: c.TrackNo, Duplicate: c.Duplicate}

	var bar *progressbar.ProgressBar
	if len(c.Files) > 1 && (stderrIsTerminal || c.Progress) {
		bar = progressbar.NewOptions(len(c.Files),
			progressbar.OptionSetWriter(stderr),
			progressbar.OptionSetDescription("ingesting"),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionClearOnFinish(),
		)
	}
	var added, present, failed int
	for i, path := range c.Files {
		if ctx.Err() != nil {
			failed += len(c.Files) - i
			fmt.Fprintf(stderr, "starling-ingest: interrupted; %d files not ingested\n", len(c.Files)-i)
			break
		}
		e, isNew, err := cat.Ingest(ctx, path, opts)
		if bar != nil {
			bar.Clear()
		}
		switch {
		case err != nil:
			failed++
			fmt.Fprintln(stderr, "starling-ingest:", err)
		case isNew:
			added++
			fmt.Fprintf(stdout, "added    %s  %s - %s  (%s)\n", e.ID, e.Artist, e.Title, path)
		default:
			present++
			fmt.Fprintf(stdout, "present  %s  %s - %s  (%s)\n", e.ID, e.Artist, e.Title, path)
		}
		if bar != nil {
			bar.Add(1)
		}
	}
	if bar != nil {
		bar.Finish()
	}
	fmt.Fprintf(stderr, "%d added, %d already present, %d failed; the catalogue holds %d tracks\n", added, present, failed, cat.Len())
	if failed > 0 {
		if errors.Is(ctx.Err(), context.Canceled) {
			return 130
		}
		return 1
	}
	return 0
}
