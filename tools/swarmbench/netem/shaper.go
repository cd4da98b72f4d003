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
	return validRate(l.Rate)
}

func validRate(r float64) error {
	if r < 0 || math.IsNaN(r) || math.IsInf(r, 0) {
		return fmt.Errorf("%w: rate %v bytes/s", ErrBadLink, r)
	}
	if r > 0 && r < 1024 {
		return fmt.Errorf("%w: rate %v bytes/s is below 1 KiB/s", ErrBadLink, r)
	}
	return nil
}

// Bucket is a token bucket in bytes: one host's uplink. Every Shaper built
// on the same Bucket draws from it, so a host serving five peers splits its
// upload among them. Reservations are granted in the order they are made.
// Safe for concurrent use.
type Bucket struct {
	rate float64
	mu   sync.Mutex
	lim  *rate.Limiter
	last time.Time // latest now seen; the limiter must not see time go back
}

// NewBucket returns a bucket of bytesPerSec (at least 1 KiB/s) with a
// burst of one segment, starting empty.
func NewBucket(bytesPerSec float64) (*Bucket, error) {
	if bytesPerSec <= 0 {
		return nil, fmt.Errorf("%w: a bucket needs a positive rate, got %v", ErrBadLink, bytesPerSec)
	}
	if err := validRate(bytesPerSec); err != nil {
		return nil, err
	}
	b := &Bucket{rate: bytesPerSec, lim: rate.NewLimiter(rate.Limit(bytesPerSec), MaxSegment)}
	b.lim.AllowN(time.Time{}, 0)
	return b, nil
}

// Rate is the bucket's rate in bytes per second.
func (b *Bucket) Rate() float64 { return b.rate }

// reserve returns when n bytes offered at now may leave.
func (b *Bucket) reserve(now time.Time, n int) (time.Time, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if now.Before(b.last) {
		now = b.last // concurrent readers may stamp slightly out of order
	}
	b.last = now
	r := b.lim.ReserveN(now, n)
	if !r.OK() {
		return time.Time{}, fmt.Errorf("netem: segment of %d bytes exceeds the bucket", n)
	}
	return now.Add(r.DelayFrom(now)), nil
}

// Shaper decides when each segment of one direction is delivered: when its
// bucket (if any) lets it leave, plus the one-way delay. Several shapers may
// share a bucket (one per link of the same uplink). Safe for concurrent use.
type Shaper struct {
	delay  time.Duration
	bucket *Bucket // nil: unlimited
}

// NewShaper returns a shaper for l with a bucket of its own.
func NewShaper(l Link) (*Shaper, error) {
	if err := l.Validate(); err != nil {
		return nil, err
	}
	s := &Shaper{delay: l.Delay}
	if l.Rate > 0 {
		b, err := NewBucket(l.Rate)
		if err != nil {
			return nil, err
		}
		s.bucket = b
	}
	return s, nil
}

// NewLinkShaper returns a shaper that adds delay to every segment and
// paces it through b, which may be shared with other links; b nil means
// no cap.
func NewLinkShaper(delay time.Duration, b *Bucket) (*Shaper, error) {
	if err := (Link{Delay: delay}).Validate(); err != nil {
		return nil, err
	}
	return &Shaper{delay: delay, bucket: b}, nil
}

// Delay is the one-way delay.
func (s *Shaper) Delay() time.Duration { return s.delay }

// Bucket is the shaper's bucket (nil when uncapped).
func (s *Shaper) Bucket() *Bucket { return s.bucket }

// Schedule returns when a segment of n bytes read at now is delivered:
// after the token bucket lets it leave, plus the one-way delay. n must not
// exceed MaxSegment.
func (s *Shaper) Schedule(now time.Time, n int) (time.Time, error) {
	if n < 0 || n > MaxSegment {
		return time.Time{}, fmt.Errorf("netem: segment of %d bytes (max %d)", n, MaxSegment)
	}
	leave := now
	if s.bucket != nil && n > 0 {
		var err error
		if leave, err = s.bucket.reserve(now, n); err != nil {
			return time.Time{}, err
		}
	}
	return leave.Add(s.delay), nil
}
