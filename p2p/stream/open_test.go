package stream_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/starling-audio/starling/p2p/stream"
	"github.com/starling-audio/starling/p2p/track"
)

// waitingCatalog answers Manifest only once the key and the origin's head
// were asked for: Open must ask for all three at once.
type waitingCatalog struct {
	stream.Catalog
	keyAsked, headAsked chan struct{}
}

func (c waitingCatalog) Manifest(ctx context.Context, id track.ID) ([]byte, error) {
	for what, ch := range map[string]chan struct{}{"key": c.keyAsked, "origin head": c.headAsked} {
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(10 * time.Second): // a deadlock guard, not a timing assertion
			return nil, fmt.Errorf("the %s was not asked for while the manifest was", what)
		}
	}
	return c.Catalog.Manifest(ctx, id)
}

func (c waitingCatalog) Key(ctx context.Context, id track.ID) (track.Key, error) {
	close(c.keyAsked)
	return c.Catalog.Key(ctx, id)
}

func TestOpenAsksManifestKeyHeadAndPeersAtOnce(t *testing.T) {
	tr := newTrack(t, 30)
	head := fmt.Sprintf("bytes=0-%d", 4*track.ChunkSize-1)
	wc := waitingCatalog{keyAsked: make(chan struct{}), headAsked: make(chan struct{})}
	e := newEnv(t, envOpts{
		catalog: func(c stream.Catalog) stream.Catalog { wc.Catalog = c; return wc },
		handler: func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Range") == head {
					defer close(wc.headAsked)
				}
				h.ServeHTTP(w, r)
			})
		},
	}, tr)
	st, err := e.s.Open(t.Context(), tr.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if !e.store.HasChunk(tr.ID, 0) {
		t.Error("Open returned without the head chunk it asked the origin for")
	}
	if got := e.peers.Searched(tr.ID); got != 1 {
		t.Errorf("%d peer searches; want 1, started with the manifest", got)
	}
	buf := make([]byte, 100)
	if _, err := st.Read(buf); err != nil {
		t.Fatal(err)
	}
	e.settle()
	for i := range 4 {
		eventually(t, fmt.Sprintf("head chunk %d stored", i), func() bool { return e.store.HasChunk(tr.ID, i) })
	}
	e.settle()
	for _, r := range e.origin.Ranges() {
		for i := range 4 {
			if r != head && strings.HasPrefix(r, fmt.Sprintf("bytes=%d-", i*track.ChunkSize)) {
				t.Errorf("chunk %d asked of the origin again (%v); the head carries it", i, e.origin.Ranges())
			}
		}
	}
	if s := e.s.Stats(); s.BytesOrigin < 4*track.ChunkSize {
		t.Errorf("origin bytes %d do not count the head", s.BytesOrigin)
	}
}
