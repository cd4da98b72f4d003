package stream_test

import (
	"context"
	"fmt"
	"io"
	"net/http/httptest"

	"github.com/starling-audio/starling/p2p/origin"
	"github.com/starling-audio/starling/p2p/stream"
	"github.com/starling-audio/starling/p2p/stream/streamtest"
)

func Example() {
	tr, _ := streamtest.MakeTrack(200_000, 10_000)
	srv := httptest.NewServer(streamtest.NewOrigin(tr)) // the origin, on loopback
	defer srv.Close()
	oc, _ := origin.New(origin.Config{BaseURL: srv.URL})
	defer oc.Close()

	s, err := stream.New(stream.DefaultConfig(), stream.Deps{
		Store:   streamtest.NewStore(),     // *cache.Cache in the daemon
		Catalog: streamtest.NewCatalog(tr), // the session in the daemon
		Origin:  oc,
		// Peers: the peer transport; Uploads: the uploader.
	})
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()

	st, err := s.Open(ctx, tr.ID)
	if err != nil {
		panic(err)
	}
	plain, err := io.ReadAll(st) // decrypted, verified, in order
	fmt.Println(len(plain), err, string(plain[:8]) == string(tr.Plain[:8]))
	st.Close()
	s.Close()
	cancel()
	<-done
	// Output: 200000 <nil> true
}
