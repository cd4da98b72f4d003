package netem

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// MaxSegment is the largest read a proxy forwards as one segment; it is
// also the smallest token bucket a rate-limited Shaper uses.
const MaxSegment = 16 << 10

// ErrBadLink reports an invalid Link.
var ErrBadLink = errors.New("netem: invalid link")

// Link describes one direction of a connection.
type Link struct {
	// Delay is the one-way delay added to every segment.
	Delay time.Duration
	// Rate caps the direction in bytes per second; 0 means unlimited.
	Rate float64
}

// Validate checks the link.
func (l Link) Validate() error {
	if l.Delay < 0 || l.Delay > time.Minute {
		return fmt.Errorf("%w: delay %v outside [0, 1m]", ErrBadLink, l.Delay)
	}
	if l.Rate < 0 || math.IsNaN(l.Rate) || math.IsInf(l.Rate, 0) {
		return fmt.Errorf("%w: rate %v bytes/s", ErrBadLink, l.Rate)
	}
	if l.Rate > 0 && l.Rate < 1024 {
		return fmt.Errorf("%w: rate %v bytes/s is below 1 KiB/s", ErrBadLink, l.Rate)
	}
	return nil
}

// Shaper decides when each segment of a direction is delivered. One Shaper
// may be shared by several connections (a speaker's uplink is shared by all
// the peers it serves). Safe for concurrent use.
type Shaper struct {
	delay time.Duration
	mu    sync.Mutex
	lim   *rate.Limiter // nil: unlimited
}

// NewShaper returns a shaper for l.
func NewShaper(l Link) (*Shaper, error) {
	if err := l.Validate(); err != nil {
		return nil, err
	}
	s := &Shaper{delay: l.Delay}
	if l.Rate > 0 {
		s.lim = rate.NewLimiter(rate.Limit(l.Rate), MaxSegment)
		// Start with an empty bucket so a fresh link has no initial burst
		// beyond one segment's worth of credit accrued from now.
		s.lim.AllowN(time.Time{}, 0)
	}
	return s, nil
}

// Schedule returns when a segment of n bytes read at now is delivered:
// after the token bucket lets it leave, plus the one-way delay. n must not
// exceed MaxSegment.
func (s *Shaper) Schedule(now time.Time, n int) (time.Time, error) {
	if n < 0 || n > MaxSegment {
		return time.Time{}, fmt.Errorf("netem: segment of %d bytes (max %d)", n, MaxSegment)
	}
	leave := now
	if s.lim != nil && n > 0 {
		s.mu.Lock()
		r := s.lim.ReserveN(now, n)
		s.mu.Unlock()
		if !r.OK() {
			return time.Time{}, fmt.Errorf("netem: segment of %d bytes exceeds the bucket", n)
		}
		leave = now.Add(r.DelayFrom(now))
	}
	return leave.Add(s.delay), nil
}
