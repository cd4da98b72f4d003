package peer

import (
	"testing"
	"time"
)

func TestUtilityOrder(t *testing.T) {
	tests := []struct {
		name        string
		worse, best Usefulness
	}{
		{"bytes down count", Usefulness{}, Usefulness{Down: 1 << 20}},
		{"bytes up count less than down", Usefulness{Up: 1 << 20}, Usefulness{Down: 1 << 20}},
		{"search hits count", Usefulness{}, Usefulness{Hits: 1}},
		{"faults cost", Usefulness{Down: 1 << 20, Faults: 2}, Usefulness{Down: 1 << 20}},
		{"slow link costs", Usefulness{RTT: time.Second}, Usefulness{RTT: 5 * time.Millisecond}},
	}
	for _, tc := range tests {
		if Utility(tc.worse) >= Utility(tc.best) {
			t.Errorf("%s: %v >= %v", tc.name, Utility(tc.worse), Utility(tc.best))
		}
	}
}

func TestEvictee(t *testing.T) {
	us := []Usefulness{{Down: 1 << 20}, {}, {Hits: 3}, {Protected: true, Faults: 9}}
	if got := Evictee(us); got != 1 {
		t.Errorf("evictee %d, want 1", got)
	}
	if got := Evictee([]Usefulness{{Protected: true}}); got != -1 {
		t.Errorf("all protected: %d", got)
	}
	if got := Evictee([]Usefulness{{}, {}}); got != 0 {
		t.Errorf("tie: %d, want the first", got)
	}
}

func TestDecayed(t *testing.T) {
	var d Decayed
	t0 := time.Unix(1000, 0)
	d.AddF(t0, 100, time.Minute)
	if v := d.At(t0.Add(time.Minute), time.Minute); v < 49.9 || v > 50.1 {
		t.Errorf("after one half-life %v, want 50", v)
	}
}
