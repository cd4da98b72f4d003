package stream_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/starling-audio/starling/p2p/stream"
)

const s = time.Second

func TestSelect(t *testing.T) {
	const c = 16384
	fast := stream.PeerLoad{Rate: 10 * c, Free: 4}                  // a chunk in 0.1 s
	slow := stream.PeerLoad{Rate: c / 4, Free: 4}                   // a chunk in 4 s
	busy := stream.PeerLoad{Rate: 10 * c, Free: 0}                  // fast but no slot
	queued := stream.PeerLoad{Rate: c, Outstanding: 3 * c, Free: 1} // next chunk in 4 s
	w := func(chunk int, dl time.Duration, origin bool, peers ...int) stream.Want {
		return stream.Want{Chunk: chunk, Bytes: c, Deadline: dl, Origin: origin, Slack: s, Peers: peers}
	}
	cases := []struct {
		name   string
		wants  []stream.Want
		peers  []stream.PeerLoad
		origin int
		want   []stream.Assignment
	}{
		{"no peers: origin", []stream.Want{w(0, 0, true)}, nil, 4,
			[]stream.Assignment{{0, stream.OriginPeer}}},
		{"no peers, origin full: wait", []stream.Want{w(0, 0, true)}, nil, 0, nil},
		{"no peers, origin not allowed: nothing", []stream.Want{w(0, 0, false)}, nil, 4, nil},
		{"fast peer in time", []stream.Want{w(3, 5*s, true, 0)}, []stream.PeerLoad{fast}, 4,
			[]stream.Assignment{{0, 0}}},
		{"peer too slow for the deadline: origin", []stream.Want{w(1, 2*s, true, 0)}, []stream.PeerLoad{slow}, 4,
			[]stream.Assignment{{0, stream.OriginPeer}}},
		{"slack counts: 0.1 s + 1 s > 1 s", []stream.Want{w(1, s, true, 0)}, []stream.PeerLoad{fast}, 4,
			[]stream.Assignment{{0, stream.OriginPeer}}},
		{"origin not allowed: best effort to the slow peer", []stream.Want{w(1, 2*s, false, 0)}, []stream.PeerLoad{slow}, 4,
			[]stream.Assignment{{0, 0}}},
		{"lowest expected time wins", []stream.Want{w(5, 30*s, false, 0, 1)}, []stream.PeerLoad{slow, fast}, 0,
			[]stream.Assignment{{0, 1}}},
		{"outstanding bytes count", []stream.Want{w(5, 30*s, false, 0, 1)}, []stream.PeerLoad{queued, slow}, 0,
			[]stream.Assignment{{0, 0}}}, // both 4 s: tie goes to the lower index
		{"busy fast peer is waited for, not replaced by the origin", []stream.Want{w(5, 5*s, true, 0)}, []stream.PeerLoad{busy}, 4, nil},
		{"busy peer too late: origin", []stream.Want{w(0, 0, true, 0)}, []stream.PeerLoad{busy}, 4,
			[]stream.Assignment{{0, stream.OriginPeer}}},
		{"most urgent first, load accumulates", []stream.Want{w(9, 40*s, false, 0), w(8, 4*s, true, 0), w(7, 3*s, true, 0)},
			[]stream.PeerLoad{{Rate: c, Free: 2}}, 1,
			// chunk 7: edt 1 s + 1 s <= 3 s → peer; chunk 8: edt 2 s + 1 s <= 4 s → peer; chunk 9: no slot, no origin
			[]stream.Assignment{{2, 0}, {1, 0}}},
		{"urgency before deadline", []stream.Want{
			{Chunk: 1, Bytes: c, Deadline: 100 * s, Urgency: stream.UrgencyPrefetch, Origin: true},
			{Chunk: 50, Bytes: c, Deadline: 200 * s, Urgency: stream.UrgencyStreaming, Origin: true}}, nil, 1,
			[]stream.Assignment{{1, stream.OriginPeer}}},
		{"peer index out of range ignored", []stream.Want{w(0, 10*s, true, 7)}, []stream.PeerLoad{fast}, 1,
			[]stream.Assignment{{0, stream.OriginPeer}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := append([]stream.PeerLoad(nil), tc.peers...)
			got := stream.Select(tc.wants, tc.peers, tc.origin)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			if !reflect.DeepEqual(before, tc.peers) {
				t.Fatal("Select modified its input")
			}
			if again := stream.Select(tc.wants, tc.peers, tc.origin); !reflect.DeepEqual(again, got) {
				t.Fatal("not deterministic")
			}
		})
	}
}

func TestOriginMode(t *testing.T) {
	for _, tc := range []struct {
		was      bool
		buffered time.Duration
		complete bool
		want     bool
	}{
		{false, 0, false, true},
		{false, 4 * s, false, true},
		{false, 7 * s, false, false}, // between: stays off
		{true, 7 * s, false, true},   // between: stays on
		{true, 10 * s, false, false},
		{true, 0, true, false}, // nothing left to fetch
	} {
		if got := stream.OriginMode(tc.was, tc.buffered, 5*s, 10*s, tc.complete); got != tc.want {
			t.Errorf("OriginMode(%v, %v, complete %v) = %v", tc.was, tc.buffered, tc.complete, got)
		}
	}
}

func TestPeersCarryIn(t *testing.T) {
	for _, tc := range []struct {
		buffered  time.Duration
		rate, bps float64
		want      time.Duration
	}{
		{10 * s, 1, 1000, 0},
		{2 * s, 1000, 1000, -1},
		{2 * s, 500, 1000, -1},
		{0, 2000, 1000, 10 * s}, // 10 s × 1000 B/s missing at a 1000 B/s surplus
		{5 * s, 6000, 1000, s},
	} {
		if got := stream.PeersCarryIn(tc.buffered, 10*s, tc.rate, tc.bps); got != tc.want {
			t.Errorf("PeersCarryIn(%v, %v, %v) = %v, want %v", tc.buffered, tc.rate, tc.bps, got, tc.want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (stream.Config{}).Validate(); err != nil {
		t.Fatalf("zero config (defaults): %v", err)
	}
	if err := stream.DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]stream.Config{
		"low above well filled": {Low: 20 * s, WellFilled: 10 * s},
		"very low above low":    {VeryLow: 6 * s},
		"negative":              {Urgent: -s},
		"prefetch order":        {PrefetchSearch: 5 * s, PrefetchOrigin: 10 * s},
		"stall factor":          {StallFactor: 0.5},
		"peer requests":         {PeerRequests: 1000},
		"origin batch":          {OriginBatch: -1},
		"faults":                {MaxPeerFaults: -2},
	} {
		if err := c.Validate(); !errors.Is(err, stream.ErrConfig) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := stream.New(stream.Config{}, stream.Deps{}); !errors.Is(err, stream.ErrConfig) {
		t.Errorf("missing deps: %v", err)
	}
}
