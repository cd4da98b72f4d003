package audio

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/starling-audio/starling/tools/fixtures"
)

func TestRingSPSC(t *testing.T) {
	r, err := NewRing(100, 2)
	if err != nil {
		t.Fatal(err)
	}
	if r.Cap() != 128 {
		t.Fatalf("cap %d", r.Cap())
	}
	const total = 200000
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // producer: frames carry their index
		defer wg.Done()
		buf := make([]float32, 2*37)
		next := 0
		for next < total {
			n := min(37, total-next)
			for i := 0; i < n; i++ {
				buf[2*i], buf[2*i+1] = float32(next+i), -float32(next+i)
			}
			w := r.Write(buf[:2*n])
			next += w
		}
	}()
	got := 0
	buf := make([]float32, 2*53)
	for got < total {
		n := r.Read(buf)
		for i := 0; i < n; i++ {
			if buf[2*i] != float32(got+i) || buf[2*i+1] != -float32(got+i) {
				t.Fatalf("frame %d: %v %v", got+i, buf[2*i], buf[2*i+1])
			}
		}
		got += n
	}
	wg.Wait()
	if r.Buffered() != 0 || r.ReadTotal() != total {
		t.Fatalf("buffered %d read %d", r.Buffered(), r.ReadTotal())
	}
}

// TestRenderDoesNotAllocate checks the device callback in every branch:
// playing, underrun, paused, flush.
func TestRenderDoesNotAllocate(t *testing.T) {
	ring, _ := NewRing(8192, 2)
	e := newEngine(ring, stereo44, systemClock{})
	e.playing.Store(true)
	e.expect.Store(true)
	src := make([]float32, 2*1024)
	out := make([]float32, 2*512)
	allocs := testing.AllocsPerRun(1000, func() {
		ring.Write(src)
		e.render(out)
		e.render(out)
		e.render(out) // underrun
		e.playing.Store(false)
		ring.Write(src)
		e.render(out) // fade-out
		e.render(out) // paused
		e.playing.Store(true)
		e.markFrame.Store(int64(ring.ReadTotal()))
		e.render(out)
		e.requestFlush()
		e.render(out)
	})
	if allocs != 0 {
		t.Fatalf("render allocates %.1f times per run", allocs)
	}
}

// TestSteadyDecodeAllocations: our demuxer and PCM stage reuse their
// buffers; what remains are the third-party Vorbis decoder's few
// allocations per packet (its bit reader, floor and residue scratch). The
// test bounds allocations per frame, proving there are none per frame.
func TestSteadyDecodeAllocations(t *testing.T) {
	data, _ := fixtures.Read(fixtures.Chord44kStereo)
	d, err := NewDecoder(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]float32, 2*44100)
	d.Decode(buf) // past the start
	var frames int
	allocs := testing.AllocsPerRun(50, func() {
		for got := 0; got < 4410; { // 100 ms per run
			n, err := d.Decode(buf[:2*(4410-got)])
			if err != nil {
				t.Fatal(err)
			}
			got += n
		}
		frames += 4410
	})
	perSecond := allocs * 10
	t.Logf("steady decode: %.0f allocations per second of audio (%.4f per frame)", perSecond, allocs/4410)
	if allocs/4410 > 0.05 {
		t.Fatalf("%.3f allocations per frame", allocs/4410)
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, name := range fixtures.All {
		b.Run(name, func(b *testing.B) {
			data, _ := fixtures.Read(name)
			buf := make([]float32, 4096)
			var frames int64
			var f Format
			b.ReportAllocs()
			for b.Loop() {
				d, err := NewDecoder(bytes.NewReader(data))
				if err != nil {
					b.Fatal(err)
				}
				f = d.Format()
				for {
					n, err := d.Decode(buf)
					frames += int64(n)
					if err != nil {
						break
					}
				}
			}
			audio := float64(frames) / float64(f.SampleRate)
			b.ReportMetric(audio/b.Elapsed().Seconds(), "x-realtime")
			b.ReportMetric(b.Elapsed().Seconds()/audio*1e3, "cpu-ms/audio-s")
		})
	}
}

func BenchmarkRender(b *testing.B) {
	ring, _ := NewRing(8192, 2)
	e := newEngine(ring, stereo44, systemClock{})
	e.playing.Store(true)
	e.expect.Store(true)
	src := make([]float32, 2*1024)
	out := make([]float32, 2*1024)
	b.ReportAllocs()
	for b.Loop() {
		ring.Write(src)
		e.render(out)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1024, "ns/frame")
}

// BenchmarkSteadyPlayback plays a fixture through the whole player on a
// VirtualOutput as fast as the player fills and reports allocations per
// second of audio (decoder, fetcher, actor and callback together).
func BenchmarkSteadyPlayback(b *testing.B) {
	data, _ := fixtures.Read(fixtures.Chord44kStereo)
	var frames uint64
	b.ReportAllocs()
	for b.Loop() {
		frames += playThrough(b, PlayerConfig{}, data)
	}
	b.ReportMetric(float64(frames)/44100/b.Elapsed().Seconds(), "x-realtime")
}

// playThrough plays data to its end through a new player on a
// VirtualOutput, rendering as fast as the player fills, and returns the
// frames played.
func playThrough(b *testing.B, cfg PlayerConfig, data []byte) uint64 {
	b.Helper()
	ctx := context.Background()
	v, _ := NewVirtualOutput(VirtualConfig{})
	defer v.Close()
	p, err := NewPlayer(cfg, v, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	if err := p.Start(ctx); err != nil {
		b.Fatal(err)
	}
	_ = p.Play(ctx, Track{ID: "c", Source: &memSource{Reader: bytes.NewReader(data)}})
	for i := 0; ; i++ {
		_ = p.WaitBuffered(ctx, 30*time.Millisecond)
		v.Render()
		if i%64 == 0 {
			if s, _ := p.Stats(ctx); s.State == StateStopped {
				return s.FramesPlayed
			}
		}
	}
}

// BenchmarkPlaybackLatency measures Play to the first frame handed to the
// device callback, from a source that already has its bytes, on a
// VirtualOutput rendering as soon as a period is buffered.
func BenchmarkPlaybackLatency(b *testing.B) {
	v, _ := NewVirtualOutput(VirtualConfig{PeriodFrames: 256})
	p, _ := NewPlayer(PlayerConfig{}, v, nil)
	ctx := context.Background()
	if err := p.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer v.Close()
	defer p.Close()
	data, _ := fixtures.Read(fixtures.Chord44kStereo)
	var total time.Duration
	for b.Loop() {
		_ = p.Play(ctx, Track{ID: "c", Source: &memSource{Reader: bytes.NewReader(data)}})
		_ = p.WaitBuffered(ctx, 5*time.Millisecond)
		v.Render()
		s, _ := p.Stats(ctx)
		total += s.LastLatency
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N), "µs/start")
}

// TestFlushSparesTheNextTrack: a Play after the queue ran dry flushes a ring
// whose old audio is already played, and the new track's first frames may
// be in the ring before the callback sees the flush. They must not be
// faded out as old audio, and the first one must be stamped for the
// latency (it was not: every such play reported no latency).
func TestFlushSparesTheNextTrack(t *testing.T) {
	ring, _ := NewRing(8192, 2)
	e := newEngine(ring, stereo44, systemClock{})
	e.playing.Store(true)
	e.expect.Store(true)
	out := make([]float32, 2*512)
	old := make([]float32, 2*256)
	for i := range old {
		old[i] = 0.5
	}
	ring.Write(old)
	e.render(out) // the old track plays out; the gain is at 1
	if e.curGain != 1 {
		t.Fatalf("gain %v after playing, want 1", e.curGain)
	}
	e.requestFlush() // Play: the ring holds nothing old
	first := int64(ring.Written())
	e.markFrame.Store(first)
	e.markAt.Store(-1)
	next := make([]float32, 2*1024)
	for i := range next {
		next[i] = 1
	}
	ring.Write(next)
	e.render(out)
	if e.markAt.Load() < 0 {
		t.Error("the new track's first frame was played but not stamped")
	}
	if got := ring.ReadTotal(); got != uint64(first)+512 {
		t.Errorf("read %d frames of the new track, want 512", got-uint64(first))
	}
	if last := out[len(out)-1]; last != 1 {
		t.Errorf("the new track ends the period at level %v, want 1 (faded out as old audio?)", last)
	}
}
