package server

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// DevicesFile is the device registry's file in the state directory.
const DevicesFile = "devices.json"

// Registry errors.
var (
	ErrBadCredentials = errors.New("server: unknown device or wrong secret")
	ErrDeviceExists   = errors.New("server: a device with that name exists")
)

// maxRegistryFile bounds the registry file read from disk.
const maxRegistryFile = 64 << 20

// Device is a provisioned speaker.
type Device struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	Channel    string    `json:"channel"`
	SecretHash string    `json:"secret_sha256"` // hex SHA-256 of the 32-byte secret
	Created    time.Time `json:"created"`
}

// Registry is the file-backed device registry. It rereads the file when it
// changed on disk, so `device add` works while the service runs.
type Registry struct {
	path string
	mu   sync.Mutex
	mod  time.Time
	size int64
	devs map[string]Device
}

// OpenRegistry opens (or starts empty) the registry in dir.
func OpenRegistry(dir string) (*Registry, error) {
	r := &Registry{path: filepath.Join(dir, DevicesFile), devs: map[string]Device{}}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.reloadLocked(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *Registry) reloadLocked() error {
	st, err := os.Stat(r.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading device registry: %w", err)
	}
	if st.ModTime().Equal(r.mod) && st.Size() == r.size {
		return nil
	}
	f, err := os.Open(r.path)
	if err != nil {
		return fmt.Errorf("reading device registry: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxRegistryFile+1))
	if err != nil {
		return fmt.Errorf("reading device registry: %w", err)
	}
	if len(b) > maxRegistryFile {
		return fmt.Errorf("device registry %s is over %d bytes", r.path, maxRegistryFile)
	}
	var list []Device
	if err := json.Unmarshal(b, &list); err != nil {
		return fmt.Errorf("parsing device registry %s (fix or restore it): %w", r.path, err)
	}
	devs := make(map[string]Device, len(list))
	for _, d := range list {
		devs[d.ID] = d
	}
	r.devs, r.mod, r.size = devs, st.ModTime(), st.Size()
	return nil
}

// Add provisions a device and returns it with its secret (shown once).
func (r *Registry) Add(name, channel string, now time.Time) (Device, []byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.reloadLocked(); err != nil {
		return Device{}, nil, err
	}
	for _, d := range r.devs {
		if d.Name == name {
			return Device{}, nil, fmt.Errorf("%w: %q", ErrDeviceExists, name)
		}
	}
	var idb [8]byte
	secret := make([]byte, 32)
	if _, err := rand.Read(idb[:]); err != nil {
		return Device{}, nil, err
	}
	if _, err := rand.Read(secret); err != nil {
		return Device{}, nil, err
	}
	sum := sha256.Sum256(secret)
	d := Device{ID: "dev-" + hex.EncodeToString(idb[:]), Name: name, Channel: channel, SecretHash: hex.EncodeToString(sum[:]), Created: now.UTC()}
	r.devs[d.ID] = d
	list := make([]Device, 0, len(r.devs))
	for _, x := range r.devs {
		list = append(list, x)
	}
	b, err := json.MarshalIndent(list, "", "  ")
	if err != nil {
		return Device{}, nil, err
	}
	if err := writeFileAtomic(r.path, b, 0o600); err != nil {
		return Device{}, nil, fmt.Errorf("saving device registry: %w", err)
	}
	if st, err := os.Stat(r.path); err == nil {
		r.mod, r.size = st.ModTime(), st.Size()
	}
	return d, secret, nil
}

// Verify checks a device's secret in constant time.
func (r *Registry) Verify(id string, secret []byte) (Device, error) {
	r.mu.Lock()
	d, ok := r.devs[id]
	if !ok {
		if err := r.reloadLocked(); err != nil {
			r.mu.Unlock()
			return Device{}, err
		}
		d, ok = r.devs[id]
	}
	r.mu.Unlock()
	sum := sha256.Sum256(secret)
	want, err := hex.DecodeString(d.SecretHash)
	if !ok || err != nil || len(want) != len(sum) {
		want = make([]byte, len(sum)) // compare anyway: same work either way
		ok = false
	}
	if subtle.ConstantTimeCompare(sum[:], want) != 1 || !ok {
		return Device{}, ErrBadCredentials
	}
	return d, nil
}
