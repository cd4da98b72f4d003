package streamtest

import (
	"bytes"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/starling-audio/starling/p2p/track"
)

// Origin is an http.Handler that serves tracks the way the real origin does
// (GET /tracks/<hex id> with ranges through http.ServeContent, GET
// /manifests/<hex id>) and counts what it served. Mount it on an
// httptest.Server (loopback only).
type Origin struct {
	mu     sync.Mutex
	tracks map[track.ID]*Track
	ranges []string // Range headers seen, in order
	byID   map[track.ID]int

	Requests atomic.Int64 // every request
	InFlight atomic.Int64 // requests being served now
	Bytes    atomic.Int64 // track body bytes requested (by range length)

	// Tamper, when set, may change the body bytes served for a track.
	Tamper func(id track.ID, body []byte) []byte
}

// NewOrigin serves the given tracks.
func NewOrigin(tracks ...*Track) *Origin {
	o := &Origin{tracks: map[track.ID]*Track{}, byID: map[track.ID]int{}}
	for _, t := range tracks {
		o.tracks[t.ID] = t
	}
	return o
}

// Ranges returns the Range headers of the track requests served so far.
func (o *Origin) Ranges() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.ranges...)
}

// TrackRequests returns how many track (range) requests were served.
func (o *Origin) TrackRequests() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.ranges)
}

// RequestsFor returns how many track (range) requests for id were served.
func (o *Origin) RequestsFor(id track.ID) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.byID[id]
}

func (o *Origin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	o.Requests.Add(1)
	o.InFlight.Add(1)
	defer o.InFlight.Add(-1)
	kind, hexID, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	id, err := track.ParseID(hexID)
	if !ok || err != nil {
		http.NotFound(w, r)
		return
	}
	o.mu.Lock()
	t := o.tracks[id]
	if kind == "tracks" {
		o.ranges = append(o.ranges, r.Header.Get("Range"))
		o.byID[id]++
	}
	tamper := o.Tamper
	o.mu.Unlock()
	if t == nil {
		http.NotFound(w, r)
		return
	}
	switch kind {
	case "manifests":
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(t.Raw))
	case "tracks":
		body := t.Cipher
		if tamper != nil {
			body = tamper(id, append([]byte(nil), body...))
		}
		if rg := r.Header.Get("Range"); rg != "" {
			o.Bytes.Add(rangeLen(rg))
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
	default:
		http.NotFound(w, r)
	}
}

// rangeLen returns the length of a single "bytes=a-b" range, or 0.
func rangeLen(rg string) int64 {
	var a, b int64
	s, ok := strings.CutPrefix(rg, "bytes=")
	if !ok {
		return 0
	}
	x, y, ok := strings.Cut(s, "-")
	if !ok {
		return 0
	}
	for _, c := range x {
		a = a*10 + int64(c-'0')
	}
	for _, c := range y {
		b = b*10 + int64(c-'0')
	}
	return b - a + 1
}
