package catalog

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/starling-audio/starling/p2p/track"
	"github.com/starling-audio/starling/tools/fixtures"
)

// originFixture ingests a fixture and serves the catalogue on loopback.
func originFixture(t testing.TB, name string) (*Catalog, Entry, *httptest.Server) {
	t.Helper()
	c := openTest(t)
	e, _, err := c.Ingest(context.Background(), writeFixture(t, name), IngestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c.OriginHandler())
	t.Cleanup(func() {
		srv.Client().CloseIdleConnections()
		srv.Close()
	})
	return c, e, srv
}

func get(t testing.TB, srv *httptest.Server, method, path string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func TestOrigin(t *testing.T) {
	c, e, srv := originFixture(t, fixtures.Tones48kMono)
	id := e.ID.String()
	blob, _ := os.ReadFile(filepath.Join(c.PublicDir(), "tracks", id))
	manifest, _ := c.ManifestRaw(e.ID)
	etag := `"` + id + `"`

	resp, body := get(t, srv, "GET", "/tracks/"+id)
	if resp.StatusCode != 200 || !bytes.Equal(body, blob) {
		t.Fatalf("full GET: %d, %d bytes", resp.StatusCode, len(body))
	}
	for k, want := range map[string]string{
		"ETag": etag, "Cache-Control": CacheControl, "Accept-Ranges": "bytes",
		"Content-Type": "application/octet-stream", "Content-Length": fmt.Sprint(len(blob)),
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	resp, body = get(t, srv, "HEAD", "/tracks/"+id)
	if resp.StatusCode != 200 || len(body) != 0 || resp.ContentLength != int64(len(blob)) {
		t.Errorf("HEAD: %d, body %d, length %d", resp.StatusCode, len(body), resp.ContentLength)
	}
	resp, body = get(t, srv, "GET", "/manifests/"+id)
	if resp.StatusCode != 200 || !bytes.Equal(body, manifest) || resp.Header.Get("Cache-Control") != CacheControl {
		t.Errorf("manifest GET: %d", resp.StatusCode)
	}

	ranges := []struct {
		hdr        string
		start, end int // inclusive
	}{
		{"bytes=0-16383", 0, 16383},
		{fmt.Sprintf("bytes=16384-%d", len(blob)+100), 16384, len(blob) - 1}, // clipped to the end
		{"bytes=-10", len(blob) - 10, len(blob) - 1},
		{"bytes=5-5", 5, 5},
	}
	for _, r := range ranges {
		resp, body = get(t, srv, "GET", "/tracks/"+id, "Range", r.hdr)
		wantCR := fmt.Sprintf("bytes %d-%d/%d", r.start, r.end, len(blob))
		if resp.StatusCode != 206 || !bytes.Equal(body, blob[r.start:r.end+1]) || resp.Header.Get("Content-Range") != wantCR {
			t.Errorf("Range %s: %d %q, %d bytes", r.hdr, resp.StatusCode, resp.Header.Get("Content-Range"), len(body))
		}
	}
	resp, _ = get(t, srv, "GET", "/tracks/"+id, "Range", fmt.Sprintf("bytes=%d-", len(blob)))
	if resp.StatusCode != http.StatusRequestedRangeNotSatisfiable || resp.Header.Get("Content-Range") != fmt.Sprintf("bytes */%d", len(blob)) {
		t.Errorf("range past the end: %d %q", resp.StatusCode, resp.Header.Get("Content-Range"))
	}
	resp, body = get(t, srv, "GET", "/tracks/"+id, "If-None-Match", etag)
	if resp.StatusCode != http.StatusNotModified || len(body) != 0 {
		t.Errorf("If-None-Match: %d", resp.StatusCode)
	}
	resp, _ = get(t, srv, "GET", "/tracks/"+id, "If-None-Match", `"other"`)
	if resp.StatusCode != 200 {
		t.Errorf("If-None-Match other: %d", resp.StatusCode)
	}
	resp, body = get(t, srv, "GET", "/tracks/"+id, "Range", "bytes=0-9", "If-Range", etag)
	if resp.StatusCode != 206 || len(body) != 10 {
		t.Errorf("If-Range matching: %d", resp.StatusCode)
	}

	unknown := track.ID{1, 2, 3}.String()
	statuses := []struct {
		method, path string
		want         int
	}{
		{"GET", "/tracks/" + unknown, 404},
		{"GET", "/manifests/" + unknown, 404},
		{"GET", "/keys/" + id, 404},
		{"GET", "/private/keys/" + id, 404},
		{"GET", "/", 404},
		{"GET", "/tracks", 404},
		{"GET", "/tracks/", 400},
		{"GET", "/tracks/xyz", 400},
		{"GET", "/tracks/" + strings.ToUpper(id), 400},
		{"GET", "/tracks/" + id + "/", 400},
		{"GET", "/manifests/" + id[:63] + "g", 400},
		{"POST", "/tracks/" + id, 405},
		{"DELETE", "/manifests/" + id, 405},
	}
	for _, s := range statuses {
		resp, body := get(t, srv, s.method, s.path)
		if resp.StatusCode != s.want {
			t.Errorf("%s %s: %d, want %d", s.method, s.path, resp.StatusCode, s.want)
		}
		if bytes.Contains(body, blob[:64]) || resp.Header.Get("Cache-Control") == CacheControl {
			t.Errorf("%s %s: error response looks like content", s.method, s.path)
		}
	}
}

// TestEndToEnd ingests a fixture, fetches every chunk from the origin by
// range over loopback, verifies each against the manifest, decrypts, and
// compares with the input file.
func TestEndToEnd(t *testing.T) {
	for _, name := range fixtures.All {
		t.Run(name, func(t *testing.T) {
			c, e, srv := originFixture(t, name)
			plain, _ := fixtures.Read(name)
			resp, raw := get(t, srv, "GET", "/manifests/"+e.ID.String())
			if resp.StatusCode != 200 {
				t.Fatalf("manifest: %d", resp.StatusCode)
			}
			m, err := track.ParseVerifiedManifest(e.ID, raw)
			if err != nil {
				t.Fatal(err)
			}
			key, err := c.Key(e.ID)
			if err != nil {
				t.Fatal(err)
			}
			var got []byte
			for i := range m.NumChunks() {
				off := m.ChunkOffset(i)
				resp, chunk := get(t, srv, "GET", "/tracks/"+e.ID.String(),
					"Range", fmt.Sprintf("bytes=%d-%d", off, off+track.ChunkSize-1))
				if resp.StatusCode != 206 {
					t.Fatalf("chunk %d: %d", i, resp.StatusCode)
				}
				if err := m.VerifyChunk(i, chunk); err != nil {
					t.Fatal(err)
				}
				if err := track.XORKeyStreamAt(key, chunk, chunk, off); err != nil {
					t.Fatal(err)
				}
				got = append(got, chunk...)
			}
			if !bytes.Equal(got, plain) {
				t.Fatalf("decrypted %d bytes differ from the %d-byte input", len(got), len(plain))
			}
		})
	}
}
