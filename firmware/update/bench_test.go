package update

import (
	"crypto/ed25519"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

func BenchmarkVerify(b *testing.B) {
	key := newKey(b)
	raw, sig := release(b, key, "2.0.0", []byte("image"), nil)
	keys := []ed25519.PublicKey{pub(newKey(b)), pub(key)}
	for b.Loop() {
		if _, err := Verify(raw, sig, keys); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheckImage measures verifying a 16 MiB image (size + SHA-256),
// done after download and at every start of a version on probation.
func BenchmarkCheckImage(b *testing.B) {
	img := randomImage(b, 16<<20)
	raw, _ := release(b, newKey(b), "2.0.0", img, nil)
	var m Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		b.Fatal(err)
	}
	p := filepath.Join(b.TempDir(), "img")
	if err := os.WriteFile(p, img, 0o600); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(img)))
	for b.Loop() {
		if err := checkImage(p, &m); err != nil {
			b.Fatal(err)
		}
	}
}
