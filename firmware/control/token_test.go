package control_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/starling-audio/starling/firmware/control"
)

func TestTokenCreatedOnceAndReused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "control.token")
	tok, err := control.LoadOrCreateToken(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(tok) != control.TokenLen {
		t.Errorf("token %q has %d characters, want %d", tok, len(tok), control.TokenLen)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("token file mode %#o, want 0600", perm)
	}
	again, err := control.LoadOrCreateToken(path)
	if err != nil || again != tok {
		t.Errorf("second start: %q, %v; want the same token %q", again, err, tok)
	}
	read, err := control.ReadTokenFile(path)
	if err != nil || read != tok {
		t.Errorf("ReadTokenFile: %q, %v", read, err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("token directory holds %d entries, want only the token (temporary file left behind?)", len(entries))
	}
	other, _ := control.NewToken()
	if other == tok {
		t.Error("two tokens are equal")
	}
}

func TestTokenConcurrentCreationAgrees(t *testing.T) {
	path := filepath.Join(t.TempDir(), "control.token")
	const n = 8
	toks := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { toks[i], errs[i] = control.LoadOrCreateToken(path) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || toks[i] != toks[0] {
			t.Errorf("racer %d: %q, %v; want %q", i, toks[i], errs[i], toks[0])
		}
	}
}

func TestTokenFileRefused(t *testing.T) {
	dir := t.TempDir()
	good, _ := control.NewToken()
	cases := []struct {
		name    string
		content string
		mode    os.FileMode
		want    string
	}{
		{"readable by others", good + "\n", 0o644, "chmod 600"},
		{"group readable", good, 0o640, "chmod 600"},
		{"garbage", "hunter2\n", 0o600, "malformed token"},
		{"not base64url", strings.Repeat("+", control.TokenLen), 0o600, "malformed token"},
		{"too big", strings.Repeat("A", 1000), 0o600, "malformed token"},
		{"empty", "", 0o600, "malformed token"},
	}
	for _, c := range cases {
		path := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_"))
		if err := os.WriteFile(path, []byte(c.content), c.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, c.mode); err != nil { // umask-proof
			t.Fatal(err)
		}
		_, err := control.LoadOrCreateToken(path)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: LoadOrCreateToken error %v, want one mentioning %q", c.name, err, c.want)
		}
	}
	if _, err := control.LoadOrCreateToken(dir); err == nil {
		t.Error("a directory was accepted as a token file")
	}
	if _, err := control.ReadTokenFile(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	if _, err := control.LoadOrCreateToken(""); err == nil {
		t.Error("empty path accepted")
	}
}
