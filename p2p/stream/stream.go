package stream

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/starling-audio/starling/p2p/track"
)

// ErrSeek is returned for a seek outside the track.
var ErrSeek = errors.New("stream: seek outside the track")

// Stream is one track as a blocking, in-order source of decrypted bytes.
// One goroutine reads and seeks; Close and the level queries may come from
// any goroutine. Plaintext exists only in the caller's buffers and one
// chunk held here; the store gets only ciphertext.
type Stream struct {
	s          *Streamer
	j          *job
	once       sync.Once
	userClosed atomic.Bool

	// reader goroutine only
	cur     int // index of the chunk in plain, -1 for none
	plain   []byte
	buf     []byte
	started bool // a Read returned data since Open or the last Seek
}

var (
	_ io.ReadSeekCloser = (*Stream)(nil)
)

// ID returns the track's ID.
func (st *Stream) ID() track.ID { return st.j.id }

// Manifest returns the track's verified manifest.
func (st *Stream) Manifest() *track.Manifest { return st.j.m }

// WasCached reports whether the whole track was in the store when it was
// opened (a cached play: no network at all).
func (st *Stream) WasCached() bool { return st.j.wasCached }

// Read reads decrypted bytes at the read position, blocking until the next
// chunk is downloaded and verified, the stream is closed (ErrClosed) or its
// context ends.
func (st *Stream) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	j := st.j
	for {
		j.mu.Lock()
		if j.closed || j.ctx.Err() != nil {
			j.mu.Unlock()
			if st.userClosed.Load() || st.s.isClosed() {
				return 0, ErrClosed
			}
			return 0, fmt.Errorf("reading %s: %w", j.id.Short(), j.ctx.Err())
		}
		pos := j.pos
		if pos >= j.m.Size {
			j.mu.Unlock()
			return 0, io.EOF
		}
		i := int(pos / track.ChunkSize)
		if st.cur == i {
			n := copy(p, st.plain[pos-j.m.ChunkOffset(i):])
			j.pos += int64(n)
			j.mu.Unlock()
			st.started = true
			st.s.poke()
			return n, nil
		}
		if j.have[i] {
			mem, cached := j.mem[i], j.cached[i]
			delete(j.mem, i)
			j.mu.Unlock()
			if err := st.load(i, mem, cached); err != nil {
				return 0, err
			}
			continue
		}
		if st.started {
			st.s.c.underruns.Add(1)
			st.started = false
		}
		ch := j.changed
		j.mu.Unlock()
		st.s.poke()
		select {
		case <-ch:
		case <-j.ctx.Done():
		}
	}
}

// load reads chunk i from memory or the store, verifies and decrypts it.
// A chunk that fails is marked missing so the scheduler fetches it again.
func (st *Stream) load(i int, mem []byte, cached bool) error {
	j := st.j
	data := mem
	if data == nil {
		if st.buf == nil {
			st.buf = make([]byte, track.ChunkSize)
		}
		var err error
		data, err = st.s.d.Store.ReadChunk(j.id, i, st.buf[:0])
		if err != nil {
			st.s.c.storeFailures.Add(1)
			st.s.log.Warn("reading a stored chunk failed; fetching it again", "track", j.id, "chunk", i, "err", err)
			st.forget(i)
			return nil
		}
	}
	if err := j.m.VerifyChunk(i, data); err != nil {
		st.s.c.hashFailures.Add(1)
		st.s.log.Warn("stored chunk failed verification; fetching it again", "track", j.id, "chunk", i, "err", err)
		st.forget(i)
		return nil
	}
	if st.plain == nil {
		st.plain = make([]byte, track.ChunkSize)
	}
	st.plain = st.plain[:len(data)]
	if err := track.XORKeyStreamAt(j.key, st.plain, data, j.m.ChunkOffset(i)); err != nil {
		return fmt.Errorf("decrypting chunk %d of %s: %w", i, j.id.Short(), err)
	}
	st.cur = i
	if cached {
		st.s.c.cache.Add(int64(len(data)))
	}
	return nil
}

func (st *Stream) forget(i int) {
	j := st.j
	j.mu.Lock()
	if !j.closed {
		j.have[i], j.cached[i] = false, false
	}
	j.mu.Unlock()
	st.s.poke()
}

// Seek sets the plaintext read position; the chunks from there are fetched
// with streaming urgency. Seeking to the end is allowed (Read gives io.EOF).
func (st *Stream) Seek(offset int64, whence int) (int64, error) {
	j := st.j
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return 0, ErrClosed
	}
	var pos int64
	switch whence {
	case io.SeekStart:
		pos = offset
	case io.SeekCurrent:
		pos = j.pos + offset
	case io.SeekEnd:
		pos = j.m.Size + offset
	default:
		return 0, fmt.Errorf("%w: whence %d", ErrSeek, whence)
	}
	if pos < 0 || pos > j.m.Size {
		return 0, fmt.Errorf("%w: offset %d of %d bytes", ErrSeek, pos, j.m.Size)
	}
	if pos/track.ChunkSize != j.pos/track.ChunkSize {
		st.started = false
	}
	j.seekLocked(pos)
	st.s.poke()
	return pos, nil
}

// BufferedAhead returns the seconds of audio downloaded contiguously ahead
// of the read position (the whole rest of the track when it is all here).
func (st *Stream) BufferedAhead() time.Duration {
	d, _ := st.j.level()
	return d
}

// PeersCarryIn is the scheduler's estimate of how long peers alone need to
// fill the buffer to Config.WellFilled: 0 when they do already, -1 when
// they are slower than playback (the origin must help).
func (st *Stream) PeersCarryIn() time.Duration { return time.Duration(st.j.carryIn.Load()) }

// Close cancels every request the stream started and releases the track.
// It is idempotent and returns nil.
func (st *Stream) Close() error {
	st.once.Do(func() {
		st.userClosed.Store(true)
		st.j.stop()
		st.s.remove(st.j)
		st.s.poke()
	})
	return nil
}
