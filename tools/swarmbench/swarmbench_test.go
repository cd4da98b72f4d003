package swarmbench

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/starling-audio/starling/tools/fleet"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestZipfFollowsPowerLaw(t *testing.T) {
	z := NewZipf(rand.New(rand.NewPCG(1, 2)), 1, 50)
	counts := make([]int, 50)
	const n = 200000
	for range n {
		counts[z.Next()]++
	}
	// P(rank 1) / P(rank 2) = 2 and P(1)/P(10) = 10 for s = 1.
	for _, c := range []struct {
		k    int
		want float64
	}{{1, 2}, {9, 10}} {
		got := float64(counts[0]) / float64(counts[c.k])
		if math.Abs(got-c.want)/c.want > 0.1 {
			t.Errorf("P(rank 1)/P(rank %d) = %.2f, want %.0f ±10%%", c.k+1, got, c.want)
		}
	}
}

func TestPopularityIsAPermutation(t *testing.T) {
	p := Popularity(7, 100)
	seen := map[int]bool{}
	for _, v := range p {
		if v < 0 || v >= 100 || seen[v] {
			t.Fatalf("not a permutation: %v", p)
		}
		seen[v] = true
	}
	if q := Popularity(7, 100); !equal(p, q) {
		t.Fatal("same seed, different order")
	}
}

func equal(a, b []int) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return len(a) == len(b)
}

func TestListenerRates(t *testing.T) {
	cfg := Config{Dir: "x", Bin: "y"}
	if err := cfg.defaults(); err != nil {
		t.Fatal(err)
	}
	l := NewListener(&cfg, 0, 100, Popularity(1, 100))
	follow, skip := 0, 0
	const n = 20000
	for range n {
		a := l.Start()
		if a.Track < 0 || a.Track >= 100 {
			t.Fatalf("track %d out of range", a.Track)
		}
		if a.Follow {
			follow++
			if a.Track == 99 {
				t.Fatal("follow-on past the end of the catalogue")
			}
		}
		if a.SkipAt > 0 {
			skip++
			if a.SkipAt >= 1 {
				t.Fatalf("skip at %v of the track", a.SkipAt)
			}
		}
	}
	if f := float64(follow) / n; math.Abs(f-0.6) > 0.03 {
		t.Errorf("follow rate %.3f, want 0.6", f)
	}
	if s := float64(skip) / n; math.Abs(s-0.1) > 0.02 {
		t.Errorf("skip rate %.3f, want 0.1", s)
	}
	// One leave per hour: over 3600 one-second steps about one leave.
	leaves := 0
	for range 360000 {
		if l.Leaves(1) {
			leaves++
		}
	}
	if leaves < 70 || leaves > 130 {
		t.Errorf("%d leaves in 100 simulated hours at 1/h", leaves)
	}
}

func TestCountersAddAcrossRestarts(t *testing.T) {
	a := keep(map[string]float64{mOrigin: 100, "starling_buffer_seconds": 3, mStutters: 1})
	if _, ok := a["starling_buffer_seconds"]; ok {
		t.Fatal("a gauge was kept")
	}
	b := a.add(counters{mOrigin: 50, mPeers: 7})
	if b[mOrigin] != 150 || b[mPeers] != 7 || b[mStutters] != 1 {
		t.Fatalf("sum %v", b)
	}
}

func TestRatesAndPlot(t *testing.T) {
	var s []Sample
	for i := range 11 {
		f := float64(i)
		s = append(s, Sample{SimSeconds: 60 * f, Origin: f * (1 << 20), Peers: 2 * f * (1 << 20), Cache: 0})
	}
	tm, r, err := Rates(s, 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(tm) != 5 || tm[4] != 10 {
		t.Fatalf("times %v", tm)
	}
	for i := range tm {
		if math.Abs(r[0][i]-1) > 1e-9 || math.Abs(r[1][i]-2) > 1e-9 || r[2][i] != 0 {
			t.Fatalf("rates at %v: %v %v %v, want 1 2 0 MiB/min", tm[i], r[0][i], r[1][i], r[2][i])
		}
	}
	if _, _, err := Rates(s[:1], 5); !errors.Is(err, ErrNoSeries) {
		t.Fatalf("one sample: %v", err)
	}
	path := filepath.Join(t.TempDir(), "bytes.png")
	if err := Plot(path, s, Result{Speakers: 1, Tracks: 1, Mode: Mode{P2P: true, Speed: 1}}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil || len(b) < 8 || string(b[1:4]) != "PNG" {
		t.Fatalf("not a PNG (%d bytes, %v)", len(b), err)
	}
}

func TestConfigRejects(t *testing.T) {
	for _, c := range []Config{{}, {Dir: "d", Bin: "b", Speed: 500}, {Dir: "d", Bin: "b", Duration: time.Second},
		{Dir: "d", Bin: "b", MemoryLimit: 1 << 20}, {Dir: "d", Bin: "b", FollowProb: 2}} {
		if err := c.defaults(); !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: %v, want ErrConfig", c, err)
		}
	}
}

// TestTinyRun runs the whole benchmark natively: 3 speakers, 4 tracks of
// 8 s, one simulated minute at 8x, with the emulated network. It checks the
// figures are consistent, not how good they are.
func TestTinyRun(t *testing.T) {
	if os.Getenv("STARLING_TEST_EXEC") != "" || testing.Short() {
		t.Skip("process-mode run: native, non-short runs only")
	}
	for _, tool := range []string{"sox", "oggenc"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (make setup)", tool)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bin := t.TempDir()
	root := repoRoot(t)
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not on PATH")
	}
	build := exec.CommandContext(ctx, gobin, "build", "-o", bin+"/",
		"./firmware/cmd/starlingd", "./tools/starling-server", "./tools/starling-ingest")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the daemons: %v\n%s", err, out)
	}
	res, series, err := Run(ctx, Config{Dir: t.TempDir(), Bin: bin, Speakers: 3, Tracks: 4, Distinct: 2,
		TrackSeconds: 8, Duration: time.Minute, Speed: 8, ChurnPerHour: -1, Audio: "bitrate"})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", res)
	if res.Speakers != 3 || res.Tracks != 4 {
		t.Errorf("speakers %d tracks %d", res.Speakers, res.Tracks)
	}
	if res.Plays < 3 {
		t.Errorf("%d plays in a minute of three speakers", res.Plays)
	}
	if res.Bytes.Origin+res.Bytes.Peers == 0 {
		t.Error("no network bytes")
	}
	if res.LatencySamples == 0 || res.Latency.P50 <= 0 || res.Latency.P50 > res.Latency.P99 {
		t.Errorf("latency %+v from %d samples", res.Latency, res.LatencySamples)
	}
	if res.LatencySamples > res.Plays || res.Completed > res.Plays || res.StutterPlays > res.Plays {
		t.Errorf("%d latency samples, %d completed, %d stuttered of %d plays", res.LatencySamples, res.Completed, res.StutterPlays, res.Plays)
	}
	if res.Distinct < 1 || res.Distinct > res.Tracks || res.OriginFloor <= 0 || res.OriginFloor > 100 {
		t.Errorf("%d distinct tracks, origin floor %v%%", res.Distinct, res.OriginFloor)
	}
	if res.Mode.Audio != "bitrate" || !res.Mode.Tracker || !res.Mode.Search {
		t.Errorf("mode %+v", res.Mode)
	}
	for _, n := range res.Notes {
		if strings.Contains(n, "no speaker's") {
			t.Errorf("peer connections from unknown addresses: %s", n)
		}
	}
	if res.PeakAnon <= 0 || res.PeakRSS < res.PeakAnon {
		t.Errorf("memory anon %v hwm %v", res.PeakAnon, res.PeakRSS)
	}
	if len(series) < 2 {
		t.Errorf("%d samples", len(series))
	}
}

func repoRoot(t *testing.T) string {
	t.Helper()
	dir, _ := os.Getwd()
	for d := dir; d != "/"; d = filepath.Dir(d) {
		if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && strings.Contains(string(b), "module github.com/starling-audio/starling") {
			return d
		}
	}
	t.Fatal("repository root not found")
	return ""
}

func testTopology(t *testing.T, n int, seed uint64) *topology {
	t.Helper()
	cfg := Config{Dir: "d", Bin: "b", Speakers: n, Seed: seed, Speed: 10}
	if err := cfg.defaults(); err != nil {
		t.Fatal(err)
	}
	topo, err := newTopology(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	return topo
}

// TestLinkRTTSymmetricReproducible: the RTT of {a,b} does not depend on
// the order of the pair, is the same for the same seed, differs with the
// seed, stays in [min, max] and spreads over it.
func TestLinkRTTSymmetricReproducible(t *testing.T) {
	a, b, other := testTopology(t, 50, 1), testTopology(t, 50, 1), testTopology(t, 50, 2)
	lo, hi := a.rttMin, a.rttMax
	var sum time.Duration
	pairs, differ := 0, 0
	for i := range 50 {
		for j := i + 1; j < 50; j++ {
			r := a.RTT(i, j)
			if r != a.RTT(j, i) || r != b.RTT(i, j) {
				t.Fatalf("RTT(%d,%d) = %v, RTT(%d,%d) = %v, same seed again %v", i, j, r, j, i, a.RTT(j, i), b.RTT(i, j))
			}
			if r < lo || r >= hi {
				t.Fatalf("RTT(%d,%d) = %v outside [%v, %v)", i, j, r, lo, hi)
			}
			if other.RTT(i, j) != r {
				differ++
			}
			sum += r
			pairs++
		}
	}
	if differ < pairs*9/10 {
		t.Errorf("another seed changed only %d of %d links", differ, pairs)
	}
	mean := sum / time.Duration(pairs)
	if mid := (lo + hi) / 2; mean < mid-5*time.Millisecond || mean > mid+5*time.Millisecond {
		t.Errorf("mean RTT %v over %d links, want about %v (uniform)", mean, pairs, mid)
	}
}

// TestRouteIdentifiesLink: a connection dialled from speaker a's address
// to b's proxy gets the {a,b} delay both ways, a's bucket upstream and b's
// downstream; the same bucket object serves all of a speaker's links, and
// an unknown address gets the documented default and is counted.
func TestRouteIdentifiesLink(t *testing.T) {
	topo := testTopology(t, 300, 3)
	for _, c := range [][2]int{{0, 1}, {5, 260}, {260, 5}, {299, 0}} {
		a, b := c[0], c[1]
		up, down := topo.route(b)(fleet.SpeakerIP(a))
		want := topo.RTT(a, b) / 2
		if up.Delay() != want || down.Delay() != want {
			t.Errorf("link %d->%d: delays %v/%v, want %v", a, b, up.Delay(), down.Delay(), want)
		}
		if up.Bucket() != topo.buckets[a] || down.Bucket() != topo.buckets[b] || up.Bucket() == nil || up.Bucket() == down.Bucket() {
			t.Errorf("link %d->%d: buckets not the dialler's upstream and the listener's downstream", a, b)
		}
	}
	// b's uplink is the same bucket whether b listens or dials.
	_, asListener := topo.route(7)(fleet.SpeakerIP(8))
	asDialler, _ := topo.route(9)(fleet.SpeakerIP(7))
	if asListener.Bucket() != asDialler.Bucket() {
		t.Error("speaker 7 has two upload buckets")
	}
	if got := topo.buckets[7].Rate(); got != 1e6/8*10 {
		t.Errorf("bucket rate %v B/s, want 1 Mbit/s x speed 10", got)
	}
	if topo.unknown.Load() != 0 {
		t.Fatalf("known addresses counted as unknown")
	}
	up, down := topo.route(4)(netip.MustParseAddr("127.0.0.1"))
	if up.Delay() != topo.midRTT()/2 || up.Bucket() != nil || down.Bucket() != topo.buckets[4] {
		t.Errorf("unknown dialler: delay %v bucket %v; want the midpoint and no cap upstream", up.Delay(), up.Bucket())
	}
	if topo.unknown.Load() != 1 || topo.conns.Load() != 7 {
		t.Errorf("counted %d unknown of %d", topo.unknown.Load(), topo.conns.Load())
	}
}
