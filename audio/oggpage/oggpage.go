package oggpage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Ogg framing limits (RFC 3533).
const (
	// HeaderLen is the size of the fixed page header, before the segment table.
	HeaderLen = 27
	// MaxSegments is the most entries a segment table has.
	MaxSegments = 255
	// MaxBody is the largest page body: 255 segments of 255 bytes.
	MaxBody = 255 * 255
	// MaxPage is the largest page, header and segment table included.
	MaxPage = HeaderLen + MaxSegments + MaxBody
	// CapturePattern starts every page.
	CapturePattern = "OggS"
)

// Header type flags (byte 5 of a page).
const (
	FlagContinued = 0x01 // the first packet on the page continues one from the previous page
	FlagBOS       = 0x02 // beginning of a logical stream
	FlagEOS       = 0x04 // end of a logical stream
)

var (
	// ErrTruncated means the source ended inside a page.
	ErrTruncated = errors.New("oggpage: page cut short")
	// ErrMalformed means the bytes are not an Ogg page (capture pattern,
	// version or segment count wrong).
	ErrMalformed = errors.New("oggpage: malformed page")
	// ErrChecksum means a page's CRC does not match its bytes.
	ErrChecksum = errors.New("oggpage: page checksum mismatch")
)

// Page is one checked Ogg page. Segments and Body alias the Reader's
// buffers: they are valid until the next call to Reader.Next.
type Page struct {
	Flags    byte
	Granule  int64 // granule position; -1 when no packet ends on the page
	Serial   uint32
	Seq      uint32
	Segments []byte // the segment table (lacing values), 1..255 entries
	Body     []byte // len(Body) is the sum of Segments
	Offset   int64  // byte offset of the page in the source (see Reader.Reset)
}

// Continued reports whether the page starts with the rest of a packet from
// the previous page.
func (p *Page) Continued() bool { return p.Flags&FlagContinued != 0 }

// BOS reports whether the page begins a logical stream.
func (p *Page) BOS() bool { return p.Flags&FlagBOS != 0 }

// EOS reports whether the page ends a logical stream.
func (p *Page) EOS() bool { return p.Flags&FlagEOS != 0 }

// crcTable is the CRC-32 table of the Ogg framing (polynomial 0x04c11db7,
// not reflected). It is computed once and never written again.
var crcTable = func() (t [256]uint32) {
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

// CRC continues the Ogg CRC-32 crc over b. The checksum of a page is
// CRC(0, page) with the page's checksum field (bytes 22..25) zeroed.
func CRC(crc uint32, b []byte) uint32 {
	for _, x := range b {
		crc = crc<<8 ^ crcTable[byte(crc>>24)^x]
	}
	return crc
}

// Reader reads checked pages from a byte stream. Its buffers are allocated
// once (about 64 KiB); reading pages does not allocate.
type Reader struct {
	r      io.Reader
	offset int64
	hdr    [HeaderLen + MaxSegments]byte
	body   []byte
}

// NewReader returns a Reader of the pages of r, counting offsets from 0.
func NewReader(r io.Reader) *Reader {
	return &Reader{r: r, body: make([]byte, MaxBody)}
}

// Reset makes the Reader read from r, whose next byte is at offset off
// (after a seek, say). Pages returned before are invalidated.
func (pr *Reader) Reset(r io.Reader, off int64) {
	pr.r, pr.offset = r, off
}

// Offset is the byte offset of the next unread byte of the source.
func (pr *Reader) Offset() int64 { return pr.offset }

func (pr *Reader) readFull(b []byte) (int, error) {
	n, err := io.ReadFull(pr.r, b)
	pr.offset += int64(n)
	return n, err
}

// Next reads and checks the next page. It returns io.EOF (unwrapped) when
// the source ends exactly at a page boundary, an error wrapping
// ErrTruncated when it ends inside a page, ErrMalformed or ErrChecksum for
// an invalid page, and the source's own error, wrapped, if reading the page
// header fails otherwise. After an error the Reader's position is
// undefined: Reset it before reading on.
func (pr *Reader) Next() (Page, error) {
	start := pr.offset
	h := pr.hdr[:HeaderLen]
	n, err := pr.readFull(h)
	if err != nil {
		switch {
		case n == 0 && err == io.EOF:
			return Page{}, io.EOF
		case errors.Is(err, io.ErrUnexpectedEOF):
			return Page{}, fmt.Errorf("%w: header of the page at byte %d: %w", ErrTruncated, start, err)
		default:
			return Page{}, fmt.Errorf("oggpage: reading the header of the page at byte %d: %w", start, err)
		}
	}
	if string(h[:4]) != CapturePattern {
		return Page{}, fmt.Errorf("%w: no %s capture pattern at byte %d", ErrMalformed, CapturePattern, start)
	}
	if h[4] != 0 {
		return Page{}, fmt.Errorf("%w: Ogg version %d at byte %d", ErrMalformed, h[4], start)
	}
	nseg := int(h[26])
	if nseg == 0 {
		return Page{}, fmt.Errorf("%w: page with no segments at byte %d", ErrMalformed, start)
	}
	segs := pr.hdr[HeaderLen : HeaderLen+nseg]
	if _, err := pr.readFull(segs); err != nil {
		return Page{}, fmt.Errorf("%w: segment table of the page at byte %d: %w", ErrTruncated, start, midPage(err))
	}
	size := 0
	for _, s := range segs {
		size += int(s)
	}
	body := pr.body[:size] // size <= MaxBody == len(pr.body)
	if _, err := pr.readFull(body); err != nil {
		return Page{}, fmt.Errorf("%w: body of the page at byte %d: %w", ErrTruncated, start, midPage(err))
	}
	want := binary.LittleEndian.Uint32(h[22:26])
	var zero [4]byte
	crc := CRC(0, h[:22])
	crc = CRC(crc, zero[:])
	crc = CRC(crc, h[26:27])
	crc = CRC(crc, segs)
	crc = CRC(crc, body)
	if crc != want {
		return Page{}, fmt.Errorf("%w: page at byte %d", ErrChecksum, start)
	}
	return Page{
		Flags:    h[5],
		Granule:  int64(binary.LittleEndian.Uint64(h[6:14])),
		Serial:   binary.LittleEndian.Uint32(h[14:18]),
		Seq:      binary.LittleEndian.Uint32(h[18:22]),
		Segments: segs,
		Body:     body,
		Offset:   start,
	}, nil
}

// midPage turns a clean end of the source inside a page into
// io.ErrUnexpectedEOF, so that no error but a clean end between pages
// matches io.EOF.
func midPage(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
