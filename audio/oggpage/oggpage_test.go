package oggpage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/starling-audio/starling/tools/fixtures"
)

// page builds one valid page holding the given packet-less body split into
// the given lacing values.
func page(flags byte, granule int64, serial, seq uint32, lacing []byte) []byte {
	size := 0
	for _, l := range lacing {
		size += int(l)
	}
	b := make([]byte, HeaderLen, HeaderLen+len(lacing)+size)
	copy(b, CapturePattern)
	b[5] = flags
	binary.LittleEndian.PutUint64(b[6:], uint64(granule))
	binary.LittleEndian.PutUint32(b[14:], serial)
	binary.LittleEndian.PutUint32(b[18:], seq)
	b[26] = byte(len(lacing))
	b = append(b, lacing...)
	for i := range size {
		b = append(b, byte(i*7+int(seq)))
	}
	binary.LittleEndian.PutUint32(b[22:], CRC(0, b))
	return b
}

func TestReadsPages(t *testing.T) {
	p0 := page(FlagBOS, 0, 9, 0, []byte{30})
	p1 := page(0, -1, 9, 1, []byte{255, 255})
	p2 := page(FlagContinued|FlagEOS, 1234, 9, 2, []byte{255, 10})
	src := append(append(append([]byte{}, p0...), p1...), p2...)
	pr := NewReader(iotest.OneByteReader(bytes.NewReader(src)))
	want := []struct {
		off     int64
		flags   byte
		granule int64
		seq     uint32
		raw     []byte
	}{{0, FlagBOS, 0, 0, p0}, {int64(len(p0)), 0, -1, 1, p1}, {int64(len(p0) + len(p1)), FlagContinued | FlagEOS, 1234, 2, p2}}
	for _, w := range want {
		pg, err := pr.Next()
		if err != nil {
			t.Fatalf("page %d: %v", w.seq, err)
		}
		nseg := int(w.raw[26])
		if pg.Offset != w.off || pg.Flags != w.flags || pg.Granule != w.granule || pg.Serial != 9 || pg.Seq != w.seq ||
			!bytes.Equal(pg.Segments, w.raw[HeaderLen:HeaderLen+nseg]) || !bytes.Equal(pg.Body, w.raw[HeaderLen+nseg:]) {
			t.Fatalf("page %d: got %+v", w.seq, pg)
		}
	}
	if pr.Offset() != int64(len(src)) {
		t.Fatalf("offset %d, want %d", pr.Offset(), len(src))
	}
	if _, err := pr.Next(); err != io.EOF {
		t.Fatalf("after the last page: %v, want io.EOF", err)
	}
}

func TestRejectsBadPages(t *testing.T) {
	good := page(FlagBOS, 0, 1, 0, []byte{100})
	mut := func(f func(b []byte)) []byte {
		b := bytes.Clone(good)
		f(b)
		return b
	}
	cases := []struct {
		name string
		in   []byte
		want error
	}{
		{"capture", mut(func(b []byte) { b[0] = 'X' }), ErrMalformed},
		{"version", mut(func(b []byte) { b[4] = 1 }), ErrMalformed},
		{"no segments", mut(func(b []byte) { b[26] = 0 }), ErrMalformed},
		{"checksum", mut(func(b []byte) { b[len(b)-1] ^= 1 }), ErrChecksum},
		{"granule flipped", mut(func(b []byte) { b[6] ^= 1 }), ErrChecksum},
		{"header cut", good[:10], ErrTruncated},
		{"segment table cut", good[:HeaderLen], ErrTruncated},
		{"body cut", good[:len(good)-1], ErrTruncated},
	}
	for _, c := range cases {
		_, err := NewReader(bytes.NewReader(c.in)).Next()
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
		if errors.Is(err, io.EOF) {
			t.Errorf("%s: %v matches io.EOF", c.name, err)
		}
	}
}

func TestSourceErrorWrapped(t *testing.T) {
	boom := errors.New("boom")
	_, err := NewReader(iotest.ErrReader(boom)).Next()
	if !errors.Is(err, boom) || errors.Is(err, ErrTruncated) {
		t.Fatalf("got %v, want the source's error and not ErrTruncated", err)
	}
}

func TestResetCountsFromOffset(t *testing.T) {
	p := page(FlagBOS, 5, 1, 0, []byte{1})
	pr := NewReader(bytes.NewReader(nil))
	pr.Reset(bytes.NewReader(p), 1000)
	pg, err := pr.Next()
	if err != nil || pg.Offset != 1000 || pr.Offset() != 1000+int64(len(p)) {
		t.Fatalf("got %+v, %v, offset %d", pg, err, pr.Offset())
	}
}

// TestFixturePages walks a real encoder's file: every page checks, pages
// are contiguous and the last one ends the stream.
func TestFixturePages(t *testing.T) {
	b, err := fixtures.Read(fixtures.Tones48kMono)
	if err != nil {
		t.Fatal(err)
	}
	pr := NewReader(bytes.NewReader(b))
	var last Page
	n := 0
	for {
		pg, err := pr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("page %d: %v", n, err)
		}
		if pg.Seq != uint32(n) {
			t.Fatalf("page %d has sequence %d", n, pg.Seq)
		}
		last = pg
		n++
	}
	if n < 3 || !last.EOS() || pr.Offset() != int64(len(b)) {
		t.Fatalf("%d pages, last EOS %v, offset %d of %d", n, last.EOS(), pr.Offset(), len(b))
	}
}

func BenchmarkNext(b *testing.B) {
	src, err := fixtures.Read(fixtures.Tones48kMono)
	if err != nil {
		b.Fatal(err)
	}
	br := bytes.NewReader(src)
	pr := NewReader(br)
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		br.Reset(src)
		pr.Reset(br, 0)
		for {
			if _, err := pr.Next(); err != nil {
				if err != io.EOF {
					b.Fatal(err)
				}
				break
			}
		}
	}
}
