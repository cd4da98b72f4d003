package origin_test

import (
	"context"
	"fmt"
	"net/http/httptest"

	"github.com/starling-audio/starling/p2p/origin"
	"github.com/starling-audio/starling/p2p/stream/streamtest"
)

func Example() {
	tr, _ := streamtest.MakeTrack(100_000, 5000)
	srv := httptest.NewServer(streamtest.NewOrigin(tr))
	defer srv.Close()

	c, err := origin.New(origin.Config{BaseURL: srv.URL})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	m, _, err := c.Manifest(context.Background(), tr.ID)
	if err != nil {
		panic(err)
	}
	total := 0
	err = c.FetchChunks(context.Background(), tr.ID, m, 0, m.NumChunks(), func(i int, chunk []byte) error {
		total += len(chunk) // verified ciphertext, ready for a store
		return nil
	})
	fmt.Println(total, err)
	// Output: 100000 <nil>
}
