package audio

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/starling-audio/starling/audio/oggpage"
)

// Ogg framing limits (RFC 3533); pages themselves are read by oggpage.
const (
	maxPacketSize = 1 << 20 // a Vorbis packet larger than this is rejected (comment headers with cover art included)
	// seekScanLimit bounds how far a page search reads past a guessed offset.
	seekScanLimit = 2 * oggpage.MaxPage
)

// packet is one Vorbis packet out of the demuxer. data is only valid until
// the next call to nextPacket.
type packet struct {
	data    []byte
	granule int64 // the page's granule position if this is the last packet completed on its page, else -1
	eos     bool  // last packet of the logical stream
}

// demuxer turns an Ogg byte stream into the packets of its first logical
// stream. Every page is CRC-checked, every length bounded before use, and
// buffers are reused, so steady-state demuxing does not allocate.
type demuxer struct {
	r      io.Reader
	seeker io.Seeker // nil when the source cannot seek
	pages  *oggpage.Reader

	body []byte // the current page's body (aliases pages' buffer)

	serial     uint32
	haveSerial bool

	// current page
	segs      []byte
	segIdx    int
	bodyOff   int
	granule   int64
	eosPage   bool
	lastEnd   int // index of the last segment that ends a packet on this page, -1 if none
	pageReady bool

	pending  []byte // a packet continued across pages
	carrying bool   // pending holds a started packet

	pageStart int64 // offset of the current page
	packets   int   // packets completed so far (for dataStart)
	dataStart int64 // offset of the first audio page (after the 3 Vorbis headers), -1 until known
	done      bool
}

func newDemuxer(r io.Reader) *demuxer {
	d := &demuxer{r: r, pages: oggpage.NewReader(r), dataStart: -1}
	d.seeker, _ = r.(io.Seeker)
	return d
}

// offset is the byte offset of the next unread byte in the source.
func (d *demuxer) offset() int64 { return d.pages.Offset() }

// readPage reads and checks the next page of our logical stream.
func (d *demuxer) readPage() error {
	for {
		d.pageStart = d.offset()
		pg, err := d.pages.Next()
		if err != nil {
			switch {
			case err == io.EOF:
				return fmt.Errorf("%w: source ended at byte %d before the last page", ErrTruncated, d.offset())
			case errors.Is(err, oggpage.ErrMalformed), errors.Is(err, oggpage.ErrChecksum):
				return fmt.Errorf("%w: %w", ErrCorrupt, err)
			default: // cut short, or the source failed
				return fmt.Errorf("%w: %v", ErrTruncated, err)
			}
		}
		segs := pg.Segments
		if !d.haveSerial {
			if !pg.BOS() {
				return fmt.Errorf("%w: first page at byte %d is not a beginning of stream", ErrCorrupt, d.pageStart)
			}
			d.serial, d.haveSerial = pg.Serial, true
		} else if pg.Serial != d.serial {
			continue // another logical stream multiplexed in: not ours
		}
		d.body = pg.Body
		d.segs = segs
		d.segIdx, d.bodyOff = 0, 0
		d.granule = pg.Granule
		d.eosPage = pg.EOS()
		d.lastEnd = -1
		for i, s := range segs {
			if s < 255 {
				d.lastEnd = i
			}
		}
		continued := pg.Continued()
		if continued && !d.carrying {
			// The tail of a packet whose start we never saw (after a seek):
			// skip its segments.
			for d.segIdx < len(segs) {
				s := segs[d.segIdx]
				d.bodyOff += int(s)
				d.segIdx++
				if s < 255 {
					break
				}
			}
		} else if !continued && d.carrying {
			return fmt.Errorf("%w: packet not continued on page at byte %d", ErrCorrupt, d.pageStart)
		}
		d.pageReady = true
		return nil
	}
}

// nextPacket returns the next packet, io.EOF after the end-of-stream page.
func (d *demuxer) nextPacket() (packet, error) {
	for {
		if d.done {
			return packet{}, io.EOF
		}
		if !d.pageReady || d.segIdx >= len(d.segs) {
			if d.pageReady && d.eosPage {
				d.done = true
				continue
			}
			if err := d.readPage(); err != nil {
				return packet{}, err
			}
			continue
		}
		start := d.bodyOff
		complete := false
		for d.segIdx < len(d.segs) {
			s := d.segs[d.segIdx]
			d.bodyOff += int(s)
			d.segIdx++
			if s < 255 {
				complete = true
				break
			}
		}
		frag := d.body[start:d.bodyOff]
		if !complete {
			if len(d.pending)+len(frag) > maxPacketSize {
				return packet{}, fmt.Errorf("%w: packet larger than %d bytes at byte %d", ErrCorrupt, maxPacketSize, d.pageStart)
			}
			d.pending = append(d.pending, frag...)
			d.carrying = true
			continue
		}
		data := frag
		if d.carrying {
			if len(d.pending)+len(frag) > maxPacketSize {
				return packet{}, fmt.Errorf("%w: packet larger than %d bytes at byte %d", ErrCorrupt, maxPacketSize, d.pageStart)
			}
			d.pending = append(d.pending, frag...)
			data = d.pending
			d.pending = d.pending[:0]
			d.carrying = false
		}
		p := packet{data: data, granule: -1}
		if d.segIdx-1 == d.lastEnd {
			p.granule = d.granule
			p.eos = d.eosPage
		}
		d.packets++
		if d.packets == 3 && d.dataStart < 0 && d.segIdx == len(d.segs) {
			d.dataStart = d.offset()
		}
		return p, nil
	}
}

// resetAt repositions the demuxer at byte offset off (a page start).
func (d *demuxer) resetAt(off int64) error {
	if d.seeker == nil {
		return ErrNotSeekable
	}
	if _, err := d.seeker.Seek(off, io.SeekStart); err != nil {
		return fmt.Errorf("seeking source to byte %d: %w", off, err)
	}
	d.pages.Reset(d.r, off)
	d.pageReady = false
	d.segs = nil
	d.pending = d.pending[:0]
	d.carrying = false
	d.done = false
	return nil
}

// pageInfo reads the page at the current position (which must be a page
// start) and returns its granule and whether it ends the stream.
func (d *demuxer) pageInfo() (granule int64, eos bool, err error) {
	if err := d.readPage(); err != nil {
		return 0, false, err
	}
	return d.granule, d.eosPage, nil
}

// findPage returns the offset of the first valid page of our stream that
// starts at or after off and carries a granule position, scanning at most
// seekScanLimit bytes. ok is false when none was found.
func (d *demuxer) findPage(off int64, scratch []byte) (pageOff, granule int64, ok bool, err error) {
	limit := off + seekScanLimit
	capture := []byte(oggpage.CapturePattern)
	for off < limit {
		if err := d.resetAt(off); err != nil {
			return 0, 0, false, err
		}
		n, rerr := io.ReadFull(d.r, scratch)
		if n < 4 {
			return 0, 0, false, nil
		}
		i := bytes.Index(scratch[:n], capture)
		if i < 0 {
			if rerr != nil {
				return 0, 0, false, nil
			}
			off += int64(n - 3)
			continue
		}
		cand := off + int64(i)
		if err := d.resetAt(cand); err != nil {
			return 0, 0, false, err
		}
		if g, _, perr := d.pageInfo(); perr == nil && g != -1 && d.pageStart == cand {
			return cand, g, true, nil
		} else if perr == nil {
			// A valid page without a granule (or of another stream): keep going
			// after it.
			off = d.offset()
			continue
		}
		off = cand + 1
	}
	return 0, 0, false, nil
}

// seekPage positions the demuxer at the start of the last page whose granule
// position is at most target (the first audio page if none is). It needs the
// source to be seekable and the headers to have been read.
func (d *demuxer) seekPage(target int64) error {
	if d.seeker == nil {
		return ErrNotSeekable
	}
	if d.dataStart < 0 {
		return fmt.Errorf("%w: seeking before the stream headers were read", ErrCorrupt)
	}
	size, err := d.seeker.Seek(0, io.SeekEnd)
	if err != nil {
		return fmt.Errorf("finding the source size: %w", err)
	}
	scratch := make([]byte, 4096)
	lo, hi := d.dataStart, size
	// Bisection on byte offset: keep lo at a page with granule <= target.
	for hi-lo > 2*oggpage.MaxPage {
		mid := lo + (hi-lo)/2
		off, g, ok, err := d.findPage(mid, scratch)
		if err != nil {
			return err
		}
		if ok && g <= target && off < hi {
			lo = off
		} else {
			hi = mid
		}
	}
	// Linear scan from lo: the last page with granule <= target.
	best := d.dataStart
	if err := d.resetAt(lo); err != nil {
		return err
	}
	for {
		start := d.offset()
		g, eos, err := d.pageInfo()
		if err != nil {
			break // end of source or a damaged page: settle for best
		}
		if g != -1 {
			if g > target {
				break
			}
			best = start
		}
		if eos {
			break
		}
	}
	return d.resetAt(best)
}
