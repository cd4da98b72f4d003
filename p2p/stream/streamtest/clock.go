package streamtest

import (
	"sync"
	"time"

	"github.com/starling-audio/starling/p2p/stream"
)

// Clock is a manual clock: time moves only on Advance, and timers fire
// then. It implements stream.Clock.
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*timer
}

var _ stream.Clock = (*Clock)(nil)

type timer struct {
	c    *Clock
	when time.Time
	ch   chan time.Time
}

// NewClock starts at a fixed instant.
func NewClock() *Clock { return &Clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

// Now returns the manual time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// NewTimer returns a timer firing d after now (at once if d <= 0).
func (c *Clock) NewTimer(d time.Duration) stream.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.addLocked(c.now.Add(d))
}

// At returns a channel that receives when the clock reaches t.
func (c *Clock) At(t time.Time) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.addLocked(t).ch
}

func (c *Clock) addLocked(when time.Time) *timer {
	t := &timer{c: c, when: when, ch: make(chan time.Time, 1)}
	if !when.After(c.now) {
		t.ch <- c.now
		return t
	}
	c.timers = append(c.timers, t)
	return t
}

// Advance moves the clock forward by d and fires the timers due.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.timers[:0]
	for _, t := range c.timers {
		if t.when.After(c.now) {
			kept = append(kept, t)
			continue
		}
		t.ch <- c.now
	}
	clear(c.timers[len(kept):])
	c.timers = kept
}

func (t *timer) C() <-chan time.Time { return t.ch }

func (t *timer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	for i, o := range t.c.timers {
		if o == t {
			t.c.timers = append(t.c.timers[:i], t.c.timers[i+1:]...)
			return true
		}
	}
	return false
}
