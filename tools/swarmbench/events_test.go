package swarmbench

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/starling-audio/starling/firmware/control"
)

const hexID = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

func TestParseEvent(t *testing.T) {
	for _, c := range []struct {
		typ, data string
		want      evKind
		ok, err   bool
	}{
		{control.EventTrack, `{"id":"` + hexID + `","title":"x","latency_ms":41.5}`, evTrack, true, false},
		{control.EventTrack, `{"id":"` + hexID + `","latency_ms":0}`, evTrack, true, false},
		{control.EventTrack, `{"id":"zz","latency_ms":3}`, 0, false, true},
		{control.EventTrack, `{"id":"` + hexID + `","latency_ms":-1}`, 0, false, true},
		{control.EventState, `{"state":"ended","track_id":"` + hexID + `","error":""}`, evEnded, true, false},
		{control.EventState, `{"state":"playing"}`, 0, false, false},
		{control.EventState, `{"state":"ended","track_id":"short"}`, 0, false, true},
		{control.EventBuffer, `{"underrun":true,"track_id":"` + hexID + `","position_ms":5}`, evUnderrun, true, false},
		{control.EventBuffer, `{"underrun":true}`, evUnderrun, true, false},
		{control.EventBuffer, `{"buffer_seconds":3}`, 0, false, false},
		{control.EventSeek, `{"position_ms":1000}`, 0, false, false},
		{control.EventBuffer, `[`, 0, false, true},
	} {
		be, ok, err := parseEvent(control.Event{Type: c.typ, Data: json.RawMessage(c.data)})
		if ok != c.ok || (err != nil) != c.err || (ok && be.kind != c.want) {
			t.Errorf("%s %s: kind %v ok %v err %v; want %v %v err=%v", c.typ, c.data, be.kind, ok, err, c.want, c.ok, c.err)
		}
		if ok && be.kind == evTrack && strings.Contains(c.data, "41.5") && be.latencyMs != 41.5 {
			t.Errorf("latency %v, want 41.5", be.latencyMs)
		}
	}
}

func FuzzParseEvent(f *testing.F) {
	f.Add(control.EventTrack, []byte(`{"id":"`+hexID+`","latency_ms":41.5}`))
	f.Add(control.EventBuffer, []byte(`{"underrun":true,"track_id":"`+hexID+`"}`))
	f.Add(control.EventState, []byte(`{"state":"ended","track_id":"`+hexID+`","error":"x"}`))
	f.Fuzz(func(t *testing.T, typ string, data []byte) {
		be, ok, err := parseEvent(control.Event{Type: typ, Data: data})
		if err != nil && ok {
			t.Fatal("an error and an event")
		}
		if ok && (be.latencyMs < 0 || math.IsNaN(be.latencyMs)) {
			t.Fatalf("latency %v accepted", be.latencyMs)
		}
	})
}

func TestPercentileNearestRank(t *testing.T) {
	v := []float64{10, 20, 30, 40, 50, 60, 70, 80, 90, 100}
	for q, want := range map[float64]float64{0.5: 50, 0.9: 90, 0.99: 100, 0.1: 10, 0: 10} {
		if got := percentile(v, q); got != want {
			t.Errorf("p%v = %v, want %v", q*100, got, want)
		}
	}
	if percentile(nil, .5) != 0 {
		t.Error("no samples gave a value")
	}
}

// TestOriginFloor: only each track's first play counts, by the fraction
// it reached (played time × speed ÷ duration, capped at 1; an open play
// runs to the end of the run).
func TestOriginFloor(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	infos := []trackInfo{{size: 1000, duration: 30 * time.Second}, {size: 2000, duration: 60 * time.Second}, {size: 500, duration: 10 * time.Second}}
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	plays := []*play{
		{track: 0, start: at(10), end: at(11)},      // later play of track 0: ignored
		{track: 0, start: at(0), end: at(1.5)},      // first: 1.5 s wall x 10 = 15 s of 30: half
		{track: 1, start: at(5), end: at(100)},      // played past its length: capped at 1
		{track: 2, start: at(20), end: time.Time{}}, // open at run end (at 20.5): 5 s of 10
	}
	got := originFloor(plays, infos, 10, at(20.5))
	if want := 1000*0.5 + 2000 + 500*0.5; math.Abs(got-want) > 1e-6 {
		t.Fatalf("floor %v bytes, want %v", got, want)
	}
}
