package origin_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/starling-audio/starling/p2p/origin"
	"github.com/starling-audio/starling/p2p/stream/streamtest"
	"github.com/starling-audio/starling/p2p/track"
)

// BenchmarkTimeToFirstChunk measures, on loopback, the time from asking for
// the first chunk of a track to holding it verified (client), against a
// plain keep-alive GET of the same 16 KiB range read to the end (baseline),
// in the same run. ratio = client / baseline.
func BenchmarkTimeToFirstChunk(b *testing.B) {
	tr := streamtest.NewTrack(b, 4<<20, 200_000)
	srv := httptest.NewServer(http.StripPrefix("/v1", streamtest.NewOrigin(tr)))
	defer srv.Close()
	c, err := origin.New(origin.Config{BaseURL: srv.URL + "/v1"})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	plain := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	defer plain.CloseIdleConnections()
	url := srv.URL + "/v1/tracks/" + tr.ID.String()
	ctx := context.Background()
	var base, mine time.Duration
	for b.Loop() {
		t0 := time.Now()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		req.Header.Set("Range", "bytes=0-16383")
		resp, err := plain.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if n != track.ChunkSize {
			b.Fatalf("baseline read %d bytes", n)
		}
		t1 := time.Now()
		first := time.Duration(0)
		err = c.FetchChunks(ctx, tr.ID, tr.M, 0, 4, func(i int, _ []byte) error {
			if i == 0 {
				first = time.Since(t1)
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		base += t1.Sub(t0)
		mine += first
	}
	b.ReportMetric(float64(base.Nanoseconds())/float64(b.N), "baseline-ns/op")
	b.ReportMetric(float64(mine.Nanoseconds())/float64(b.N), "first-chunk-ns/op")
	b.ReportMetric(float64(mine)/float64(base), "ratio")
}

// BenchmarkThroughput fetches a whole 4 MiB track in 64-chunk ranges,
// verifying every chunk.
func BenchmarkThroughput(b *testing.B) {
	tr := streamtest.NewTrack(b, 4<<20, 200_000)
	srv := httptest.NewServer(http.StripPrefix("/v1", streamtest.NewOrigin(tr)))
	defer srv.Close()
	c, err := origin.New(origin.Config{BaseURL: srv.URL + "/v1"})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	b.SetBytes(tr.M.Size)
	for b.Loop() {
		for first := 0; first < tr.M.NumChunks(); first += 64 {
			n := min(64, tr.M.NumChunks()-first)
			if err := c.FetchChunks(context.Background(), tr.ID, tr.M, first, n, func(int, []byte) error { return nil }); err != nil {
				b.Fatal(err)
			}
		}
	}
}
