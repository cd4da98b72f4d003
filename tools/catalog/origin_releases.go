package catalog

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ReleasesPath is where firmware releases are served from: the files under
// DIR/public/releases/<channel>/<arch>/ (release.json, release.json.sig and
// the image), as `starling-release publish` lays them out. nginx serving
// DIR/public does the same.
const ReleasesPath = "/releases/"

// ReleasesDir is DIR/public/releases of a catalogue directory.
func ReleasesDir(catalogDir string) string { return filepath.Join(catalogDir, "public", "releases") }

// releaseName accepts one path component of [a-z0-9._-], not starting with
// a dot or dash (no climbing, no hidden or temporary files).
func releaseName(s string) bool {
	if s == "" || len(s) > 64 || s[0] == '.' || s[0] == '-' || strings.HasSuffix(s, ".tmp") {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// serveRelease serves GET/HEAD /releases/<channel>/<arch>/<file> with
// ranges (resumable downloads). The manifest and signature change with each
// release: no-cache; images are named by version: immutable.
func (o *origin) serveRelease(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, ReleasesPath), "/")
	if len(parts) != 3 || !releaseName(parts[0]) || !releaseName(parts[1]) || !releaseName(parts[2]) {
		originError(w, http.StatusNotFound, "not found")
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		originError(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	f, err := os.Open(filepath.Join(ReleasesDir(o.c.dir), parts[0], parts[1], parts[2]))
	if errors.Is(err, os.ErrNotExist) {
		originError(w, http.StatusNotFound, "no such release file")
		return
	}
	if err != nil {
		o.c.log.Error("release file unreadable", "path", r.URL.Path, "err", err)
		originError(w, http.StatusInternalServerError, "release file unavailable")
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		originError(w, http.StatusNotFound, "no such release file")
		return
	}
	h := w.Header()
	if name := parts[2]; name == "release.json" || name == "release.json.sig" {
		h.Set("Cache-Control", "no-cache")
	} else {
		h.Set("Cache-Control", CacheControl)
	}
	h.Set("Content-Type", "application/octet-stream")
	h.Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, "", st.ModTime().Truncate(time.Second), f)
}
