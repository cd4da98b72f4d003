package audio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Ogg framing limits (RFC 3533).
const (
	oggHeaderLen  = 27
	oggMaxBody    = 255 * 255
	oggMaxPage    = oggHeaderLen + 255 + oggMaxBody
	maxPacketSize = 1 << 20 // a Vorbis packet larger than this is rejected (comment headers with cover art included)
	// seekScanLimit bounds how far a page search reads past a guessed offset.
	seekScanLimit = 2 * oggMaxPage
)

var oggCapture = []byte("OggS")

// oggCRCTable is the CRC-32 table of Ogg (polynomial 0x04c11db7, not
// reflected). It is computed once and never written again.
var oggCRCTable = func() (t [256]uint32) {
	for i := range t {
		r := uint32(i) << 24
		for range 8 {
			if r&0x80000000 != 0 {
				r = r<<1 ^ 0x04c11db7
			} else {
				r <<= 1
			}
		}
		t[i] = r
	}
	return t
}()

func oggCRC(crc uint32, b []byte) uint32 {
	for _, x := range b {
		crc = crc<<8 ^ oggCRCTable[byte(crc>>24)^x]
	}
	return crc
}

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

	hdr  [oggHeaderLen + 255]byte
	body []byte

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

	offset    int64 // byte offset of the next unread byte in the source
	pageStart int64 // offset of the current page
	packets   int   // packets completed so far (for dataStart)
	dataStart int64 // offset of the first audio page (after the 3 Vorbis headers), -1 until known
	done      bool
}

func newDemuxer(r io.Reader) *demuxer {
	d := &demuxer{r: r, body: make([]byte, 0, oggMaxBody), dataStart: -1}
	d.seeker, _ = r.(io.Seeker)
	return d
}

func (d *demuxer) readFull(b []byte) (int, error) {
	n, err := io.ReadFull(d.r, b)
	d.offset += int64(n)
	return n, err
}

// readPage reads and checks the next page of our logical stream.
func (d *demuxer) readPage() error {
	for {
		d.pageStart = d.offset
		n, err := d.readFull(d.hdr[:oggHeaderLen])
		if err != nil {
			if n == 0 && errors.Is(err, io.EOF) {
				return fmt.Errorf("%w: source ended at byte %d before the last page", ErrTruncated, d.offset)
			}
			return fmt.Errorf("%w: reading page header at byte %d: %v", ErrTruncated, d.pageStart, err)
		}
		h := d.hdr[:oggHeaderLen]
		if !bytes.Equal(h[:4], oggCapture) {
			return fmt.Errorf("%w: no Ogg capture pattern at byte %d", ErrCorrupt, d.pageStart)
		}
		if h[4] != 0 {
			return fmt.Errorf("%w: Ogg version %d at byte %d", ErrCorrupt, h[4], d.pageStart)
		}
		nseg := int(h[26])
		if nseg == 0 {
			return fmt.Errorf("%w: page with no segments at byte %d", ErrCorrupt, d.pageStart)
		}
		if _, err := d.readFull(d.hdr[oggHeaderLen : oggHeaderLen+nseg]); err != nil {
			return fmt.Errorf("%w: reading segment table at byte %d: %v", ErrTruncated, d.pageStart, err)
		}
		segs := d.hdr[oggHeaderLen : oggHeaderLen+nseg]
		size := 0
		for _, s := range segs {
			size += int(s)
		}
		d.body = d.body[:size] // size <= oggMaxBody == cap
		if _, err := d.readFull(d.body); err != nil {
			return fmt.Errorf("%w: reading page body at byte %d: %v", ErrTruncated, d.pageStart, err)
		}
		want := binary.LittleEndian.Uint32(h[22:26])
		var zero [4]byte
		crc := oggCRC(0, h[:22])
		crc = oggCRC(crc, zero[:])
		crc = oggCRC(crc, h[26:27])
		crc = oggCRC(crc, segs)
		crc = oggCRC(crc, d.body)
		if crc != want {
			return fmt.Errorf("%w: page checksum mismatch at byte %d", ErrCorrupt, d.pageStart)
		}
		serial := binary.LittleEndian.Uint32(h[14:18])
		if !d.haveSerial {
			if h[5]&2 == 0 {
				return fmt.Errorf("%w: first page at byte %d is not a beginning of stream", ErrCorrupt, d.pageStart)
			}
			d.serial, d.haveSerial = serial, true
		} else if serial != d.serial {
			continue // another logical stream multiplexed in: not ours
		}
		d.segs = segs
		d.segIdx, d.bodyOff = 0, 0
		d.granule = int64(binary.LittleEndian.Uint64(h[6:14]))
		d.eosPage = h[5]&4 != 0
		d.lastEnd = -1
		for i, s := range segs {
			if s < 255 {
				d.lastEnd = i
			}
		}
		continued := h[5]&1 != 0
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
			d.dataStart = d.offset
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
	d.offset = off
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
	for off < limit {
		if err := d.resetAt(off); err != nil {
			return 0, 0, false, err
		}
		n, rerr := io.ReadFull(d.r, scratch)
		if n < 4 {
			return 0, 0, false, nil
		}
		i := bytes.Index(scratch[:n], oggCapture)
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
			off = d.offset
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
	for hi-lo > 2*oggMaxPage {
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
		start := d.offset
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
