package control_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"

	"github.com/starling-audio/starling/firmware/control"
)

// The daemon's side: a token that survives restarts, a Server over the
// player, /metrics mounted beside the API, served until ctx ends.
func ExampleServer() {
	dir, _ := os.MkdirTemp("", "starling-example")
	defer os.RemoveAll(dir)
	tok, err := control.LoadOrCreateToken(filepath.Join(dir, "control.token"))
	if err != nil {
		fmt.Println(err)
		return
	}
	srv, err := control.New(control.Config{
		Addr:    "127.0.0.1:0",
		Token:   tok,
		Player:  newFakePlayer(),
		Logger:  slog.New(slog.DiscardHandler),
		Version: "v1.0.0",
		Mounts:  []control.Mount{{Pattern: "GET /metrics", Handler: http.NotFoundHandler()}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }() // the daemon calls srv.Run(ctx)

	// starlingctl's side.
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c, _ := control.NewClient(ln.Addr().String(), tok, &http.Client{Transport: tr})
	st, err := c.Status(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(st.State, st.Track.Artist, "-", st.Track.Title, control.FormatPosition(st.Position()))
	stop()
	fmt.Println("serve:", <-done)
	// Output:
	// playing The Band - Song One 1:23
	// serve: <nil>
}
