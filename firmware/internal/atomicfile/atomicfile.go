// Package atomicfile writes small files so that a crash or power cut at any
// moment leaves either the old content or the new, never a mix: a synced
// temporary file in the same directory, a rename over the target, and a
// synced directory. Used for the device identity and the update agent's
// state. Imports only the standard library.
package atomicfile

import (
	"os"
	"path/filepath"
)

// Write replaces path with data (mode applies to the new file), creating
// the directory (0700) if needed.
func Write(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path)+"-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // no-op after the rename
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
