package catalog

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/starling-audio/starling/p2p/track"
	"github.com/starling-audio/starling/tools/fixtures"
)

// BenchmarkOriginChunk measures 16 KiB range GETs of a track blob over
// loopback HTTP with keep-alive, one client (MB/s = chunk bytes served).
func BenchmarkOriginChunk(b *testing.B) {
	c, e, srv := originFixture(b, fixtures.Pluck44kStereo)
	m, err := c.Manifest(e.ID)
	if err != nil {
		b.Fatal(err)
	}
	client := srv.Client()
	url := srv.URL + "/tracks/" + e.ID.String()
	full := m.NumChunks() - 1 // only full chunks, so SetBytes is exact
	buf := make([]byte, track.ChunkSize)
	b.SetBytes(track.ChunkSize)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		off := m.ChunkOffset(i % full)
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", off, off+track.ChunkSize-1))
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.ReadFull(resp.Body, buf)
		resp.Body.Close()
		if err != nil || n != track.ChunkSize || resp.StatusCode != http.StatusPartialContent {
			b.Fatalf("chunk: %d bytes, status %d, %v", n, resp.StatusCode, err)
		}
	}
}

// BenchmarkIngest measures a whole ingest of a 160 KB, 10 s fixture: hash,
// full Vorbis decode, encrypt, chunk hashes, fsyncs and renames.
func BenchmarkIngest(b *testing.B) {
	c := openTest(b)
	src := writeFixture(b, fixtures.Pluck44kStereo)
	data, _ := fixtures.Read(fixtures.Pluck44kStereo)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, _, err := c.Ingest(context.Background(), src, IngestOptions{Duplicate: true}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSearch measures a two-word query over 10,000 entries.
func BenchmarkSearch(b *testing.B) {
	var es []Entry
	for i := range 10000 {
		es = append(es, Entry{Title: fmt.Sprintf("Song number %d", i), Artist: fmt.Sprintf("Artist %d", i%300), Album: fmt.Sprintf("Album %d", i%1000), TrackNo: i % 12})
	}
	c := searchCatalog(es...)
	for b.Loop() {
		if _, total := c.Search("artist 12 song", 0, 20); total == 0 {
			b.Fatal("no results")
		}
	}
}

func TestSearchCatalogKeepsAll(t *testing.T) {
	es := make([]Entry, 1000)
	if c := searchCatalog(es...); c.Len() != 1000 {
		t.Fatalf("%d entries", c.Len())
	}
}
