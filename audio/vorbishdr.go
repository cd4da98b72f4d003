package audio

import (
	"encoding/binary"
	"fmt"
)

// Checks on the Vorbis identification and setup headers, run before the
// third-party decoder sees them. The decoder trusts the sizes it reads and
// would allocate terabytes, index out of range or loop forever on some
// hostile headers; these checks bound every size it allocates from and
// reject Huffman trees that are not complete (an incomplete tree makes its
// lookup loop spin on a corrupt packet).

const (
	maxCodebookEntries = 1 << 14 // per codebook (libvorbis's largest is 3^8 = 6561)
	// The decoder builds each Huffman tree in time quadratic in its entries;
	// this bounds the sum of squares (oggenc q5 files: about 4.5e7).
	maxEntriesSquared = 1 << 28
	maxCodebookValues = 1 << 20 // entries*dimensions per codebook
	maxTotalValues    = 1 << 22 // over all codebooks: 16 MiB of float32 at most
)

// checkIdentification validates the first header packet and returns the
// stream's format.
func checkIdentification(p []byte) (Format, error) {
	if len(p) < 30 || p[0] != 1 || string(p[1:7]) != "vorbis" {
		return Format{}, fmt.Errorf("%w: first packet is not a Vorbis identification header", ErrCorrupt)
	}
	h := p[7:]
	if v := binary.LittleEndian.Uint32(h); v != 0 {
		return Format{}, fmt.Errorf("%w: Vorbis version %d", ErrUnsupported, v)
	}
	f := Format{Channels: int(h[4]), SampleRate: int(binary.LittleEndian.Uint32(h[5:]))}
	if f.Channels == 0 || f.SampleRate == 0 {
		return Format{}, fmt.Errorf("%w: zero channels or sample rate", ErrCorrupt)
	}
	if err := f.validate(); err != nil {
		return Format{}, err
	}
	b0, b1 := h[21]&0x0f, h[21]>>4
	if b0 < 6 || b1 > 13 || b0 > b1 {
		return Format{}, fmt.Errorf("%w: block sizes 2^%d/2^%d", ErrCorrupt, b0, b1)
	}
	if h[22]&1 == 0 {
		return Format{}, fmt.Errorf("%w: identification header framing bit", ErrCorrupt)
	}
	return f, nil
}

// bits reads a Vorbis bit-packed buffer (least significant bit first).
type bits struct {
	b   []byte
	pos uint64 // in bits
}

func (r *bits) read(n uint) (uint32, error) {
	if r.pos+uint64(n) > uint64(len(r.b))*8 {
		return 0, fmt.Errorf("%w: setup header ends early", ErrCorrupt)
	}
	var v uint32
	for i := uint(0); i < n; i++ {
		if r.b[r.pos>>3]&(1<<(r.pos&7)) != 0 {
			v |= 1 << i
		}
		r.pos++
	}
	return v, nil
}

func (r *bits) skip(n uint64) error {
	if r.pos+n > uint64(len(r.b))*8 {
		return fmt.Errorf("%w: setup header ends early", ErrCorrupt)
	}
	r.pos += n
	return nil
}

func ilog(x uint32) uint {
	var r uint
	for x > 0 {
		r++
		x >>= 1
	}
	return r
}

// lookup1Values is the largest r with r^dim <= entries.
func lookup1Values(entries, dim uint32) uint64 {
	var r uint64
	for {
		p := uint64(1)
		for i := uint32(0); i < dim; i++ {
			p *= r + 1
			if p > uint64(entries) {
				return r
			}
		}
		r++
	}
}

// checkSetup walks the codebooks of the setup header (the part whose sizes
// drive the decoder's allocations) and checks them.
func checkSetup(p []byte) error {
	_, err := walkCodebooks(p)
	return err
}

// walkCodebooks checks the setup header's codebooks and returns a reader
// positioned just after them (at the time domain transforms).
func walkCodebooks(p []byte) (*bits, error) {
	if len(p) < 8 || p[0] != 5 || string(p[1:7]) != "vorbis" {
		return nil, fmt.Errorf("%w: third packet is not a Vorbis setup header", ErrCorrupt)
	}
	r := &bits{b: p[7:]}
	if err := r.walkCodebooks(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *bits) walkCodebooks() error {
	n, err := r.read(8)
	if err != nil {
		return err
	}
	total, squares := uint64(0), uint64(0)
	for cb := uint32(0); cb <= n; cb++ {
		sync, err := r.read(24)
		if err != nil {
			return err
		}
		if sync != 0x564342 {
			return fmt.Errorf("%w: codebook %d sync pattern", ErrCorrupt, cb)
		}
		dims, _ := r.read(16)
		entries, err := r.read(24)
		if err != nil {
			return err
		}
		if dims == 0 || entries == 0 || entries > maxCodebookEntries || uint64(entries)*uint64(dims) > maxCodebookValues {
			return fmt.Errorf("%w: codebook %d has %d entries of %d dimensions", ErrCorrupt, cb, entries, dims)
		}
		total += uint64(entries) * uint64(dims)
		squares += uint64(entries) * uint64(entries)
		if squares > maxEntriesSquared {
			return fmt.Errorf("%w: codebooks too large to build", ErrCorrupt)
		}
		if total > maxTotalValues {
			return fmt.Errorf("%w: codebooks hold more than %d values", ErrCorrupt, maxTotalValues)
		}
		// Kraft sum of the codeword lengths, in units of 2^-32.
		var kraft uint64
		used := 0
		addLen := func(l uint32) {
			kraft += 1 << (32 - l)
			used++
		}
		ordered, err := r.read(1)
		if err != nil {
			return err
		}
		if ordered == 0 {
			sparse, err := r.read(1)
			if err != nil {
				return err
			}
			for i := uint32(0); i < entries; i++ {
				if sparse == 1 {
					flag, err := r.read(1)
					if err != nil {
						return err
					}
					if flag == 0 {
						continue
					}
				}
				l, err := r.read(5)
				if err != nil {
					return err
				}
				addLen(l + 1)
			}
		} else {
			l, err := r.read(5)
			if err != nil {
				return err
			}
			l++
			for cur := uint32(0); cur < entries; {
				num, err := r.read(ilog(entries - cur))
				if err != nil {
					return err
				}
				if num > entries-cur || l > 32 {
					return fmt.Errorf("%w: codebook %d ordered lengths overflow", ErrCorrupt, cb)
				}
				for range num {
					addLen(l)
				}
				cur += num
				l++
			}
		}
		if used == 0 || (used > 1 && kraft != 1<<32) {
			return fmt.Errorf("%w: codebook %d Huffman tree is not complete", ErrCorrupt, cb)
		}
		lt, err := r.read(4)
		if err != nil {
			return err
		}
		switch lt {
		case 0:
		case 1, 2:
			if err := r.skip(64); err != nil {
				return err
			}
			vb, _ := r.read(4)
			if _, err := r.read(1); err != nil {
				return err
			}
			count := uint64(entries) * uint64(dims)
			if lt == 1 {
				count = lookup1Values(entries, dims)
			}
			if err := r.skip(count * uint64(vb+1)); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%w: codebook %d lookup type %d", ErrCorrupt, cb, lt)
		}
	}
	return nil
}

// get reads n bits of an audio packet the way the decoder does: bits past
// the end of the packet read as zero.
func (r *bits) get(n uint) uint32 {
	v, err := r.read(n)
	if err != nil {
		r.pos = uint64(len(r.b)) * 8
		return 0
	}
	return v
}

// field reads n bits of the setup header and checks that the value is at
// most limit.
func (r *bits) field(n uint, limit uint32, what string) (uint32, error) {
	v, err := r.read(n)
	if err != nil {
		return 0, err
	}
	if v > limit {
		return 0, fmt.Errorf("%w: setup header %s is %d (at most %d)", ErrCorrupt, what, v, limit)
	}
	return v, nil
}

// setupModes walks the whole setup header (codebooks, time domain
// transforms, floors, residues, mappings) to its mode table and returns
// each mode's block flag (1: long block). DecodeBitrate needs only these to
// know how many frames each audio packet decodes to. channels comes from
// the identification header. Every count is bounded by its bit width
// (at most 64 floors, residues, mappings and modes), so walking a hostile
// header costs at most its own length.
func setupModes(p []byte, channels int) ([]uint8, error) {
	r, err := walkCodebooks(p)
	if err != nil {
		return nil, err
	}
	if err := r.walkAfterCodebooks(channels); err != nil {
		return nil, err
	}
	n, err := r.read(6)
	if err != nil {
		return nil, err
	}
	flags := make([]uint8, n+1)
	for i := range flags {
		f, err := r.read(1)
		if err != nil {
			return nil, err
		}
		if _, err := r.field(32, 0, "mode window and transform type"); err != nil {
			return nil, err
		}
		if err := r.skip(8); err != nil { // mapping number
			return nil, err
		}
		flags[i] = uint8(f)
	}
	if framing, err := r.read(1); err != nil || framing != 1 {
		return nil, fmt.Errorf("%w: setup header framing bit", ErrCorrupt)
	}
	return flags, nil
}

// walkAfterCodebooks skips the time domain transforms, floors, residues and
// mappings, following the Vorbis I specification, section 4.2.4.
func (r *bits) walkAfterCodebooks(channels int) error {
	n, err := r.read(6)
	if err != nil {
		return err
	}
	for range n + 1 {
		if _, err := r.field(16, 0, "time domain transform type"); err != nil {
			return err
		}
	}
	if n, err = r.read(6); err != nil {
		return err
	}
	for range n + 1 {
		if err := r.walkFloor(); err != nil {
			return err
		}
	}
	if n, err = r.read(6); err != nil {
		return err
	}
	for range n + 1 {
		if err := r.walkResidue(); err != nil {
			return err
		}
	}
	if n, err = r.read(6); err != nil {
		return err
	}
	for range n + 1 {
		if err := r.walkMapping(channels); err != nil {
			return err
		}
	}
	return nil
}

func (r *bits) walkFloor() error {
	typ, err := r.field(16, 1, "floor type")
	if err != nil {
		return err
	}
	if typ == 0 {
		// order 8, rate 16, bark map size 16, amplitude bits 6, amplitude offset 8
		if err := r.skip(54); err != nil {
			return err
		}
		books, err := r.read(4)
		if err != nil {
			return err
		}
		return r.skip(8 * uint64(books+1))
	}
	parts, err := r.read(5)
	if err != nil {
		return err
	}
	var classOf [32]uint32
	maxClass := uint32(0)
	for i := range parts {
		c, err := r.read(4)
		if err != nil {
			return err
		}
		classOf[i] = c
		maxClass = max(maxClass, c)
	}
	var dims [16]uint32
	for c := range maxClass + 1 {
		d, err := r.read(3)
		if err != nil {
			return err
		}
		dims[c] = d + 1
		sub, err := r.read(2)
		if err != nil {
			return err
		}
		if sub != 0 {
			if err := r.skip(8); err != nil { // master book
				return err
			}
		}
		if err := r.skip(8 << sub); err != nil { // subclass books
			return err
		}
	}
	if err := r.skip(2); err != nil { // multiplier
		return err
	}
	rangeBits, err := r.read(4)
	if err != nil {
		return err
	}
	for i := range parts {
		if err := r.skip(uint64(dims[classOf[i]]) * uint64(rangeBits)); err != nil {
			return err
		}
	}
	return nil
}

func (r *bits) walkResidue() error {
	if _, err := r.field(16, 2, "residue type"); err != nil {
		return err
	}
	if err := r.skip(3 * 24); err != nil { // begin, end, partition size
		return err
	}
	classes, err := r.read(6)
	if err != nil {
		return err
	}
	if err := r.skip(8); err != nil { // class book
		return err
	}
	var cascade [64]uint32
	for i := range classes + 1 {
		low, err := r.read(3)
		if err != nil {
			return err
		}
		high := uint32(0)
		if flag, err := r.read(1); err != nil {
			return err
		} else if flag == 1 {
			if high, err = r.read(5); err != nil {
				return err
			}
		}
		cascade[i] = high<<3 | low
	}
	for i := range classes + 1 {
		for b := range 8 {
			if cascade[i]&(1<<b) != 0 {
				if err := r.skip(8); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func (r *bits) walkMapping(channels int) error {
	if _, err := r.field(16, 0, "mapping type"); err != nil {
		return err
	}
	submaps := uint32(1)
	if flag, err := r.read(1); err != nil {
		return err
	} else if flag == 1 {
		n, err := r.read(4)
		if err != nil {
			return err
		}
		submaps = n + 1
	}
	if flag, err := r.read(1); err != nil {
		return err
	} else if flag == 1 {
		steps, err := r.read(8)
		if err != nil {
			return err
		}
		if err := r.skip(uint64(steps+1) * 2 * uint64(ilog(uint32(channels-1)))); err != nil {
			return err
		}
	}
	if _, err := r.field(2, 0, "mapping reserved bits"); err != nil {
		return err
	}
	if submaps > 1 {
		if err := r.skip(4 * uint64(channels)); err != nil { // channel multiplex
			return err
		}
	}
	return r.skip(24 * uint64(submaps)) // time, floor and residue per submap
}
