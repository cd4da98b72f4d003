package audio

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/starling-audio/starling/tools/fixtures"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// memSource is a seekable in-memory Source.
type memSource struct {
	*bytes.Reader
	closed bool
}

func (m *memSource) Close() error { m.closed = true; return nil }

func newMem(t testing.TB, name string) *memSource {
	t.Helper()
	b, err := fixtures.Read(name)
	if err != nil {
		t.Fatal(err)
	}
	return &memSource{Reader: bytes.NewReader(b)}
}

// stallSource hands out the first n bytes, then blocks in Read until release
// or Close, like a stream whose peers went away.
type stallSource struct {
	data    []byte
	off     int
	limit   int
	mu      sync.Mutex
	cond    *sync.Cond
	closed  bool
	blocked chan struct{} // closed when a Read first blocks at the limit
	once    sync.Once
}

func newStall(data []byte, n int) *stallSource {
	s := &stallSource{data: data, limit: n, blocked: make(chan struct{})}
	s.cond = sync.NewCond(&s.mu)
	return s
}

func (s *stallSource) Read(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.off >= s.limit && !s.closed && s.off < len(s.data) {
		s.once.Do(func() { close(s.blocked) })
		s.cond.Wait()
	}
	if s.closed {
		return 0, errors.New("source closed")
	}
	if s.off >= len(s.data) {
		return 0, io.EOF
	}
	n := copy(p, s.data[s.off:s.limit])
	s.off += n
	return n, nil
}

func (s *stallSource) release() {
	s.mu.Lock()
	s.limit = len(s.data)
	s.cond.Broadcast()
	s.mu.Unlock()
}

func (s *stallSource) Close() error {
	s.mu.Lock()
	s.closed = true
	s.cond.Broadcast()
	s.mu.Unlock()
	return nil
}

// rig is a player on a VirtualOutput, driven period by period.
type rig struct {
	t      *testing.T
	ctx    context.Context
	p      *Player
	v      *VirtualOutput
	events <-chan Event
	got    []Event
	pcm    []float32 // everything rendered, when capturing
}

func newRig(t *testing.T, f Format, capture bool) *rig {
	t.Helper()
	return newRigMode(t, f, capture, DecodeFull)
}

// newRigMode is newRig with a decode mode.
func newRigMode(t *testing.T, f Format, capture bool, mode DecodeMode) *rig {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	r := &rig{t: t, ctx: ctx}
	vc := VirtualConfig{Format: f, PeriodFrames: 1024}
	if capture {
		vc.Capture = func(b []float32) { r.pcm = append(r.pcm, b...) }
	}
	v, err := NewVirtualOutput(vc)
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPlayer(PlayerConfig{Buffer: 500 * time.Millisecond, Decode: mode}, v, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.p, r.v = p, v
	r.events, _ = p.Subscribe(4096)
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Close()
		v.Close()
	})
	return r
}

// step waits until the player has buffered a period (or cannot), then
// renders one period.
func (r *rig) step() {
	r.t.Helper()
	if err := r.p.WaitBuffered(r.ctx, 30*time.Millisecond); err != nil {
		r.t.Fatal(err)
	}
	r.v.Render()
	r.drain()
}

func (r *rig) drain() {
	for {
		select {
		case e := <-r.events:
			r.got = append(r.got, e)
		default:
			return
		}
	}
}

func (r *rig) stats() Stats {
	r.t.Helper()
	s, err := r.p.Stats(r.ctx)
	if err != nil {
		r.t.Fatal(err)
	}
	r.drain()
	return s
}

// playFor renders d of virtual time.
func (r *rig) playFor(d time.Duration) {
	for range int(d / (1024 * time.Second / time.Duration(r.v.Format().SampleRate))) {
		r.step()
	}
}

// untilStopped renders until the queue has played out (bounded).
func (r *rig) untilStopped(max time.Duration) Stats {
	r.t.Helper()
	limit := int(max / (1024 * time.Second / time.Duration(r.v.Format().SampleRate)))
	for i := 0; i < limit; i++ {
		r.step()
		if i%16 == 0 {
			if s := r.stats(); s.State == StateStopped {
				return s
			}
		}
	}
	s := r.stats()
	if s.State != StateStopped {
		r.t.Fatalf("still %v after %v of virtual time: %+v", s.State, max, s)
	}
	return s
}

func (r *rig) count(k EventKind, id string) int {
	n := 0
	for _, e := range r.got {
		if e.Kind == k && (id == "" || e.TrackID == id) {
			n++
		}
	}
	return n
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
