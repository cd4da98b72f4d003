package peer

import (
	"math"
	"time"
)

// Usefulness is what the overlay knows about one neighbour when it chooses
// whom to evict. Byte counts are "recent": exponentially decayed (see
// Decayed), so old merit fades.
type Usefulness struct {
	Down      float64       // recent bytes received from it
	Up        float64       // recent bytes sent to it
	Hits      float64       // recent useful search answers routed by it
	Faults    int           // penalties (bad chunks) since connected
	RTT       time.Duration // last measured round trip; 0 = unknown
	Protected bool          // too new to judge, or serving us right now
}

// Utility scores a neighbour; higher is more useful. The formula and its
// reasons are in NOTES.md. It is pure and monotone: more bytes or hits
// never lower it; more faults or a longer RTT never raise it.
func Utility(u Usefulness) float64 {
	const chunk = 16 << 10
	s := math.Log2(1+max(u.Down, 0)/chunk) + 0.5*math.Log2(1+max(u.Up, 0)/chunk) + 2*max(u.Hits, 0)
	s -= 4 * float64(u.Faults)
	rtt := u.RTT
	if rtt <= 0 {
		rtt = 100 * time.Millisecond // unknown: assume an average link
	}
	s -= math.Min(float64(rtt)/float64(250*time.Millisecond), 4)
	return s
}

// Evictee returns the index of the neighbour to evict among us, or -1 if
// all are protected. Ties go to the earlier index (callers pass a stable
// order, e.g. oldest connection first), so the choice is deterministic.
func Evictee(us []Usefulness) int {
	best, bestU := -1, 0.0
	for i, u := range us {
		if u.Protected {
			continue
		}
		v := Utility(u)
		if best < 0 || v < bestU {
			best, bestU = i, v
		}
	}
	return best
}

// Decayed is an exponentially decaying sum: each unit added loses half its
// weight every half-life. It is not safe for concurrent use.
type Decayed struct {
	v    float64
	last time.Time
}

// Add adds x at time now.
func (d *Decayed) Add(now time.Time, x, halfLife time.Duration) { d.AddF(now, float64(x), halfLife) }

// AddF adds x at time now.
func (d *Decayed) AddF(now time.Time, x float64, halfLife time.Duration) {
	d.v = d.At(now, halfLife) + x
	d.last = now
}

// At returns the decayed value at time now.
func (d *Decayed) At(now time.Time, halfLife time.Duration) float64 {
	if d.last.IsZero() || d.v == 0 {
		return d.v
	}
	dt := now.Sub(d.last)
	if dt <= 0 || halfLife <= 0 {
		return d.v
	}
	return d.v * math.Exp2(-float64(dt)/float64(halfLife))
}

// Rate turns a decayed byte sum into bytes per second: a sum of a steady
// rate r converges to r × halfLife / ln 2.
func Rate(sum float64, halfLife time.Duration) float64 {
	if halfLife <= 0 {
		return 0
	}
	return sum * math.Ln2 / halfLife.Seconds()
}
