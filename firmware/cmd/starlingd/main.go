// Command starlingd is the Starling speaker daemon. It is thin: it parses the
// command line, builds a logger and hands over to package firmware.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/alecthomas/kong"

	"github.com/starling-audio/starling/firmware"
)

// version is stamped at build time: -ldflags "-X main.version=...".
var version = "dev"

// buildFault is empty in every real build. The OTA end-to-end test stamps
// "-X main.buildFault=dead-service" into a release to make a realistically
// broken version: it dials a service address nothing listens on (loopback
// port 1), never logs in, and so fails the update health gate.
var buildFault = ""

type cli struct {
	Version  kong.VersionFlag `help:"Print the version and exit."`
	LogLevel slog.Level       `help:"Log level (DEBUG, INFO, WARN, ERROR)." default:"INFO"`

	Run      runCmd      `cmd:"" help:"Run the speaker daemon until SIGTERM/SIGINT."`
	SelfTest selfTestCmd `cmd:"" name:"self-test" help:"Exercise the firmware's subsystems and print one success line or the failures."`
	Update   updateCmd   `cmd:"" help:"Over-the-air updates: check, status, confirm, rollback, boot (see systemd/)."`
}

// exitRestart is the status starlingd.service restarts on
// (RestartForceExitStatus=75) when the update agent asks for a restart.
const exitRestart = 75

// restartError makes main exit with exitRestart.
type restartError struct{}

func (restartError) Error() string { return "restarting into the current update slot" }

type runCmd struct {
	Config string `help:"Configuration file (TOML); every key is optional." short:"c" default:"/etc/starling/starlingd.toml" type:"path"`
}

func (c *runCmd) Run(ctx context.Context, log *slog.Logger) error {
	cfg, err := firmware.LoadConfig(c.Config)
	if err != nil {
		return err
	}
	if buildFault == "dead-service" {
		cfg.Service.Address = "127.0.0.1:1"
	}
	if lvl, err := cfg.Runtime.Level(); err == nil {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
	}
	d, err := firmware.New(cfg, version, log)
	if err != nil {
		return err
	}
	err = d.Run(ctx)
	if !errors.Is(err, firmware.ErrRestartRequested) {
		return err
	}
	if cfg.Update.Restart == "exec" { // no supervisor: become the current slot's binary
		bin := filepath.Join(cfg.Update.Dir, "current", "starlingd")
		log.Info("re-executing the current slot", "binary", bin)
		if err := syscall.Exec(bin, append([]string{bin}, os.Args[1:]...), os.Environ()); err != nil {
			return fmt.Errorf("re-executing %s: %w", bin, err)
		}
	}
	return restartError{}
}

type selfTestCmd struct {
	Dir string `help:"Scratch directory (default: a temporary one)." type:"path"`
}

func (c *selfTestCmd) Run(ctx context.Context) error {
	return firmware.SelfTest(ctx, firmware.SelfTestOptions{Version: version, Dir: c.Dir, Out: os.Stdout})
}

func main() {
	var c cli
	kctx := kong.Parse(&c,
		kong.Name("starlingd"),
		kong.Description("Starling speaker daemon: plays music on demand with peer-to-peer assistance."),
		kong.Vars{"version": version},
		kong.UsageOnError(),
	)
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: c.LogLevel}))
	slog.SetDefault(logger)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	kctx.BindTo(ctx, (*context.Context)(nil))
	kctx.Bind(logger)
	if err := kctx.Run(); err != nil {
		if errors.As(err, new(restartError)) {
			logger.Info("exiting for systemd to restart the new slot", "status", exitRestart)
			stop()
			os.Exit(exitRestart)
		}
		fmt.Fprintln(os.Stderr, "starlingd:", err)
		stop()
		os.Exit(1)
	}
}
