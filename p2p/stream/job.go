package stream

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/starling-audio/starling/p2p/track"
)

// job is one track being fetched: a stream or a prefetch.
type job struct {
	s      *Streamer
	id     track.ID
	m      *track.Manifest
	key    track.Key
	urg    Urgency
	n      int
	bps    float64
	ctx    context.Context
	cancel context.CancelFunc
	unpin  func()
	once   sync.Once

	wasCached bool // every chunk was in the store at load
	searched  atomic.Bool
	memMode   atomic.Bool  // the store refused a chunk: fetch-ahead limited to MemoryChunks
	carryIn   atomic.Int64 // PeersCarryIn estimate, ns; -1 never

	mu      sync.Mutex // guards the fields below
	have    []bool     // verified and in the store or mem
	cached  []bool     // was in the store when opened
	mem     map[int][]byte
	pos     int64
	changed chan struct{} // closed and replaced when a chunk arrives
	closed  bool

	// Run goroutine only
	inflight   map[int]*request
	excluded   map[int]string // chunk -> peer that just failed it
	exclUntil  map[int]time.Time
	originMode bool
	primed     bool
	filled     bool      // the buffer reached WellFilled (or the end) once
	lastSearch time.Time // of the peer search, once seen by the scheduler
}

// request is one outstanding chunk request.
type request struct {
	peer      *peerInfo // nil: origin
	start     time.Time
	bytes     int
	expect    time.Duration
	cancel    context.CancelFunc
	abandoned bool
	// originRound is Streamer.originRound when an origin request started:
	// a failure of a request launched before the last booked failure
	// belongs to the same round and does not escalate the backoff.
	originRound uint64
	// head: the rest of the head fetch Open started (not counted in
	// originBusy: it is not one of the scheduler's OriginRequests).
	head bool
}

func (j *job) stop() {
	j.once.Do(func() {
		j.cancel()
		j.mu.Lock()
		j.closed = true
		close(j.changed)
		j.changed = make(chan struct{})
		j.mem = nil
		j.mu.Unlock()
		if j.unpin != nil {
			j.unpin()
		}
	})
}

func (j *job) seekLocked(pos int64) { j.pos = pos }

func (j *job) signalLocked() {
	close(j.changed)
	j.changed = make(chan struct{})
}

// fetched lists the chunks this job brought over the network (not those
// the store had when it started).
func (j *job) fetched() []int {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []int
	for i := range j.have {
		if j.have[i] && !j.cached[i] {
			out = append(out, i)
		}
	}
	return out
}

// markFetched says that chunks a prefetch of this track fetched are in the
// store for this play: they were counted as network bytes then, so reading
// them is not a cache hit.
func (j *job) markFetched(chunks []int) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, i := range chunks {
		if i < len(j.cached) && j.cached[i] {
			j.cached[i] = false
			j.wasCached = false
		}
	}
}

// deliver stores a verified chunk and wakes the reader.
func (j *job) deliver(i int, data []byte) {
	j.mu.Lock()
	if j.closed || j.have[i] {
		j.mu.Unlock()
		return
	}
	j.mu.Unlock()
	err := j.s.d.Store.PutChunk(j.id, i, data)
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed || j.have[i] {
		return
	}
	if err != nil {
		j.s.c.storeFailures.Add(1)
		if !j.memMode.Swap(true) {
			j.s.log.Warn("store refused a chunk; holding chunks in memory", "track", j.id, "chunk", i, "err", err)
		}
		if len(j.mem) >= j.s.cfg.MemoryChunks {
			return // refetched when the reader gets near
		}
		j.mem[i] = data
	}
	j.have[i] = true
	j.signalLocked()
}

// level returns the contiguous audio downloaded ahead of the read
// position, and whether every chunk from there to the end is here.
func (j *job) level() (time.Duration, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.levelLocked()
}

func (j *job) levelLocked() (time.Duration, bool) {
	if j.pos >= j.m.Size {
		return 0, true
	}
	i := int(j.pos / track.ChunkSize)
	for i < j.n && j.have[i] {
		i++
	}
	end := j.m.Size
	if i < j.n {
		end = j.m.ChunkOffset(i)
	}
	return j.dur(end - j.pos), i == j.n
}

// dur converts a byte count of this track to playing time.
func (j *job) dur(b int64) time.Duration {
	return time.Duration(float64(b) / j.bps * float64(time.Second))
}

func (j *job) remaining() time.Duration {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.dur(j.m.Size - j.pos)
}

func (j *job) complete() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, h := range j.have {
		if !h {
			return false
		}
	}
	return true
}

func (j *job) countHave() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	n := 0
	for _, h := range j.have {
		if h {
			n++
		}
	}
	return n
}
