// Command starlingctl drives a Starling speaker through its control API:
// status, search, play, queue, pause/resume/next/prev, seek, volume and a
// live event stream. It is a thin shell over firmware/control.Client.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kong"

	"github.com/starling-audio/starling/firmware/control"
	"github.com/starling-audio/starling/p2p/track"
)

// version is stamped at build time: -ldflags "-X main.version=...".
var version = "dev"

type cli struct {
	Version   kong.VersionFlag `help:"Print the version and exit."`
	Addr      string           `help:"Speaker address, host:port or URL." env:"STARLING_ADDR" default:"127.0.0.1:7410"`
	Token     string           `help:"API token (prefer STARLING_TOKEN or --token-file: arguments are visible to other users)." env:"STARLING_TOKEN"`
	TokenFile string           `help:"File holding the API token, used when no token is given." default:"${token_file}" type:"path"`
	JSON      bool             `name:"json" help:"Print JSON for scripts instead of text."`
	Timeout   time.Duration    `help:"Deadline of each command (not of events)." default:"10s"`

	Status statusCmd `cmd:"" help:"Show what is playing, the buffer and the network."`
	Search searchCmd `cmd:"" help:"Search the catalogue."`
	Play   playCmd   `cmd:"" help:"Play a track now: a search query (best match) or --id HEX."`
	Queue  queueCmd  `cmd:"" help:"Queue a track: a search query (best match) or --id HEX."`
	Pause  pauseCmd  `cmd:"" help:"Pause playback."`
	Resume resumeCmd `cmd:"" help:"Resume playback."`
	Next   nextCmd   `cmd:"" help:"Skip to the next track."`
	Prev   prevCmd   `cmd:"" aliases:"previous" help:"Go back to the previous track."`
	Seek   seekCmd   `cmd:"" help:"Seek in the current track (83, 1:23, 1:02:03, 1m23s)."`
	Volume volumeCmd `cmd:"" help:"Set the volume in percent (0-100)."`
	Events eventsCmd `cmd:"" help:"Follow state changes and print one line each until interrupted."`
	Update updateCmd `cmd:"" help:"Show the over-the-air update state; --check asks the speaker to check for a release now."`
}

// app is what every command's Run receives.
type app struct {
	client  *control.Client
	out     io.Writer
	json    bool
	timeout time.Duration
}

func (a *app) print(v any, text string) error {
	if a.json {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(a.out, "%s\n", b)
		return err
	}
	_, err := io.WriteString(a.out, text)
	return err
}

func (a *app) call(ctx context.Context, f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	return f(ctx)
}

type statusCmd struct{}

func (statusCmd) Run(ctx context.Context, a *app) error {
	var st control.Status
	err := a.call(ctx, func(ctx context.Context) (err error) { st, err = a.client.Status(ctx); return })
	if err != nil {
		return err
	}
	return a.print(st, formatStatus(st))
}

type searchCmd struct {
	Query  []string `arg:"" help:"Words to search for."`
	Offset int      `help:"Skip this many results." default:"0"`
	Limit  int      `help:"Show at most this many results (1-100)." default:"20"`
}

func (c searchCmd) Run(ctx context.Context, a *app) error {
	var res control.SearchResult
	err := a.call(ctx, func(ctx context.Context) (err error) {
		res, err = a.client.Search(ctx, strings.Join(c.Query, " "), c.Offset, c.Limit)
		return
	})
	if err != nil {
		return err
	}
	var b strings.Builder
	for _, t := range res.Tracks {
		fmt.Fprintf(&b, "%s  %s\n", t.ID, formatTrack(t))
	}
	fmt.Fprintf(&b, "%d of %d matches shown\n", len(res.Tracks), res.Total)
	return a.print(res, b.String())
}

// trackArgs is shared by play and queue.
type trackArgs struct {
	Query []string `arg:"" optional:"" help:"Search query, e.g. \"artist - title\"; the best match is taken."`
	ID    string   `name:"id" help:"Track ID (64 hex digits) instead of a query."`
}

func (t trackArgs) request() (control.PlayRequest, error) {
	q := strings.TrimSpace(strings.Join(t.Query, " "))
	switch {
	case t.ID != "" && q != "":
		return control.PlayRequest{}, errors.New("give a query or --id, not both")
	case t.ID != "":
		id, err := track.ParseID(t.ID)
		if err != nil {
			return control.PlayRequest{}, fmt.Errorf("--id: %w", err)
		}
		return control.PlayRequest{TrackID: id}, nil
	case q != "":
		return control.PlayRequest{Query: q}, nil
	}
	return control.PlayRequest{}, errors.New("give a query or --id")
}

func (t trackArgs) run(ctx context.Context, a *app, verb string, f func(context.Context, control.PlayRequest) (control.Track, error)) error {
	req, err := t.request()
	if err != nil {
		return err
	}
	var tr control.Track
	if err := a.call(ctx, func(ctx context.Context) (err error) { tr, err = f(ctx, req); return }); err != nil {
		return err
	}
	return a.print(control.PlayResult{Track: tr}, fmt.Sprintf("%s %s\n", verb, formatTrack(tr)))
}

type playCmd struct{ trackArgs }

func (c playCmd) Run(ctx context.Context, a *app) error {
	return c.run(ctx, a, "playing", a.client.Play)
}

type queueCmd struct{ trackArgs }

func (c queueCmd) Run(ctx context.Context, a *app) error {
	return c.run(ctx, a, "queued", a.client.Queue)
}

// simple runs a command without arguments and prints what was done.
func simple(ctx context.Context, a *app, done string, f func(context.Context) error) error {
	if err := a.call(ctx, f); err != nil {
		return err
	}
	return a.print(map[string]bool{"ok": true}, done+"\n")
}

type pauseCmd struct{}

func (pauseCmd) Run(ctx context.Context, a *app) error {
	return simple(ctx, a, "paused", a.client.Pause)
}

type resumeCmd struct{}

func (resumeCmd) Run(ctx context.Context, a *app) error {
	return simple(ctx, a, "resumed", a.client.Resume)
}

type nextCmd struct{}

func (nextCmd) Run(ctx context.Context, a *app) error {
	return simple(ctx, a, "skipped to the next track", a.client.Next)
}

type prevCmd struct{}

func (prevCmd) Run(ctx context.Context, a *app) error {
	return simple(ctx, a, "back to the previous track", a.client.Previous)
}

type seekCmd struct {
	Position string `arg:"" help:"Position: 83, 1:23, 1:02:03 or 1m23s."`
}

func (c seekCmd) Run(ctx context.Context, a *app) error {
	pos, err := control.ParsePosition(c.Position)
	if err != nil {
		return err
	}
	return simple(ctx, a, "seeked to "+control.FormatPosition(pos), func(ctx context.Context) error {
		return a.client.Seek(ctx, pos)
	})
}

type volumeCmd struct {
	Percent int `arg:"" help:"Volume in percent, 0 to 100."`
}

func (c volumeCmd) Run(ctx context.Context, a *app) error {
	if c.Percent < 0 || c.Percent > 100 {
		return fmt.Errorf("volume %d: want 0 to 100", c.Percent)
	}
	return simple(ctx, a, fmt.Sprintf("volume %d%%", c.Percent), func(ctx context.Context) error {
		return a.client.SetVolume(ctx, c.Percent)
	})
}

type eventsCmd struct{}

func (eventsCmd) Run(ctx context.Context, a *app) error {
	err := a.client.Events(ctx, func(ev control.Event) error {
		if a.json {
			return a.print(ev, "")
		}
		_, err := io.WriteString(a.out, formatEvent(ev))
		return err
	})
	if errors.Is(err, context.Canceled) {
		return nil // interrupted by the user
	}
	return err
}

// resolveToken picks the token: flag or environment, else the token file.
func resolveToken(c *cli) (string, error) {
	if c.Token != "" {
		return c.Token, nil
	}
	tok, err := control.ReadTokenFile(c.TokenFile)
	if err != nil {
		return "", fmt.Errorf("%w; or set STARLING_TOKEN", err)
	}
	return tok, nil
}

// run is main without the process: it parses args, runs one command and
// returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var c cli
	exitCode := -1
	parser, err := kong.New(&c,
		kong.Name("starlingctl"),
		kong.Description("Control a Starling speaker over its LAN API."),
		kong.Vars{"version": version, "token_file": control.DefaultTokenFile},
		kong.Writers(stdout, stderr),
		kong.Exit(func(code int) { exitCode = code }),
		kong.UsageOnError(),
	)
	if err != nil {
		fmt.Fprintln(stderr, "starlingctl:", err)
		return 2
	}
	kctx, err := parser.Parse(args)
	if exitCode >= 0 { // --help or --version
		return exitCode
	}
	if err != nil {
		fmt.Fprintln(stderr, "starlingctl:", err)
		return 2
	}
	tok, err := resolveToken(&c)
	if err != nil {
		fmt.Fprintln(stderr, "starlingctl:", err)
		return 1
	}
	client, err := control.NewClient(c.Addr, tok, nil)
	if err != nil {
		fmt.Fprintln(stderr, "starlingctl:", err)
		return 1
	}
	a := &app{client: client, out: stdout, json: c.JSON, timeout: c.Timeout}
	kctx.BindTo(ctx, (*context.Context)(nil))
	if err := kctx.Run(a); err != nil {
		fmt.Fprintln(stderr, "starlingctl:", err)
		return 1
	}
	return 0
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
