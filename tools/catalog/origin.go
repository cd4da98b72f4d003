package catalog

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/starling-audio/starling/p2p/track"
)

// Origin HTTP path prefixes (the same relative paths as DIR/public).
const (
	TracksPath    = "/tracks/"
	ManifestsPath = "/manifests/"
)

// CacheControl is sent with every blob and manifest: content-addressed
// files never change.
const CacheControl = "public, max-age=31536000, immutable"

var (
	errNoRoute = errors.New("no such origin path")
	errBadID   = errors.New("malformed track ID")
)

// parseOriginPath splits an origin URL path into its kind ("tracks" or
// "manifests") and track ID. The ID must be 64 lower-case hex digits, the
// file name nginx would find on disk.
func parseOriginPath(p string) (kind string, id track.ID, err error) {
	var rest string
	switch {
	case strings.HasPrefix(p, TracksPath):
		kind, rest = "tracks", p[len(TracksPath):]
	case strings.HasPrefix(p, ManifestsPath):
		kind, rest = "manifests", p[len(ManifestsPath):]
	default:
		return "", id, errNoRoute
	}
	if !isHexID(rest) {
		return "", id, errBadID
	}
	id, err = track.ParseID(rest)
	if err != nil {
		return "", id, errBadID
	}
	return kind, id, nil
}

// OriginHandler serves GET and HEAD of /tracks/<id> (encrypted blobs) and
// /manifests/<id> (canonical manifests) of published tracks, with byte
// ranges (206, 416), a strong ETag (the ID) and immutable caching. Unknown
// paths and unpublished tracks are 404, a malformed ID 400. Keys are never
// served. Mount it at the root of its server or under http.StripPrefix.
func (c *Catalog) OriginHandler() http.Handler { return &origin{c: c} }

type origin struct{ c *Catalog }

var _ http.Handler = (*origin)(nil)

func (o *origin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, ReleasesPath) {
		o.serveRelease(w, r)
		return
	}
	kind, id, err := parseOriginPath(r.URL.Path)
	switch {
	case errors.Is(err, errNoRoute):
		originError(w, http.StatusNotFound, "not found")
		return
	case err != nil:
		originError(w, http.StatusBadRequest, "malformed track ID: want 64 lower-case hex digits")
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		originError(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	e, ok := o.c.Entry(id)
	if !ok {
		originError(w, http.StatusNotFound, "no such track")
		return
	}
	dir := layout(o.c.dir).tracks
	if kind == "manifests" {
		dir = layout(o.c.dir).manifests
	}
	f, err := os.Open(filepath.Join(dir, id.String()))
	if err != nil {
		o.c.log.Error("published track file is missing", "id", id, "kind", kind, "err", err)
		originError(w, http.StatusInternalServerError, "track file unavailable")
		return
	}
	defer f.Close()
	if kind == "tracks" {
		if st, err := f.Stat(); err != nil || st.Size() != e.Size {
			o.c.log.Error("published track blob has the wrong size; re-ingest it", "id", id, "err", err)
			originError(w, http.StatusInternalServerError, "track file damaged")
			return
		}
	}
	h := w.Header()
	h.Set("ETag", fmt.Sprintf("%q", id.String()))
	h.Set("Cache-Control", CacheControl)
	h.Set("Content-Type", "application/octet-stream")
	h.Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, "", time.Time{}, f)
}

func originError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Cache-Control", "no-store")
	http.Error(w, msg, code)
}
