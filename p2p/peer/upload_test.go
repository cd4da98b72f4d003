package peer

import (
	"context"
	"testing"
)

func TestUploaderSlotsAndPause(t *testing.T) {
	u := newUploader(2, 2)
	ctx := context.Background()
	for _, p := range []string{"a", "b"} {
		if a, err := u.acquire(ctx, p, 0); a != admitOK || err != nil {
			t.Fatalf("%s: %v %v", p, a, err)
		}
	}
	if a, _ := u.acquire(ctx, "c", 0); a != admitChoked {
		t.Errorf("third peer: %v, want choked", a)
	}
	// a queues a background and then b a streaming request: b's goes first.
	got := make(chan string, 2)
	for _, w := range []struct {
		p string
		u uint8
	}{{"a", 2}, {"b", 0}} {
		go func() {
			if a, err := u.acquire(ctx, w.p, w.u); a == admitOK && err == nil {
				got <- w.p
			}
		}()
		for { // wait until queued (no wall-clock assertion: just ordering)
			u.mu.Lock()
			n := len(u.waiting)
			u.mu.Unlock()
			if (w.p == "a" && n == 1) || (w.p == "b" && n == 2) {
				break
			}
		}
	}
	if a, _ := u.acquire(ctx, "a", 0); a != admitQueueFull {
		t.Errorf("a's third request: %v, want queue full", a)
	}
	u.release("a")
	if p := <-got; p != "b" {
		t.Errorf("first granted %s, want b (streaming)", p)
	}
	u.setPaused(true)
	u.release("b")
	u.release("b")
	if a, _ := u.acquire(ctx, "d", 0); a != admitPaused {
		t.Errorf("while paused: %v", a)
	}
}
