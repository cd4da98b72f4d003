package origin_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/starling-audio/starling/p2p/origin"
)

var timeZero time.Time

func TestParseContentRange(t *testing.T) {
	good := []struct {
		in          string
		a, b, total int64
	}{
		{"bytes 0-0/1", 0, 0, 1},
		{"bytes 0-16383/40000", 0, 16383, 40000},
		{"bytes 16384-39999/40000", 16384, 39999, 40000},
		{"bytes 9223372036854775805-9223372036854775806/9223372036854775807", 9223372036854775805, 9223372036854775806, 9223372036854775807},
	}
	for _, g := range good {
		a, b, n, err := origin.ParseContentRange(g.in)
		if err != nil || a != g.a || b != g.b || n != g.total {
			t.Errorf("%q = %d %d %d %v", g.in, a, b, n, err)
		}
	}
	for _, in := range []string{"", "bytes", "bytes */100", "bytes 0-1/*", "bytes 5-4/10", "bytes 0-10/10",
		"bytes -1-3/10", "bytes +1-3/10", "bytes 1 -3/10", "items 0-1/2", "bytes 0-1/99999999999999999999",
		"bytes 0-1/2/3", "Bytes 0-1/2", "bytes 0--1/2", "bytes 0x1-2/3"} {
		if _, _, _, err := origin.ParseContentRange(in); !errors.Is(err, origin.ErrBadContentRange) {
			t.Errorf("%q accepted: %v", in, err)
		}
	}
}

func FuzzParseContentRange(f *testing.F) {
	f.Add("bytes 0-16383/40000")
	f.Add("bytes */40000")
	f.Add("bytes 1-0/2")
	f.Fuzz(func(t *testing.T, s string) {
		a, b, n, err := origin.ParseContentRange(s)
		if err != nil {
			return
		}
		if a < 0 || a > b || b >= n {
			t.Fatalf("%q parsed to an impossible range %d-%d/%d", s, a, b, n)
		}
		a2, b2, n2, err := origin.ParseContentRange(fmt.Sprintf("bytes %d-%d/%d", a, b, n))
		if err != nil || a2 != a || b2 != b || n2 != n {
			t.Fatalf("%q does not round-trip: %d-%d/%d %v", s, a2, b2, n2, err)
		}
	})
}
