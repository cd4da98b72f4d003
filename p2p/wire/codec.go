package wire

import (
	"encoding/binary"
	"fmt"
	"unicode/utf8"
)

// Encoder appends fields to a byte slice (SPEC.md §5). It never fails on
// its own; callers check their own bounds with the Put* methods' results.
type Encoder struct {
	B   []byte
	err error
}

// Err returns the first bound violated while encoding, if any.
func (e *Encoder) Err() error { return e.err }

func (e *Encoder) fail(format string, args ...any) {
	if e.err == nil {
		e.err = fmt.Errorf("%w: encoding: "+format, append([]any{ErrMalformed}, args...)...)
	}
}

// U8 appends a byte.
func (e *Encoder) U8(v uint8) { e.B = append(e.B, v) }

// U16 appends a big-endian uint16.
func (e *Encoder) U16(v uint16) { e.B = binary.BigEndian.AppendUint16(e.B, v) }

// U32 appends a big-endian uint32.
func (e *Encoder) U32(v uint32) { e.B = binary.BigEndian.AppendUint32(e.B, v) }

// U64 appends a big-endian uint64.
func (e *Encoder) U64(v uint64) { e.B = binary.BigEndian.AppendUint64(e.B, v) }

// Raw appends bytes without a length.
func (e *Encoder) Raw(b []byte) { e.B = append(e.B, b...) }

// Str8 appends a string with a u8 length; max bounds it (≤ 255).
func (e *Encoder) Str8(s string, max int) {
	if len(s) > max || len(s) > 255 {
		e.fail("string of %d bytes exceeds %d", len(s), min(max, 255))
		return
	}
	e.B = append(e.B, uint8(len(s)))
	e.B = append(e.B, s...)
}

// Str16 appends a string with a u16 length; max bounds it.
func (e *Encoder) Str16(s string, max int) { e.Bytes16([]byte(s), max) }

// Bytes16 appends bytes with a u16 length; max bounds it.
func (e *Encoder) Bytes16(b []byte, max int) {
	if len(b) > max || len(b) > 0xFFFF {
		e.fail("field of %d bytes exceeds %d", len(b), min(max, 0xFFFF))
		return
	}
	e.U16(uint16(len(b)))
	e.B = append(e.B, b...)
}

// Bytes32 appends bytes with a u32 length; max bounds it.
func (e *Encoder) Bytes32(b []byte, max int) {
	if len(b) > max {
		e.fail("field of %d bytes exceeds %d", len(b), max)
		return
	}
	e.U32(uint32(len(b)))
	e.B = append(e.B, b...)
}

// Decoder reads fields from a payload with explicit length checks. Errors
// are sticky: after the first, every read returns zero values, and Finish
// reports it. Decoder never allocates more than the bytes it was given.
type Decoder struct {
	b   []byte
	err error
}

// NewDecoder returns a Decoder over b.
func NewDecoder(b []byte) *Decoder { return &Decoder{b: b} }

// Err returns the first decoding error.
func (d *Decoder) Err() error { return d.err }

// Remaining returns how many bytes are left.
func (d *Decoder) Remaining() int { return len(d.b) }

func (d *Decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
	}
	d.b = nil
}

func (d *Decoder) take(n int, what string) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b) {
		d.fail("%s needs %d bytes, %d left", what, n, len(d.b))
		return nil
	}
	p := d.b[:n:n]
	d.b = d.b[n:]
	return p
}

// U8 reads a byte.
func (d *Decoder) U8() uint8 {
	p := d.take(1, "u8")
	if p == nil {
		return 0
	}
	return p[0]
}

// U16 reads a big-endian uint16.
func (d *Decoder) U16() uint16 {
	p := d.take(2, "u16")
	if p == nil {
		return 0
	}
	return binary.BigEndian.Uint16(p)
}

// U32 reads a big-endian uint32.
func (d *Decoder) U32() uint32 {
	p := d.take(4, "u32")
	if p == nil {
		return 0
	}
	return binary.BigEndian.Uint32(p)
}

// U64 reads a big-endian uint64.
func (d *Decoder) U64() uint64 {
	p := d.take(8, "u64")
	if p == nil {
		return 0
	}
	return binary.BigEndian.Uint64(p)
}

// Raw reads exactly n bytes (aliasing the input).
func (d *Decoder) Raw(n int, what string) []byte { return d.take(n, what) }

// ID32 reads 32 raw bytes.
func (d *Decoder) ID32(what string) (id [32]byte) {
	copy(id[:], d.take(32, what))
	return id
}

// Str8 reads a u8-length string of at most max bytes, which must be UTF-8.
func (d *Decoder) Str8(max int, what string) string {
	n := int(d.U8())
	return d.str(n, max, what)
}

// Str16 reads a u16-length string of at most max bytes, which must be UTF-8.
func (d *Decoder) Str16(max int, what string) string {
	n := int(d.U16())
	return d.str(n, max, what)
}

func (d *Decoder) str(n, max int, what string) string {
	if d.err != nil {
		return ""
	}
	if n > max {
		d.fail("%s is %d bytes, max %d", what, n, max)
		return ""
	}
	p := d.take(n, what)
	if !utf8.Valid(p) {
		d.fail("%s is not UTF-8", what)
		return ""
	}
	return string(p)
}

// Bytes16 reads a u16-length field of at most max bytes (aliasing the input).
func (d *Decoder) Bytes16(max int, what string) []byte {
	n := int(d.U16())
	if d.err == nil && n > max {
		d.fail("%s is %d bytes, max %d", what, n, max)
	}
	return d.take(n, what)
}

// Bytes32 reads a u32-length field of at most max bytes (aliasing the input).
func (d *Decoder) Bytes32(max int, what string) []byte {
	n := d.U32()
	if d.err == nil && uint64(n) > uint64(max) {
		d.fail("%s is %d bytes, max %d", what, n, max)
	}
	return d.take(int(n), what)
}

// Count reads a u16 element count, checks it against max and against the
// bytes left given each element's minimum size, so that a caller may
// allocate count elements safely.
func (d *Decoder) Count16(max, minElem int, what string) int {
	n := int(d.U16())
	return d.count(n, max, minElem, what)
}

// Count8 is Count16 with a u8 count.
func (d *Decoder) Count8(max, minElem int, what string) int {
	n := int(d.U8())
	return d.count(n, max, minElem, what)
}

func (d *Decoder) count(n, max, minElem int, what string) int {
	if d.err != nil {
		return 0
	}
	if n > max {
		d.fail("%d %s, max %d", n, what, max)
		return 0
	}
	if minElem > 0 && n > len(d.b)/minElem {
		d.fail("%d %s cannot fit in %d bytes", n, what, len(d.b))
		return 0
	}
	return n
}

// Finish returns the first error, or an error if bytes are left over.
func (d *Decoder) Finish(what string) error {
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d trailing bytes", len(d.b))
	}
	if d.err != nil {
		return fmt.Errorf("decoding %s: %w", what, d.err)
	}
	return nil
}
