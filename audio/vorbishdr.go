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
		return 0, fmt.Errorf("%w: setup header ends inside a codebook", ErrCorrupt)
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
		return fmt.Errorf("%w: setup header ends inside a codebook", ErrCorrupt)
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
	if len(p) < 8 || p[0] != 5 || string(p[1:7]) != "vorbis" {
		return fmt.Errorf("%w: third packet is not a Vorbis setup header", ErrCorrupt)
	}
	r := &bits{b: p[7:]}
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
