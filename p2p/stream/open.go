package stream

import (
	"context"
	"fmt"
	"time"

	"github.com/starling-audio/starling/p2p/track"
)

// HeadOrigin is an Origin that can read a track's first chunks before its
// manifest is known (*origin.Client does). Open asks for them together with
// the manifest and key, and keeps each only if it verifies against the
// manifest.
type HeadOrigin interface {
	FetchHead(ctx context.Context, id track.ID, count int) ([]byte, error)
}

const (
	// headChunks is what Open asks the origin for before the manifest is
	// known: enough to start playing (0.8 s of 160 kbit/s audio per chunk)
	// and little enough that peers found meanwhile carry the rest.
	headChunks = 1
	// headWait bounds how long Open waits for the head once the manifest
	// and key are in (wall time: it is network time). A slower head is
	// cancelled and the scheduler fetches those chunks as usual.
	headWait = 500 * time.Millisecond
)

// keyFetch is the key of a track: from the store at once, or from the
// catalog in the background while the manifest is fetched.
type keyFetch struct {
	key     track.Key
	fetched bool // from the catalog: to be stored after the manifest
	err     error
	done    chan struct{} // nil: settled at creation
	cancel  context.CancelFunc
}

func (s *Streamer) fetchKey(ctx context.Context, id track.ID) *keyFetch {
	if k, err := s.d.Store.Key(id); err == nil {
		return &keyFetch{key: k}
	}
	kctx, cancel := context.WithCancel(ctx)
	f := &keyFetch{done: make(chan struct{}), cancel: cancel}
	go func() { // owned by load: it waits for or stops this fetch before returning
		defer close(f.done)
		k, err := s.d.Catalog.Key(kctx, id)
		if err != nil {
			f.err = fmt.Errorf("getting key of %s (is this device entitled to it?): %w: %w", id.Short(), ErrNoKey, err)
			return
		}
		f.key, f.fetched = k, true
	}()
	return f
}

func (f *keyFetch) wait() (track.Key, error) {
	if f.done != nil {
		<-f.done
	}
	return f.key, f.err
}

// stop cancels the fetch if it is still running and waits for it.
func (f *keyFetch) stop() {
	if f.done != nil {
		f.cancel()
		<-f.done
	}
}

// headFetch is the first chunks of a track asked from the origin before the
// manifest is known.
type headFetch struct {
	data   []byte
	err    error
	done   chan struct{}
	cancel context.CancelFunc
}

// startHead starts the head fetch, or returns nil when the origin cannot do
// it, is resting after failures, or the store already has chunk 0.
func (s *Streamer) startHead(ctx context.Context, id track.ID) *headFetch {
	ho, ok := s.d.Origin.(HeadOrigin)
	if !ok || s.d.Store.HasChunk(id, 0) {
		return nil
	}
	hctx, cancel := context.WithCancel(ctx)
	h := &headFetch{done: make(chan struct{}), cancel: cancel}
	go func() { // owned by load, like keyFetch
		defer close(h.done)
		h.data, h.err = ho.FetchHead(hctx, id, headChunks)
	}()
	return h
}

// wait returns the head's bytes, or nil if it failed or is not back within
// d (it is then cancelled).
func (h *headFetch) wait(d time.Duration) []byte {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-h.done:
	case <-t.C:
		h.stop()
	}
	if h.err != nil {
		return nil
	}
	return h.data
}

func (h *headFetch) stop() {
	if h != nil {
		h.cancel()
		<-h.done
	}
}

// deliverHead verifies the head chunk by chunk against the manifest and
// delivers those that verify; the first that does not ends it (the
// scheduler refetches from there).
func (s *Streamer) deliverHead(j *job, data []byte) {
	for i := 0; i < j.n; i++ {
		off, n := j.m.ChunkOffset(i), j.m.ChunkLen(i)
		if off+int64(n) > int64(len(data)) {
			return
		}
		c := data[off : off+int64(n)]
		if err := j.m.VerifyChunk(i, c); err != nil {
			s.c.hashFailures.Add(1)
			s.log.Warn("origin sent a bad head chunk; fetching it again", "track", j.id, "chunk", i, "err", err)
			return
		}
		s.c.origin.Add(int64(n))
		j.deliver(i, c)
	}
}
