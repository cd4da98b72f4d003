package update

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// t0 is the tests' fixed "now".
var t0 = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func newKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

func pub(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

// release builds a manifest for img; edit adjusts it before signing.
func release(t testing.TB, key ed25519.PrivateKey, version string, img []byte, edit func(*Manifest)) (raw, sig []byte) {
	t.Helper()
	sum := sha256.Sum256(img)
	m := Manifest{Version: version, Arch: "arm64", Channel: "stable", Image: "starlingd-" + version,
		Size: int64(len(img)), SHA256: hex.EncodeToString(sum[:]), MinVersion: "1.0.0",
		Created: t0.Add(-time.Hour), Expires: t0.Add(30 * 24 * time.Hour), Notes: "test"}
	if edit != nil {
		edit(&m)
	}
	raw, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return raw, Sign(key, raw)
}

func randomImage(t testing.TB, n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// origin is a loopback release server over a directory.
type origin struct {
	dir      string
	srv      *httptest.Server
	ranges   atomic.Int32
	mu       sync.Mutex
	truncate int64 // when > 0, images are cut after this many bytes (once)
}

func newOrigin(t testing.TB) *origin {
	o := &origin{dir: t.TempDir()}
	fs := http.FileServer(http.Dir(o.dir))
	o.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Range") != "" {
			o.ranges.Add(1)
		}
		var cut int64
		if ext := filepath.Ext(r.URL.Path); ext != ".json" && ext != ".sig" {
			o.mu.Lock()
			cut, o.truncate = o.truncate, 0
			o.mu.Unlock()
		}
		if cut > 0 {
			b, err := os.ReadFile(filepath.Join(o.dir, filepath.FromSlash(r.URL.Path)))
			if err != nil {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Length", strconv.Itoa(len(b)))
			w.Write(b[:cut])
			panic(http.ErrAbortHandler) // the connection drops mid-body
		}
		fs.ServeHTTP(w, r)
	}))
	t.Cleanup(o.srv.Close)
	return o
}

// publish puts a release where agents on stable/arm64 look.
func (o *origin) publish(t testing.TB, version string, img, raw, sig []byte) {
	t.Helper()
	d := filepath.Join(o.dir, "releases", "stable", "arm64")
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	var m Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{m.Image: img, slotManifest: raw, slotSignature: sig} {
		if err := os.WriteFile(filepath.Join(d, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

type fakeRestarter struct{ n atomic.Int32 }

func (f *fakeRestarter) Restart(context.Context) error { f.n.Add(1); return nil }

// speaker is one update directory with a seed binary (version 1.0.0).
type speaker struct {
	dir  string
	seed string
	keys []ed25519.PublicKey
	url  string
	rs   *fakeRestarter
}

func newSpeaker(t testing.TB, o *origin, keys ...ed25519.PublicKey) *speaker {
	t.Helper()
	d := t.TempDir()
	seed := filepath.Join(d, "factory-starlingd")
	if err := os.WriteFile(seed, []byte("factory image 1.0.0"), 0o755); err != nil {
		t.Fatal(err)
	}
	return &speaker{dir: filepath.Join(d, "update"), seed: seed, keys: keys, url: o.srv.URL, rs: &fakeRestarter{}}
}

func (s *speaker) agent(t testing.TB, version string) *Agent {
	t.Helper()
	a, err := New(Config{Dir: s.dir, Keys: s.keys, Arch: "arm64", Version: version, BaseURL: s.url,
		Restarter: s.rs, HealthTimeout: 20 * time.Millisecond, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// boot starts "version" the way starlingd does: Boot with the factory seed.
func (s *speaker) boot(t testing.TB, version string) (*Agent, BootResult) {
	t.Helper()
	a := s.agent(t, version)
	r, err := a.Boot(s.seed)
	if err != nil {
		t.Fatalf("boot %s: %v", version, err)
	}
	return a, r
}

// runningVersion is what starlingd in the current slot would report.
func (s *speaker) runningVersion(t testing.TB) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(s.dir, "current", slotManifest))
	if os.IsNotExist(err) {
		return "1.0.0"
	}
	if err != nil {
		t.Fatal(err)
	}
	var m Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m.Version
}

// checkConsistent asserts the invariants every fault must leave: current
// points at a slot whose binary verifies (or is the factory seed), and the
// state agrees with the link.
func (s *speaker) checkConsistent(t testing.TB) State {
	t.Helper()
	a := s.agent(t, s.runningVersion(t))
	cur, err := a.readCurrent()
	if err != nil || cur == "" {
		t.Fatalf("current slot: %q %v", cur, err)
	}
	if err := a.verifySlot(cur); err != nil {
		t.Fatalf("current slot %s does not verify: %v", cur, err)
	}
	if _, err := os.Stat(a.slotPath(cur, BinaryName)); err != nil {
		t.Fatalf("current slot %s has no binary: %v", cur, err)
	}
	st, err := a.loadState()
	if err != nil {
		t.Fatal(err)
	}
	if st.Pending != nil && st.Pending.Slot != cur && st.Pending.FromSlot != cur {
		t.Fatalf("pending %+v does not involve the current slot %s", st.Pending, cur)
	}
	if st.Pending == nil && st.GoodSlot != cur {
		t.Fatalf("nothing pending but good slot %s != current %s", st.GoodSlot, cur)
	}
	return st
}
