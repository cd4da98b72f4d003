package board

import (
	"testing"
	"time"
)

// cycle returns the line states of n detents from rest (A=B=high):
// clockwise A falls first.
func cycle(n int) [][2]bool {
	cw := [][2]bool{{false, true}, {false, false}, {true, false}, {true, true}}
	ccw := [][2]bool{{true, false}, {false, false}, {false, true}, {true, true}}
	seq := cw
	if n < 0 {
		seq, n = ccw, -n
	}
	var out [][2]bool
	for range n {
		out = append(out, seq...)
	}
	return out
}

func feed(q *quadDecoder, states [][2]bool, t0 time.Time, gap time.Duration) []int {
	var out []int
	for i, s := range states {
		if st := q.update(s[0], s[1], t0.Add(time.Duration(i/4)*gap)); st != 0 {
			out = append(out, st)
		}
	}
	return out
}

func TestQuadDecoder(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tests := []struct {
		name   string
		cfg    EncoderConfig
		states [][2]bool
		gap    time.Duration
		want   []int
	}{
		{"cw slow", EncoderConfig{}, cycle(3), time.Second, []int{1, 1, 1}},
		{"ccw slow", EncoderConfig{}, cycle(-2), time.Second, []int{-1, -1}},
		{"reverse wiring", EncoderConfig{Reverse: true}, cycle(2), time.Second, []int{-1, -1}},
		{"medium spin doubles", EncoderConfig{}, cycle(3), 60 * time.Millisecond, []int{1, 2, 2}},
		{"fast spin quadruples", EncoderConfig{}, cycle(3), 10 * time.Millisecond, []int{1, 4, 4}},
		{"acceleration off", EncoderConfig{AccelFast: -1, AccelMedium: -1}, cycle(3), 10 * time.Millisecond, []int{1, 1, 1}},
		{"2 steps per detent", EncoderConfig{StepsPerDetent: 2, AccelFast: -1, AccelMedium: -1}, cycle(1), time.Second, []int{1, 1}},
		{"bounce on one line cancels", EncoderConfig{}, [][2]bool{{false, true}, {true, true}, {false, true}, {true, true}}, time.Second, nil},
		{"double change ignored", EncoderConfig{}, [][2]bool{{false, false}, {true, true}}, time.Second, nil},
		{"half turn then back", EncoderConfig{}, [][2]bool{{false, true}, {false, false}, {false, true}, {true, true}}, time.Second, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := newQuadDecoder(tt.cfg, true, true)
			got := feed(q, tt.states, t0, tt.gap)
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("got %v, want %v", got, tt.want)
				}
			}
		})
	}
}

func TestQuadDecoderDirectionChangeResetsAcceleration(t *testing.T) {
	q := newQuadDecoder(EncoderConfig{}, true, true)
	t0 := time.Unix(0, 0)
	got := feed(q, cycle(1), t0, 0)
	got = append(got, feed(q, cycle(-1), t0.Add(5*time.Millisecond), 0)...)
	if len(got) != 2 || got[0] != 1 || got[1] != -1 {
		t.Fatalf("got %v, want [1 -1] (no acceleration across a reversal)", got)
	}
}

// FuzzQuadDecoder feeds arbitrary line sequences: the decoder never panics,
// never reports more than 4 steps per detent, and never reports more
// detents than transitions allow.
func FuzzQuadDecoder(f *testing.F) {
	f.Add([]byte{1, 0, 2, 3, 1, 0, 2, 3}, uint8(4))
	f.Add([]byte{2, 0, 1, 3}, uint8(2))
	f.Fuzz(func(t *testing.T, seq []byte, spd uint8) {
		cfg := EncoderConfig{StepsPerDetent: []int{1, 2, 4}[int(spd)%3]}
		q := newQuadDecoder(cfg, true, true)
		now := time.Unix(0, 0)
		detents := 0
		for i, s := range seq {
			st := q.update(s&2 != 0, s&1 != 0, now.Add(time.Duration(s)*time.Millisecond*time.Duration(i)))
			if st < -4 || st > 4 {
				t.Fatalf("step %d out of range", st)
			}
			if st != 0 {
				detents++
			}
		}
		if detents*q.cfg.StepsPerDetent > len(seq) {
			t.Fatalf("%d detents from %d transitions", detents, len(seq))
		}
	})
}
