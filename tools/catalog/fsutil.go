package catalog

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// tmpPrefix starts the name of every file that is being written. Such files
// are never visible as tracks and are removed by the next Open.
const tmpPrefix = ".tmp-"

// createTemp creates a new temp file in dir with the given mode.
func createTemp(dir string, mode os.FileMode) (*os.File, error) {
	var r [8]byte
	if _, err := rand.Read(r[:]); err != nil {
		return nil, fmt.Errorf("naming temp file: %w", err)
	}
	name := filepath.Join(dir, tmpPrefix+hex.EncodeToString(r[:]))
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return nil, fmt.Errorf("creating temp file in %s (is the catalogue writable?): %w", dir, err)
	}
	return f, nil
}

// writeFileAtomic writes data to dir/name through a synced temp file and a
// rename, then syncs dir.
func writeFileAtomic(dir, name string, data []byte, mode os.FileMode) error {
	f, err := createTemp(dir, mode)
	if err != nil {
		return err
	}
	tmp := f.Name()
	if err := finishTemp(f, data); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("publishing %s: %w", name, err)
	}
	return syncDir(dir)
}

func finishTemp(f *os.File, data []byte) error {
	_, err := f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing %s (disk full?): %w", f.Name(), err)
	}
	return nil
}

// syncDir fsyncs a directory so that renames into it survive a power cut.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("opening directory %s to sync it: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	return nil
}

func isTemp(name string) bool { return strings.HasPrefix(name, tmpPrefix) }
