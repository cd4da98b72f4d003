//go:build !unix

package catalog

// dirLock is a no-op where flock is unavailable: exclusive locks are never
// granted, so Open never cleans up (temp files stay invisible, only unused).
type dirLock struct{}

func lockDir(path string, exclusive, wait bool) (*dirLock, bool, error) {
	if exclusive {
		return nil, false, nil
	}
	return &dirLock{}, true, nil
}

func (l *dirLock) unlock() {}
