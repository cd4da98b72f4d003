package streamtest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/starling-audio/starling/p2p/stream"
	"github.com/starling-audio/starling/p2p/track"
)

// Errors of the fakes.
var (
	ErrNotStored = errors.New("streamtest: not in store")
	ErrGone      = errors.New("streamtest: peer vanished")
	ErrNoTrack   = errors.New("streamtest: peer does not have the track")
	ErrUnknown   = errors.New("streamtest: unknown track")
)

type chunkKey struct {
	id track.ID
	i  int
}

// Store is an in-memory stream.Store.
type Store struct {
	mu        sync.Mutex
	manifests map[track.ID][]byte
	keys      map[track.ID]track.Key
	chunks    map[chunkKey][]byte
	pins      map[track.ID]int
	// FailPuts makes PutChunk fail (a full or broken cache).
	FailPuts atomic.Bool
	Puts     atomic.Int64
}

var _ stream.Store = (*Store)(nil)

// NewStore returns an empty store.
func NewStore() *Store {
	return &Store{manifests: map[track.ID][]byte{}, keys: map[track.ID]track.Key{},
		chunks: map[chunkKey][]byte{}, pins: map[track.ID]int{}}
}

// AddTrack stores a complete track (manifest, key, every chunk).
func (s *Store) AddTrack(t *Track) {
	s.PutManifest(t.ID, t.Raw)
	s.PutKey(t.ID, t.Key)
	for i := range t.M.NumChunks() {
		s.PutChunk(t.ID, i, t.Chunk(i))
	}
}

func (s *Store) PutManifest(id track.ID, raw []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.manifests[id] = append([]byte(nil), raw...)
	return nil
}

func (s *Store) Manifest(id track.ID) (*track.Manifest, error) {
	s.mu.Lock()
	raw, ok := s.manifests[id]
	s.mu.Unlock()
	if !ok {
		return nil, ErrNotStored
	}
	return track.ParseVerifiedManifest(id, raw)
}

func (s *Store) PutKey(id track.ID, k track.Key) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.manifests[id]; !ok { // as cache.Cache: the manifest first
		return fmt.Errorf("streamtest: key of %s before its manifest", id.Short())
	}
	s.keys[id] = k
	return nil
}

func (s *Store) Key(id track.ID) (track.Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[id]
	if !ok {
		return k, ErrNotStored
	}
	return k, nil
}

func (s *Store) PutChunk(id track.ID, i int, data []byte) error {
	if s.FailPuts.Load() {
		return fmt.Errorf("streamtest: store full")
	}
	s.Puts.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.chunks[chunkKey{id, i}] = append([]byte(nil), data...)
	return nil
}

func (s *Store) ReadChunk(id track.ID, i int, dst []byte) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.chunks[chunkKey{id, i}]
	if !ok {
		return nil, ErrNotStored
	}
	return append(dst[:0], c...), nil
}

func (s *Store) HasChunk(id track.ID, i int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.chunks[chunkKey{id, i}]
	return ok
}

// Corrupt flips a byte of a stored chunk (a damaged cache).
func (s *Store) Corrupt(id track.ID, i int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.chunks[chunkKey{id, i}]; ok {
		c[0] ^= 0xff
	}
}

func (s *Store) Touch(id track.ID) error { return nil }

func (s *Store) Pin(id track.ID) func() {
	s.mu.Lock()
	s.pins[id]++
	s.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			s.pins[id]--
			s.mu.Unlock()
		})
	}
}

// Pins returns how many pins id holds.
func (s *Store) Pins(id track.ID) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pins[id]
}

// Catalog is an in-memory stream.Catalog that counts its calls.
type Catalog struct {
	mu     sync.Mutex
	tracks map[track.ID]*Track
	Calls  atomic.Int64
}

var _ stream.Catalog = (*Catalog)(nil)

// NewCatalog knows the given tracks.
func NewCatalog(ts ...*Track) *Catalog {
	c := &Catalog{tracks: map[track.ID]*Track{}}
	for _, t := range ts {
		c.tracks[t.ID] = t
	}
	return c
}

func (c *Catalog) get(id track.ID) (*Track, error) {
	c.Calls.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.tracks[id]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrUnknown, id.Short())
	}
	return t, nil
}

func (c *Catalog) Manifest(ctx context.Context, id track.ID) ([]byte, error) {
	t, err := c.get(id)
	if err != nil {
		return nil, err
	}
	return append([]byte(nil), t.Raw...), nil
}

func (c *Catalog) Key(ctx context.Context, id track.ID) (track.Key, error) {
	t, err := c.get(id)
	if err != nil {
		return track.Key{}, err
	}
	return t.Key, nil
}

// Gate records upload pause/resume calls (a stream.UploadGate).
type Gate struct {
	mu     sync.Mutex
	events []bool
}

var _ stream.UploadGate = (*Gate)(nil)

func (g *Gate) SetUploadPaused(p bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.events = append(g.events, p)
}

// Events returns the calls so far (true = paused).
func (g *Gate) Events() []bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]bool(nil), g.events...)
}
