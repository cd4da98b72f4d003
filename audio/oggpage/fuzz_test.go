package oggpage

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzNext feeds arbitrary bytes to the Reader: it must never panic, every
// error must be one of the documented kinds, and every page it accepts must
// be self-consistent and re-checksum to the bytes it came from.
func FuzzNext(f *testing.F) {
	f.Add(page(FlagBOS, 0, 1, 0, []byte{3}))
	f.Add(append(page(FlagBOS, 0, 1, 0, []byte{255, 0}), page(FlagEOS, 7, 1, 1, []byte{2})...))
	f.Add([]byte("OggS"))
	f.Fuzz(func(t *testing.T, in []byte) {
		pr := NewReader(bytes.NewReader(in))
		for {
			start := pr.Offset()
			pg, err := pr.Next()
			if err == io.EOF {
				if start != int64(len(in)) {
					t.Fatalf("io.EOF at %d of %d bytes", start, len(in))
				}
				return
			}
			if err != nil {
				if !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrChecksum) {
					t.Fatalf("undocumented error %v", err)
				}
				return
			}
			end := pr.Offset()
			size := 0
			for _, s := range pg.Segments {
				size += int(s)
			}
			if pg.Offset != start || len(pg.Segments) == 0 || size != len(pg.Body) ||
				end-start != int64(HeaderLen+len(pg.Segments)+len(pg.Body)) || end-start > MaxPage {
				t.Fatalf("inconsistent page %+v from %d to %d", pg, start, end)
			}
			raw := bytes.Clone(in[start:end])
			clear(raw[22:26])
			if CRC(0, raw) != uint32(in[start+22])|uint32(in[start+23])<<8|uint32(in[start+24])<<16|uint32(in[start+25])<<24 {
				t.Fatal("accepted a page whose checksum does not match")
			}
		}
	})
}
