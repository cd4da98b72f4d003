package catalog

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/starling-audio/starling/p2p/track"
)

// Errors returned by the catalogue. Match them with errors.Is.
var (
	// ErrNotFound: no published track has this ID.
	ErrNotFound = errors.New("catalog: track not found")
	// ErrNotOgg: the input is not Ogg Vorbis and cannot be transcoded.
	ErrNotOgg = errors.New("catalog: not an Ogg Vorbis file")
	// ErrNoTranscoder: the input needs transcoding but neither ffmpeg nor
	// oggenc is on PATH.
	ErrNoTranscoder = errors.New("catalog: no transcoder found (install ffmpeg, or vorbis-tools for oggenc)")
	// ErrTruncated: the Ogg stream ends before its end-of-stream page.
	ErrTruncated = errors.New("catalog: truncated Ogg file")
	// ErrCorrupt: the Ogg framing or the Vorbis audio does not decode.
	ErrCorrupt = errors.New("catalog: corrupt Ogg Vorbis file")
	// ErrUnsupported: valid but outside what Starling plays (chained
	// streams, odd rates or channel counts).
	ErrUnsupported = errors.New("catalog: unsupported Ogg Vorbis file")
	// ErrTooLarge: the input exceeds track.MaxTrackSize.
	ErrTooLarge = errors.New("catalog: file too large")
	// ErrBadEntry: a metadata entry on disk is malformed or inconsistent.
	ErrBadEntry = errors.New("catalog: bad catalogue entry")
)

// Entry is one published track as the catalogue lists it.
type Entry struct {
	ID           track.ID  `json:"id"`
	Title        string    `json:"title"`
	Artist       string    `json:"artist"`
	Album        string    `json:"album"`
	TrackNo      int       `json:"track_no"`
	DurationMs   uint32    `json:"duration_ms"`
	Size         int64     `json:"size"`
	SampleRate   uint32    `json:"sample_rate"`
	Channels     uint8     `json:"channels"`
	SourceSHA256 string    `json:"source_sha256"`
	Added        time.Time `json:"added"`
}

// maxEntryJSON bounds a metadata file; a real one is a few hundred bytes.
const maxEntryJSON = 64 << 10

// Catalog is a catalogue directory and its in-memory index.
type Catalog struct {
	dir string
	log *slog.Logger

	// now and lookPath are replaced by tests.
	now      func() time.Time
	lookPath func(string) (string, error)

	pubMu sync.Mutex // serialises publishing (idempotency re-check + renames)

	// probes remembers what probing an Ogg Vorbis source found, by the
	// source's SHA-256, for duplicates of it ingested by this process: the
	// probe decodes the whole file, the same bytes give the same answer.
	probeMu sync.Mutex
	probes  map[string]audioInfo

	mu  sync.RWMutex
	idx *index
}

type paths struct {
	tracks, manifests, keys, meta, tmp, lock string
}

func layout(dir string) paths {
	return paths{
		tracks:    filepath.Join(dir, "public", "tracks"),
		manifests: filepath.Join(dir, "public", "manifests"),
		keys:      filepath.Join(dir, "private", "keys"),
		meta:      filepath.Join(dir, "private", "meta"),
		tmp:       filepath.Join(dir, "private", "tmp"),
		lock:      filepath.Join(dir, "private", "ingest.lock"),
	}
}

// Open opens the catalogue in dir, creating its layout if missing, removes
// what a crashed ingest left behind (when no ingest is running), and loads
// every entry. Entries that fail validation are skipped and logged.
func Open(dir string, log *slog.Logger) (*Catalog, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("opening catalogue %q: %w", dir, err)
	}
	c := &Catalog{
		dir:      abs,
		log:      log.With("component", "catalog"),
		now:      time.Now,
		lookPath: execLookPath,
		idx:      newIndex(nil),
	}
	p := layout(abs)
	for _, d := range []struct {
		path string
		mode os.FileMode
	}{
		{filepath.Join(abs, "public"), 0o755}, {p.tracks, 0o755}, {p.manifests, 0o755},
		{filepath.Join(abs, "private"), 0o700}, {p.keys, 0o700}, {p.meta, 0o700}, {p.tmp, 0o700},
	} {
		if err := os.MkdirAll(d.path, d.mode); err != nil {
			return nil, fmt.Errorf("creating catalogue directory %s (check permissions): %w", d.path, err)
		}
	}
	if err := c.cleanup(); err != nil {
		return nil, err
	}
	if err := c.Reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// Dir returns the catalogue's absolute directory.
func (c *Catalog) Dir() string { return c.dir }

// PublicDir returns the directory the origin serves (DIR/public); point
// nginx's root at it for an equivalent origin.
func (c *Catalog) PublicDir() string { return filepath.Join(c.dir, "public") }

// cleanup removes temp files and content-addressed files that have no
// metadata entry, if it can take the ingest lock exclusively at once.
func (c *Catalog) cleanup() error {
	p := layout(c.dir)
	l, ok, err := lockDir(p.lock, true, false)
	if err != nil {
		return err
	}
	if !ok {
		c.log.Debug("an ingest is running; leaving temp files alone")
		return nil
	}
	defer l.unlock()
	published := map[string]bool{}
	metas, err := os.ReadDir(p.meta)
	if err != nil {
		return fmt.Errorf("listing %s: %w", p.meta, err)
	}
	for _, de := range metas {
		if name, ok := strings.CutSuffix(de.Name(), ".json"); ok && !isTemp(de.Name()) {
			published[name] = true
		}
	}
	removed := 0
	for _, d := range []string{p.tracks, p.manifests, p.keys, p.meta, p.tmp} {
		des, err := os.ReadDir(d)
		if err != nil {
			return fmt.Errorf("listing %s: %w", d, err)
		}
		for _, de := range des {
			name := de.Name()
			orphan := d != p.meta && d != p.tmp && isHexID(name) && !published[name]
			if !(isTemp(name) || orphan || d == p.tmp) || de.IsDir() {
				continue
			}
			if err := os.Remove(filepath.Join(d, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("removing leftover %s: %w", filepath.Join(d, name), err)
			}
			removed++
		}
	}
	if removed > 0 {
		c.log.Info("removed files left by an interrupted ingest", "files", removed)
	}
	return nil
}

func isHexID(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := track.ParseID(s)
	return err == nil && strings.ToLower(s) == s
}

// Reload re-reads every metadata entry from disk and replaces the index,
// picking up tracks another process ingested. Bad entries are skipped and
// logged; the error is only for an unreadable directory.
func (c *Catalog) Reload() error {
	// Hold off publishing, so a track this process is adding is either in
	// the directory listing or added after the swap, never lost.
	c.pubMu.Lock()
	defer c.pubMu.Unlock()
	p := layout(c.dir)
	des, err := os.ReadDir(p.meta)
	if err != nil {
		return fmt.Errorf("listing catalogue entries in %s: %w", p.meta, err)
	}
	var entries []Entry
	for _, de := range des {
		name := de.Name()
		if isTemp(name) || !strings.HasSuffix(name, ".json") {
			continue
		}
		e, err := c.loadEntry(name)
		if err != nil {
			c.log.Warn("skipping catalogue entry", "file", name, "err", err)
			continue
		}
		entries = append(entries, e)
	}
	idx := newIndex(entries)
	c.mu.Lock()
	c.idx = idx
	c.mu.Unlock()
	c.log.Debug("catalogue loaded", "tracks", len(entries))
	return nil
}

// loadEntry reads, decodes and checks one metadata file and the files it
// refers to.
func (c *Catalog) loadEntry(name string) (Entry, error) {
	p := layout(c.dir)
	f, err := os.Open(filepath.Join(p.meta, name))
	if err != nil {
		return Entry{}, fmt.Errorf("opening entry: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxEntryJSON+1))
	if err != nil {
		return Entry{}, fmt.Errorf("reading entry: %w", err)
	}
	e, err := decodeEntry(name, b)
	if err != nil {
		return Entry{}, err
	}
	id := e.ID.String()
	checks := []struct {
		path     string
		min, max int64
	}{
		{filepath.Join(p.tracks, id), e.Size, e.Size},
		{filepath.Join(p.manifests, id), 1, track.MaxManifestSize},
		{filepath.Join(p.keys, id), int64(len(track.Key{})), int64(len(track.Key{}))},
	}
	for _, ch := range checks {
		st, err := os.Stat(ch.path)
		if err != nil {
			return Entry{}, fmt.Errorf("%w: %v", ErrBadEntry, err)
		}
		if !st.Mode().IsRegular() || st.Size() < ch.min || st.Size() > ch.max {
			return Entry{}, fmt.Errorf("%w: %s is %d bytes, want %d..%d", ErrBadEntry, ch.path, st.Size(), ch.min, ch.max)
		}
	}
	return e, nil
}

// decodeEntry parses and validates the bytes of DIR/private/meta/name.
func decodeEntry(name string, b []byte) (Entry, error) {
	var e Entry
	if len(b) > maxEntryJSON {
		return e, fmt.Errorf("%w: %s is larger than %d bytes", ErrBadEntry, name, maxEntryJSON)
	}
	want, ok := strings.CutSuffix(name, ".json")
	if !ok || !isHexID(want) {
		return e, fmt.Errorf("%w: file name %q is not <64 hex digits>.json", ErrBadEntry, name)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&e); err != nil {
		return Entry{}, fmt.Errorf("%w: %s: %v", ErrBadEntry, name, err)
	}
	if dec.More() {
		return Entry{}, fmt.Errorf("%w: %s: data after the JSON object", ErrBadEntry, name)
	}
	if err := e.validate(); err != nil {
		return Entry{}, fmt.Errorf("%w: %s: %v", ErrBadEntry, name, err)
	}
	if e.ID.String() != want {
		return Entry{}, fmt.Errorf("%w: %s holds the entry of %s", ErrBadEntry, name, e.ID)
	}
	return e, nil
}

func (e *Entry) validate() error {
	switch {
	case e.ID.IsZero():
		return errors.New("zero track ID")
	case e.Size <= 0 || e.Size > track.MaxTrackSize:
		return fmt.Errorf("size %d out of range", e.Size)
	case e.SampleRate < 8000 || e.SampleRate > 192000:
		return fmt.Errorf("sample rate %d out of range", e.SampleRate)
	case e.Channels < 1 || e.Channels > 8:
		return fmt.Errorf("%d channels", e.Channels)
	case e.TrackNo < 0 || e.TrackNo > maxTrackNo:
		return fmt.Errorf("track number %d out of range", e.TrackNo)
	case !validTag(e.Title) || !validTag(e.Artist) || !validTag(e.Album):
		return errors.New("title, artist or album is not clean text of at most 256 characters")
	}
	if b, err := hex.DecodeString(e.SourceSHA256); err != nil || len(b) != 32 || strings.ToLower(e.SourceSHA256) != e.SourceSHA256 {
		return fmt.Errorf("source_sha256 %q is not 64 lower-case hex digits", e.SourceSHA256)
	}
	return nil
}

// Entry returns the published track with this ID.
func (c *Catalog) Entry(id track.ID) (Entry, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	ie, ok := c.idx.byID[id]
	if !ok {
		return Entry{}, false
	}
	return ie.Entry, true
}

// Entries returns every published track, ordered by artist, album, track
// number, title and ID.
func (c *Catalog) Entries() []Entry {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]Entry, len(c.idx.sorted))
	for i, ie := range c.idx.sorted {
		out[i] = ie.Entry
	}
	return out
}

// Len returns the number of published tracks.
func (c *Catalog) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.idx.sorted)
}

// ManifestRaw returns the canonical manifest bytes of a published track,
// checked against its ID (so a damaged file is an error, never served).
func (c *Catalog) ManifestRaw(id track.ID) ([]byte, error) {
	if _, ok := c.Entry(id); !ok {
		return nil, fmt.Errorf("reading manifest of %s: %w", id.Short(), ErrNotFound)
	}
	path := filepath.Join(layout(c.dir).manifests, id.String())
	b, err := readLimited(path, track.MaxManifestSize)
	if err != nil {
		return nil, fmt.Errorf("reading manifest of %s: %w", id.Short(), err)
	}
	if _, err := track.ParseVerifiedManifest(id, b); err != nil {
		return nil, fmt.Errorf("reading manifest of %s (the file is damaged; re-ingest the track): %w", id.Short(), err)
	}
	return b, nil
}

// Manifest returns the parsed, verified manifest of a published track.
func (c *Catalog) Manifest(id track.ID) (*track.Manifest, error) {
	b, err := c.ManifestRaw(id)
	if err != nil {
		return nil, err
	}
	return track.ParseManifest(b)
}

// Key returns the 32-byte key of a published track. Callers must only hand
// it to entitled devices.
func (c *Catalog) Key(id track.ID) (track.Key, error) {
	var k track.Key
	if _, ok := c.Entry(id); !ok {
		return k, fmt.Errorf("reading key of %s: %w", id.Short(), ErrNotFound)
	}
	b, err := readLimited(filepath.Join(layout(c.dir).keys, id.String()), len(k))
	if err != nil {
		return k, fmt.Errorf("reading key of %s: %w", id.Short(), err)
	}
	if len(b) != len(k) {
		return k, fmt.Errorf("reading key of %s: %w: key file is %d bytes", id.Short(), ErrBadEntry, len(b))
	}
	copy(k[:], b)
	return k, nil
}

// readLimited reads a whole file of at most max bytes.
func readLimited(path string, max int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, int64(max)+1))
	if err != nil {
		return nil, err
	}
	if len(b) > max {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrBadEntry, path, max)
	}
	return b, nil
}

// index holds the published entries. Reload replaces it whole; Ingest adds
// to it under the catalogue's write lock.
type index struct {
	byID     map[track.ID]*indexed
	bySource map[string][]track.ID
	sorted   []*indexed
}

type indexed struct {
	Entry
	title, artist, album string // lower case, for search
}

func newIndex(entries []Entry) *index {
	idx := &index{byID: make(map[track.ID]*indexed, len(entries)), bySource: map[string][]track.ID{}}
	for _, e := range entries {
		if _, dup := idx.byID[e.ID]; dup {
			continue
		}
		ie := &indexed{Entry: e, title: strings.ToLower(e.Title), artist: strings.ToLower(e.Artist), album: strings.ToLower(e.Album)}
		idx.byID[e.ID] = ie
		idx.bySource[e.SourceSHA256] = append(idx.bySource[e.SourceSHA256], e.ID)
		idx.sorted = append(idx.sorted, ie)
	}
	sort.Slice(idx.sorted, func(i, j int) bool { return browseLess(idx.sorted[i], idx.sorted[j]) })
	return idx
}

// add inserts e, keeping sorted in browse order. The caller holds the
// catalogue's write lock.
func (idx *index) add(e Entry) {
	if _, dup := idx.byID[e.ID]; dup {
		return
	}
	ie := &indexed{Entry: e, title: strings.ToLower(e.Title), artist: strings.ToLower(e.Artist), album: strings.ToLower(e.Album)}
	idx.byID[e.ID] = ie
	idx.bySource[e.SourceSHA256] = append(idx.bySource[e.SourceSHA256], e.ID)
	i := sort.Search(len(idx.sorted), func(i int) bool { return browseLess(ie, idx.sorted[i]) })
	idx.sorted = append(idx.sorted, nil)
	copy(idx.sorted[i+1:], idx.sorted[i:])
	idx.sorted[i] = ie
}

func browseLess(a, b *indexed) bool {
	if a.artist != b.artist {
		return a.artist < b.artist
	}
	if a.album != b.album {
		return a.album < b.album
	}
	if a.TrackNo != b.TrackNo {
		return a.TrackNo < b.TrackNo
	}
	if a.title != b.title {
		return a.title < b.title
	}
	return bytes.Compare(a.ID[:], b.ID[:]) < 0
}
