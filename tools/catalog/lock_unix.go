//go:build unix

package catalog

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// dirLock is an advisory flock on DIR/private/ingest.lock. Ingest holds it
// shared for its whole run; cleanup takes it exclusively without waiting,
// so it never removes the temp files of a live ingest in any process.
type dirLock struct{ f *os.File }

func lockDir(path string, exclusive, wait bool) (*dirLock, bool, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, false, fmt.Errorf("opening lock file %s: %w", path, err)
	}
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	if !wait {
		how |= syscall.LOCK_NB
	}
	for {
		err = syscall.Flock(int(f.Fd()), how)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("locking %s: %w", path, err)
	}
	return &dirLock{f: f}, true, nil
}

func (l *dirLock) unlock() {
	if l != nil && l.f != nil {
		l.f.Close() // closing the descriptor releases the flock
		l.f = nil
	}
}
