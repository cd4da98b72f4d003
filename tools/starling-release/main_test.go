package main

import (
	"context"
	"crypto/ed25519"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/starling-audio/starling/firmware/update"
	"github.com/starling-audio/starling/tools/catalog"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestKeygenSignPublish(t *testing.T) {
	dir := t.TempDir()
	prefix := filepath.Join(dir, "k")
	if err := (&keygenCmd{Out: prefix}).Run(); err != nil {
		t.Fatal(err)
	}
	if err := (&keygenCmd{Out: prefix}).Run(); err == nil {
		t.Fatal("keygen overwrote an existing key")
	}
	if fi, err := os.Stat(prefix + ".key"); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("private key mode: %v %v", fi.Mode(), err)
	}
	pb, _ := os.ReadFile(prefix + ".pub")
	pub, err := update.ParsePublicKey(string(pb))
	if err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(dir, "starlingd")
	os.WriteFile(img, []byte("an image"), 0o755)
	out := filepath.Join(dir, "rel")
	s := &signCmd{Key: prefix + ".key", Image: img, Release: "2.0.0", Arch: runtime.GOARCH, Channel: "beta", ExpiresIn: time.Hour, Out: out}
	if err := s.Run(); err != nil {
		t.Fatal(err)
	}
	var pushed string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		pushed = r.URL.String() + " " + string(b)
		io.WriteString(w, "{\"sessions\":3}\n")
	}))
	defer srv.Close()
	cat := filepath.Join(dir, "catalog")
	if err := (&publishCmd{Dir: out, Catalog: cat, Push: strings.TrimPrefix(srv.URL, "http://")}).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(pushed, "kind=firmware-release") || !strings.Contains(pushed, "channel=beta") || !strings.Contains(pushed, `"version":"2.0.0"`) {
		t.Fatalf("push = %q", pushed)
	}
	pd := filepath.Join(catalog.ReleasesDir(cat), "beta", runtime.GOARCH)
	raw, _ := os.ReadFile(filepath.Join(pd, "release.json"))
	sig, _ := os.ReadFile(filepath.Join(pd, "release.json.sig"))
	m, err := update.Verify(raw, sig, []ed25519.PublicKey{pub})
	if err != nil {
		t.Fatal(err)
	}
	if m.Version != "2.0.0" || m.Channel != "beta" || m.Size != int64(len("an image")) {
		t.Fatalf("manifest %+v", m)
	}
	if b, err := os.ReadFile(filepath.Join(pd, m.Image)); err != nil || string(b) != "an image" {
		t.Fatalf("published image: %q %v", b, err)
	}
}
