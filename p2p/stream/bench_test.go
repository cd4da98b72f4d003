package stream_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/starling-audio/starling/p2p/origin"
	"github.com/starling-audio/starling/p2p/stream"
	"github.com/starling-audio/starling/p2p/stream/streamtest"
	"github.com/starling-audio/starling/p2p/track"
)

type benchEnv struct {
	s     *stream.Streamer
	store *streamtest.Store
	url   string
	stop  func()
}

func newBenchEnv(b *testing.B, tracks ...*streamtest.Track) *benchEnv {
	srv := httptest.NewServer(streamtest.NewOrigin(tracks...))
	oc, err := origin.New(origin.Config{BaseURL: srv.URL})
	if err != nil {
		b.Fatal(err)
	}
	store := streamtest.NewStore()
	s, err := stream.New(stream.Config{}, stream.Deps{Store: store, Catalog: streamtest.NewCatalog(tracks...), Origin: oc})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(context.Background()) }()
	var once sync.Once
	return &benchEnv{s: s, store: store, url: srv.URL, stop: func() {
		once.Do(func() { s.Close(); <-done; oc.Close(); srv.Close() })
	}}
}

// BenchmarkTimeToFirstByteOrigin: Open of an uncached track (manifest and
// key from an in-memory catalog) until the first decrypted bytes, against a
// plain keep-alive GET of the first 16 KiB in the same run.
func BenchmarkTimeToFirstByteOrigin(b *testing.B) {
	var tracks []*streamtest.Track
	for range 64 {
		tracks = append(tracks, streamtest.NewTrack(b, 256<<10, 12_000))
	}
	e := newBenchEnv(b, tracks...)
	defer func() { e.stop() }()
	plain := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	defer plain.CloseIdleConnections()
	ctx := context.Background()
	buf := make([]byte, 4096)
	var base, mine time.Duration
	n := 0
	for b.Loop() {
		tr := tracks[n%len(tracks)]
		n++
		t0 := time.Now()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.url+"/tracks/"+tr.ID.String(), nil)
		req.Header.Set("Range", "bytes=0-16383")
		resp, err := plain.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		t1 := time.Now()
		st, err := e.s.Open(ctx, tr.ID)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(st, buf); err != nil {
			b.Fatal(err)
		}
		mine += time.Since(t1)
		base += t1.Sub(t0)
		st.Close()
		if n%len(tracks) == 0 { // start uncached again
			e.stop()
			e = newBenchEnv(b, tracks...)
		}
	}
	b.ReportMetric(float64(base.Nanoseconds())/float64(b.N), "baseline-ns/op")
	b.ReportMetric(float64(mine.Nanoseconds())/float64(b.N), "first-byte-ns/op")
	b.ReportMetric(float64(mine)/float64(base), "ratio")
}

// BenchmarkCachedStart: Open of a complete cached track until the first
// decrypted bytes, with no network.
func BenchmarkCachedStart(b *testing.B) {
	tr := streamtest.NewTrack(b, 1<<20, 50_000)
	e := newBenchEnv(b, tr)
	defer e.stop()
	e.store.AddTrack(tr)
	buf := make([]byte, 4096)
	for b.Loop() {
		st, err := e.s.Open(context.Background(), tr.ID)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(st, buf); err != nil {
			b.Fatal(err)
		}
		st.Close()
	}
}

// BenchmarkOriginThroughput streams whole uncached 4 MiB tracks from the
// loopback origin as fast as the reader takes them (no peers).
func BenchmarkOriginThroughput(b *testing.B) {
	tr := streamtest.NewTrack(b, 4<<20, 200_000)
	b.SetBytes(tr.M.Size)
	for b.Loop() {
		b.StopTimer()
		e := newBenchEnv(b, tr)
		b.StartTimer()
		st, err := e.s.Open(context.Background(), tr.ID)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, st)
		if err != nil || n != tr.M.Size {
			b.Fatalf("%d bytes, %v", n, err)
		}
		st.Close()
		b.StopTimer()
		e.stop()
		b.StartTimer()
	}
	_ = track.ChunkSize
}
