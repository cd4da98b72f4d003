package update

import (
	"crypto/ed25519"
	"testing"
)

// fuzzKey is a fixed key so the seed corpus holds validly signed inputs.
var fuzzKey = ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))

func FuzzVerify(f *testing.F) {
	raw, sig := release(f, fuzzKey, "2.0.0", []byte("image"), nil)
	f.Add(raw, sig)
	f.Add([]byte(`{}`), Sign(fuzzKey, []byte(`{}`)))
	f.Add([]byte(`{"version":"1"}trailing`), []byte("starling-release-sig-v1 0011 AAAA"))
	keys := []ed25519.PublicKey{pub(fuzzKey)}
	f.Fuzz(func(t *testing.T, raw, sig []byte) {
		m, err := Verify(raw, sig, keys)
		if err != nil {
			return
		}
		if err := m.validate(); err != nil {
			t.Fatalf("Verify accepted an invalid manifest: %v", err)
		}
		_ = (Policy{Arch: "arm64", Running: "1.0.0", Now: t0}).Check(m)
	})
}

func FuzzDecodeState(f *testing.F) {
	f.Add([]byte(`{"step":"idle","good":"1.0.0","good_slot":"a"}`))
	f.Add([]byte(`{"step":"verifying","good_slot":"a","pending":{"version":"2","slot":"b","from_slot":"a","attempts":1}}`))
	f.Add([]byte(`{"pending":{"slot":"a","from_slot":"a"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := decodeState(b)
		if err != nil {
			return
		}
		if p := s.Pending; p != nil && (p.Slot == p.FromSlot || !validSlot(p.Slot)) {
			t.Fatalf("accepted pending %+v", p)
		}
	})
}

func FuzzParseVersion(f *testing.F) {
	for _, s := range []string{"1", "2.0.0", "v3.1", "1.2.3.4", "01", "1..2", "4294967296"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseVersion(s)
		if err != nil {
			return
		}
		if v.Compare(v) != 0 {
			t.Fatal("version not equal to itself")
		}
	})
}
