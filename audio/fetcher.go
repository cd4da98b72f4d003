package audio

import (
	"context"
	"errors"
	"io"
	"sync/atomic"
	"time"
)

const (
	fetchQueue  = 96  // packets buffered per track (about 2 s of 44.1 kHz Vorbis)
	fetchBuffer = 512 // initial capacity of a pooled packet buffer
)

// fetchMsg carries one packet (or a reset after a seek, or the end) from a
// fetcher to the player goroutine. data comes from the fetcher's pool and
// goes back to it with recycle.
type fetchMsg struct {
	data    []byte
	granule int64
	eos     bool
	reset   bool  // a seek happened: the next packets start a page at or before target
	target  int64 // seek target in frames (with reset)
	err     error // io.EOF at the end, or why the stream cannot go on
	gen     uint64
}

// fetcher owns one track's Source and demuxer in its own goroutine, so that
// a Read blocking on a slow network never blocks the player. It stops when
// its context is cancelled; the player closes the Source at the same time to
// unblock a Read in progress.
type fetcher struct {
	src  Source
	pkts chan fetchMsg
	free chan []byte
	seek chan time.Duration
	gen  atomic.Uint64
	stop context.CancelFunc
	done chan struct{}
	inRd atomic.Bool // inside Source.Read (for stall diagnostics)
	// drained: the source is read to its end (or failed); the packets are
	// queued. The player primes the next track then, not before: opening
	// it earlier would make its stream look due now to the streamer.
	drained atomic.Bool
	bytes   atomic.Int64
}

// countingReader records progress of the source for Stats and diagnostics.
type countingReader struct {
	f *fetcher
}

func (c countingReader) Read(p []byte) (int, error) {
	c.f.inRd.Store(true)
	n, err := c.f.src.Read(p)
	c.f.inRd.Store(false)
	c.f.bytes.Add(int64(n))
	return n, err
}

type seekingCountingReader struct {
	countingReader
	io.Seeker
}

func newFetcher(src Source) *fetcher {
	return &fetcher{
		src:  src,
		pkts: make(chan fetchMsg, fetchQueue),
		free: make(chan []byte, fetchQueue+8),
		seek: make(chan time.Duration, 1),
		done: make(chan struct{}),
	}
}

// requestSeek replaces any pending seek with target (a time offset) and
// returns the generation its packets will carry.
func (f *fetcher) requestSeek(target time.Duration) uint64 {
	g := f.gen.Add(1)
	select {
	case <-f.seek:
	default:
	}
	f.seek <- target
	return g
}

func (f *fetcher) recycle(b []byte) {
	select {
	case f.free <- b[:0]:
	default:
	}
}

// run is the fetcher goroutine.
func (f *fetcher) run(ctx context.Context) {
	defer close(f.done)
	var r io.Reader = countingReader{f}
	if s, ok := f.src.(io.Seeker); ok {
		r = seekingCountingReader{countingReader{f}, s}
	}
	dmx := newDemuxer(r)
	pendingSeek := time.Duration(-1)
	ended := false
	rate := int64(0) // from the identification header
	packets := 0
	send := func(m fetchMsg) bool {
		// The three header packets are delivered whatever seek arrives
		// meanwhile: the decoder needs them for any position.
		header := m.data != nil && packets <= 3 && !m.reset
		for {
			select {
			case f.pkts <- m:
				return true
			case t := <-f.seek:
				pendingSeek = t
				if header {
					continue
				}
				if m.data != nil {
					f.recycle(m.data)
				}
				return false
			case <-ctx.Done():
				return false
			}
		}
	}
	for {
		if ctx.Err() != nil {
			return
		}
		if pendingSeek >= 0 && dmx.dataStart >= 0 {
			t := int64(pendingSeek) * rate / int64(time.Second)
			pendingSeek = -1
			gen := f.gen.Load()
			err := dmx.seekPage(t)
			ended = err != nil
			f.drained.Store(ended)
			if !send(fetchMsg{reset: true, target: t, gen: gen, err: err}) {
				continue
			}
		}
		if ended {
			select {
			case t := <-f.seek:
				pendingSeek = t
				if dmx.dataStart < 0 {
					pendingSeek = -1 // headers never arrived: nothing to seek in
					gen := f.gen.Load()
					send(fetchMsg{err: ErrNotSeekable, gen: gen})
				}
				continue
			case <-ctx.Done():
				return
			}
		}
		p, err := dmx.nextPacket()
		gen := f.gen.Load()
		if err != nil {
			ended = true
			f.drained.Store(true)
			if !errors.Is(err, io.EOF) && ctx.Err() != nil {
				return // the source was closed under us
			}
			send(fetchMsg{err: err, gen: gen})
			continue
		}
		if packets++; packets == 1 {
			if fm, err := checkIdentification(p.data); err == nil {
				rate = int64(fm.SampleRate)
			}
		}
		var b []byte
		select {
		case b = <-f.free:
		default:
			b = make([]byte, 0, max(fetchBuffer, len(p.data)))
		}
		b = append(b, p.data...)
		send(fetchMsg{data: b, granule: p.granule, eos: p.eos, gen: gen})
		if p.eos {
			ended = true
			f.drained.Store(true)
			send(fetchMsg{err: io.EOF, gen: gen})
		}
	}
}
