package fleet

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// NetAddrs are a speaker's network endpoints: where it reaches the service
// and the origin, where its peer listener binds, and the address it
// announces to the tracker (which may be a proxy in front of PeerListen).
type NetAddrs struct {
	Session    string // host:port of the session listener
	Origin     string // origin base URL
	PeerListen string // the daemon's own peer listener; "" when peers are off
	Advertise  string // announced to the tracker
}

// ErrClosed is returned by speaker operations on a closed fleet.
var ErrClosed = errors.New("fleet: closed")

// Running reports whether the speaker's daemon is running.
func (s *Speaker) Running() bool {
	select {
	case <-s.process().done:
		return false
	default:
		return true
	}
}

// Exited returns a channel closed when the current daemon process exits.
func (s *Speaker) Exited() <-chan struct{} { return s.process().done }

// StopSpeaker stops speaker i (SIGTERM, SIGKILL after grace) and leaves its
// state and cache in place, as a speaker unplugged by its owner would.
func (f *Fleet) StopSpeaker(i int, grace time.Duration) error {
	if i < 0 || i >= len(f.Speakers) {
		return fmt.Errorf("fleet: no speaker %d", i)
	}
	return f.Speakers[i].process().stop(grace)
}

// RestartSpeaker starts speaker i again with the same config, state and
// cache, and returns once it has logged in. It is an error to restart a
// running speaker.
func (f *Fleet) RestartSpeaker(ctx context.Context, i int) error {
	f.mu.Lock()
	closed := f.closed
	f.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if i < 0 || i >= len(f.Speakers) {
		return fmt.Errorf("fleet: no speaker %d", i)
	}
	s := f.Speakers[i]
	if s.Running() {
		return fmt.Errorf("fleet: %s is still running; stop it first", s.Name)
	}
	if err := f.launch(ctx, s); err != nil {
		return err
	}
	if err := waitReady(ctx, s); err != nil {
		return fmt.Errorf("fleet: %s did not come back: %w (log: %s)", s.Name, err, s.LogPath())
	}
	return nil
}

// StopService stops the catalogue service (SIGTERM, SIGKILL after grace),
// as an outage would; the speakers keep running. Close does not mind a
// stopped service.
func (f *Fleet) StopService(grace time.Duration) error {
	if f.server == nil {
		return fmt.Errorf("fleet: no service started")
	}
	return f.server.stop(grace)
}
