package stream

import "context"

// Settle runs a scheduling round and waits until the origin has nothing in
// flight, so a test on a manual clock sees what the origin (which takes no
// virtual time) would have delivered by now. Peers' deliveries are on the
// manual clock and are not waited for.
func (s *Streamer) Settle(ctx context.Context) error {
	w := make(chan struct{})
	select {
	case s.settle <- w:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-w:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
