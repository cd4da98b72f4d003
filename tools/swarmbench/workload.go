package swarmbench

import (
	"math"
	"math/rand/v2"
	"sort"
)

// Zipf draws ranks 0..n-1 with P(k) proportional to 1/(k+1)^s, by inverse
// CDF; unlike math/rand's Zipf it allows s = 1 (and any s >= 0).
type Zipf struct {
	cdf []float64
	rng *rand.Rand
}

// NewZipf returns a sampler over n ranks.
func NewZipf(rng *rand.Rand, s float64, n int) *Zipf {
	cdf := make([]float64, n)
	sum := 0.0
	for k := range n {
		sum += 1 / math.Pow(float64(k+1), s)
		cdf[k] = sum
	}
	for k := range cdf {
		cdf[k] /= sum
	}
	return &Zipf{cdf: cdf, rng: rng}
}

// Next returns a rank.
func (z *Zipf) Next() int {
	u := z.rng.Float64()
	i := sort.SearchFloat64s(z.cdf, u)
	return min(i, len(z.cdf)-1)
}

// Popularity maps popularity ranks to catalogue positions with a seeded
// shuffle, so that the most popular tracks are spread over the catalogue
// (and "the next track in order" is usually less popular).
func Popularity(seed uint64, n int) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	r := rand.New(rand.NewPCG(seed, 0x706f70))
	r.Shuffle(n, func(i, j int) { p[i], p[j] = p[j], p[i] })
	return p
}

// Action is what a speaker's listener does next.
type Action struct {
	// Track is the catalogue position to play (new session) or queue.
	Track int
	// Follow: queue Track+1 after it.
	Follow bool
	// SkipAt, in (0,1), skips the track at this fraction of its length;
	// 0 plays it to the end.
	SkipAt float64
}

// Listener is one speaker's seeded listening behaviour.
type Listener struct {
	cfg  *Config
	rng  *rand.Rand
	zipf *Zipf
	pop  []int
	n    int
}

// NewListener returns speaker i's listener over a catalogue of n tracks.
func NewListener(cfg *Config, i int, n int, pop []int) *Listener {
	rng := rand.New(rand.NewPCG(cfg.Seed, uint64(i)+1))
	return &Listener{cfg: cfg, rng: rng, zipf: NewZipf(rng, cfg.ZipfS, n), pop: pop, n: n}
}

// Start begins a new session: a track by popularity.
func (l *Listener) Start() Action {
	return l.decorate(l.pop[l.zipf.Next()])
}

// Then decides about the play of catalogue position t that has just
// started as a follow-on.
func (l *Listener) Then(t int) Action { return l.decorate(t) }

func (l *Listener) decorate(t int) Action {
	a := Action{Track: t}
	a.Follow = t+1 < l.n && l.rng.Float64() < l.cfg.FollowProb
	if l.rng.Float64() < l.cfg.SkipProb {
		a.SkipAt = 0.1 + 0.7*l.rng.Float64()
	}
	return a
}

// Leaves reports whether the speaker leaves during a step of the given
// simulated length (a Poisson process at ChurnPerHour).
func (l *Listener) Leaves(stepSimSeconds float64) bool {
	if l.cfg.ChurnPerHour <= 0 {
		return false
	}
	p := 1 - math.Exp(-l.cfg.ChurnPerHour*stepSimSeconds/3600)
	return l.rng.Float64() < p
}

// Uniform returns a value in [lo, hi) from the listener's stream.
func (l *Listener) Uniform(lo, hi float64) float64 { return lo + (hi-lo)*l.rng.Float64() }
