package catalog

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

func TestOriginServesReleases(t *testing.T) {
	dir := t.TempDir()
	c, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	rd := filepath.Join(ReleasesDir(dir), "stable", "arm64")
	if err := os.MkdirAll(rd, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(rd, "release.json"), []byte(`{"version":"2"}`), 0o644)
	os.WriteFile(filepath.Join(rd, "starlingd-2"), []byte("0123456789"), 0o644)
	os.WriteFile(filepath.Join(dir, "private", "secret"), []byte("key"), 0o600)
	srv := httptest.NewServer(c.OriginHandler())
	defer srv.Close()
	get := func(path, rng string) (int, string, http.Header) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	if code, body, h := get("/releases/stable/arm64/release.json", ""); code != 200 || body != `{"version":"2"}` || h.Get("Cache-Control") != "no-cache" {
		t.Fatalf("manifest: %d %q %v", code, body, h)
	}
	if code, body, h := get("/releases/stable/arm64/starlingd-2", "bytes=4-"); code != 206 || body != "456789" || h.Get("Cache-Control") != CacheControl {
		t.Fatalf("image range: %d %q", code, body)
	}
	for _, p := range []string{"/releases/stable/arm64/missing", "/releases/../private/secret", "/releases/stable/../../private/secret",
		"/releases/stable/arm64/.hidden", "/releases/stable/arm64", "/releases/stable/arm64/a/b", "/releases/STABLE/arm64/release.json", "/releases/stable/arm64/x.tmp"} {
		if code, _, _ := get(p, ""); code != 404 {
			t.Errorf("%s = %d, want 404", p, code)
		}
	}
}
