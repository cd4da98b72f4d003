// Command starling-server is the Starling catalogue service: session
// server (TLS 1.3), origin (HTTP range GETs of encrypted tracks), tracker
// and metrics, in one process. It is a thin main over tools/server and
// tools/catalog.
//
//	starling-server serve --catalog DIR --state DIR --listen 127.0.0.1:7440 \
//	    --origin-listen 127.0.0.1:7441 --metrics-listen 127.0.0.1:7442
//	starling-server device add NAME --state DIR [--channel stable]
//	starling-server pin --state DIR
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/alecthomas/kong"
)

var version = "dev"

type cli struct {
	LogLevel slog.Level `help:"Log level (debug, info, warn, error)." default:"info" name:"log-level"`
	Serve    serveCmd   `cmd:"" help:"Run the service until SIGTERM/SIGINT."`
	Device   struct {
		Add deviceAddCmd `cmd:"" help:"Provision a speaker; prints its credentials as JSON for the speaker's config."`
	} `cmd:"" help:"Manage devices."`
	Pin pinCmd `cmd:"" help:"Print the service certificate's SHA-256 pin (made on first use)."`
}

func main() {
	var c cli
	kctx := kong.Parse(&c, kong.Name("starling-server"), kong.Description("Starling catalogue service "+version), kong.UsageOnError())
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: c.LogLevel}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	kctx.BindTo(ctx, (*context.Context)(nil))
	if err := kctx.Run(log); err != nil {
		fmt.Fprintln(os.Stderr, "starling-server:", err)
		os.Exit(1)
	}
}
