package stream

import (
	"context"
	"fmt"
	"time"

	"github.com/starling-audio/starling/p2p/track"
)

// HeadOrigin is an Origin that can read a track's first chunks before its
// manifest is known (*origin.Client does). fn gets each chunk-sized piece
// as it arrives, unverified; the streamer keeps a piece only if it
// verifies against the manifest.
type HeadOrigin interface {
	FetchHead(ctx context.Context, id track.ID, count int, fn func(i int, data []byte) error) error
}

const (
	// headChunks is what Open asks the origin for before the manifest is
	// known: chunk 0 starts playback as soon as it is in; the rest (3.2 s
	// of 160 kbit/s audio in all, less than the origin's start-up share
	// under the buffer policy anyway) follows on the same request, so
	// playback does not wait a second round trip after the first 0.5 s.
	headChunks = 4
	// headWait bounds how long Open waits for chunk 0 of the head once the
	// manifest and key are in (wall time: it is network time). A slower
	// head is cancelled and the scheduler fetches those chunks as usual.
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
// manifest is known. Its goroutine is owned by load until chunk 0 is in,
// then by adoptHead's goroutine (tracked by the streamer's WaitGroup).
type headFetch struct {
	pieces chan []byte // buffered: the fetch never blocks on the reader
	err    error       // valid once pieces is closed
	cancel context.CancelFunc
}

// startHead starts the head fetch, or returns nil when the origin cannot do
// it or the store already has chunk 0. The fetch outlives ctx (the request
// that opened the stream): it ends with the job or on stop.
func (s *Streamer) startHead(ctx context.Context, id track.ID) *headFetch {
	ho, ok := s.d.Origin.(HeadOrigin)
	if !ok || s.d.Store.HasChunk(id, 0) {
		return nil
	}
	hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	h := &headFetch{pieces: make(chan []byte, headChunks), cancel: cancel}
	go func() {
		defer close(h.pieces)
		h.err = ho.FetchHead(hctx, id, headChunks, func(_ int, data []byte) error {
			h.pieces <- data
			return nil
		})
	}()
	return h
}

// first waits up to d for chunk 0; nil if the head failed or is late (it is
// then stopped).
func (h *headFetch) first(d time.Duration) []byte {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case p, ok := <-h.pieces:
		if ok {
			return p
		}
	case <-t.C:
	}
	h.stop()
	return nil
}

// stop cancels the fetch and waits for its goroutine.
func (h *headFetch) stop() {
	h.cancel()
	for range h.pieces {
	}
}

// adoptHead keeps the head for job j: chunk 0 (data) if it verifies, and
// the chunks still coming on the same request, booked as one in-flight
// origin request so the scheduler does not ask for them again. The
// request's result reaches the scheduler like any origin request's.
func (s *Streamer) adoptHead(j *job, h *headFetch, data []byte) {
	if err := j.m.VerifyChunk(0, data); err != nil {
		s.c.hashFailures.Add(1)
		s.log.Warn("origin sent a bad head chunk; fetching it again", "track", j.id, "err", err)
		h.stop()
		return
	}
	s.addOrigin(OriginHead, len(data))
	j.deliver(0, data)
	rest := min(headChunks, j.n) - 1
	s.mu.Lock()
	closed := s.closed
	if !closed && rest > 0 {
		s.wg.Add(1)
	}
	s.mu.Unlock()
	if closed || rest == 0 {
		h.stop()
		return
	}
	// The job is not published yet: its Run-goroutine fields are ours.
	rq := &request{start: s.clock.Now(), cancel: h.cancel, head: true}
	chunks := make([]int, rest)
	for k := range chunks {
		chunks[k] = 1 + k
		j.inflight[1+k] = rq
		rq.bytes += j.m.ChunkLen(1 + k)
	}
	stopWithJob := context.AfterFunc(j.ctx, h.cancel)
	go func() {
		defer s.wg.Done()
		defer stopWithJob()
		r := result{j: j, chunks: chunks, req: rq}
		i := 1
		for p := range h.pieces {
			if r.err != nil || i > rest {
				continue // drain
			}
			if err := j.m.VerifyChunk(i, p); err != nil {
				r.err = fmt.Errorf("origin head chunk %d: %w", i, err)
				h.cancel()
				continue
			}
			s.addOrigin(OriginHead, len(p))
			j.deliver(i, p)
			r.got++
			i++
		}
		if r.err == nil {
			r.err = h.err
		}
		if r.err == nil && r.got < rest {
			r.err = fmt.Errorf("origin head of %s ended after %d chunks, want %d", j.id.Short(), r.got+1, rest+1)
		}
		r.at = s.clock.Now()
		s.send(r)
	}()
}
