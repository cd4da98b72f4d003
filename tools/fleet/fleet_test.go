package fleet

import (
	"go.uber.org/goleak"
	"net/netip"
	"strings"
	"testing"
)

func TestSpeakerIPRoundTrip(t *testing.T) {
	for _, c := range []struct {
		i    int
		want string
	}{{0, "127.0.1.1"}, {253, "127.0.1.254"}, {254, "127.0.2.1"}, {999, "127.0.4.238"}} {
		a := SpeakerIP(c.i)
		if a.String() != c.want {
			t.Errorf("SpeakerIP(%d) = %v, want %s", c.i, a, c.want)
		}
		if j, ok := SpeakerIndex(a); !ok || j != c.i {
			t.Errorf("SpeakerIndex(%v) = %d, %v; want %d", a, j, ok, c.i)
		}
	}
	seen := map[netip.Addr]bool{}
	for i := range 1000 {
		a := SpeakerIP(i)
		if seen[a] || !a.IsLoopback() {
			t.Fatalf("SpeakerIP(%d) = %v: repeated or not loopback", i, a)
		}
		seen[a] = true
	}
	for _, s := range []string{"127.0.0.1", "127.0.1.0", "127.0.1.255", "10.0.1.1", "::1", "127.1.1.1"} {
		if i, ok := SpeakerIndex(netip.MustParseAddr(s)); ok {
			t.Errorf("SpeakerIndex(%s) = %d, want none", s, i)
		}
	}
}

func TestParseMetrics(t *testing.T) {
	m, err := parseMetrics(strings.NewReader("# HELP x\nx_total 3\ny{a=\"b\"} 1.5\nbroken\nz NaNx\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 2 || m["x_total"] != 3 || m[`y{a="b"}`] != 1.5 {
		t.Fatalf("parsed %v", m)
	}
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
