package track

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"
)

func testManifest(t testing.TB, size int) (*Manifest, [][]byte) {
	t.Helper()
	data := make([]byte, size)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	m := &Manifest{Size: int64(size), DurationMs: 1000, Codec: CodecVorbis, SampleRate: 44100, Channels: 2}
	var chunks [][]byte
	for off := 0; off < size; off += ChunkSize {
		c := data[off:min(off+ChunkSize, size)]
		chunks = append(chunks, c)
		m.Chunks = append(m.Chunks, HashChunk(c))
	}
	return m, chunks
}

func TestManifestRoundTrip(t *testing.T) {
	for _, size := range []int{1, ChunkSize - 1, ChunkSize, ChunkSize + 1, 5*ChunkSize + 77} {
		m, chunks := testManifest(t, size)
		raw, err := m.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		id, err := m.ID()
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseVerifiedManifest(id, raw)
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		if got.Size != m.Size || len(got.Chunks) != len(chunks) || got.Codec != m.Codec {
			t.Fatalf("size %d: round trip mismatch: %+v", size, got)
		}
		for i, c := range chunks {
			if err := got.VerifyChunk(i, c); err != nil {
				t.Fatalf("chunk %d: %v", i, err)
			}
		}
		bad := bytes.Clone(chunks[0])
		bad[0] ^= 1
		if err := got.VerifyChunk(0, bad); !errors.Is(err, ErrChunkHash) {
			t.Fatalf("corrupt chunk accepted: %v", err)
		}
		if err := got.VerifyChunk(len(chunks), chunks[0]); !errors.Is(err, ErrChunkIndex) {
			t.Fatalf("out-of-range chunk accepted: %v", err)
		}
		raw[len(raw)-1] ^= 1
		if _, err := ParseVerifiedManifest(id, raw); !errors.Is(err, ErrManifestID) {
			t.Fatalf("tampered manifest accepted: %v", err)
		}
	}
}

func TestIDText(t *testing.T) {
	m, _ := testManifest(t, 100)
	id, _ := m.ID()
	p, err := ParseID(id.String())
	if err != nil || p != id {
		t.Fatalf("ParseID(%q) = %v, %v", id, p, err)
	}
	if _, err := ParseID("zz"); !errors.Is(err, ErrBadID) {
		t.Fatalf("short ID accepted: %v", err)
	}
}

func TestXORKeyStreamAtRandomAccess(t *testing.T) {
	key, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	plain := make([]byte, 3*ChunkSize+123)
	rand.Read(plain)
	whole := make([]byte, len(plain))
	if err := XORKeyStreamAt(key, whole, plain, 0); err != nil {
		t.Fatal(err)
	}
	for _, off := range []int{0, 1, 15, 16, 17, ChunkSize, ChunkSize + 5, len(plain) - 1} {
		part := make([]byte, len(plain)-off)
		if err := XORKeyStreamAt(key, part, plain[off:], int64(off)); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(part, whole[off:]) {
			t.Fatalf("offset %d: key stream differs from whole-track encryption", off)
		}
	}
	back := make([]byte, len(whole))
	XORKeyStreamAt(key, back, whole, 0)
	if !bytes.Equal(back, plain) {
		t.Fatal("decrypt(encrypt(x)) != x")
	}
}

func FuzzParseManifest(f *testing.F) {
	m, _ := testManifest(f, 2*ChunkSize+9)
	raw, _ := m.MarshalBinary()
	f.Add(raw)
	f.Add([]byte("STMF"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseManifest(b)
		if err != nil {
			return
		}
		again, err := m.MarshalBinary()
		if err != nil {
			t.Fatalf("parsed manifest does not re-encode: %v", err)
		}
		if !bytes.Equal(again, b) {
			t.Fatal("encoding is not canonical")
		}
	})
}

func TestSeal(t *testing.T) {
	key, _ := NewKey()
	plain := make([]byte, 2*ChunkSize+5)
	rand.Read(plain)
	m, ct, err := Seal(key, plain, Format{DurationMs: 500, SampleRate: 48000, Channels: 1})
	if err != nil {
		t.Fatal(err)
	}
	if m.NumChunks() != 3 || m.Codec != CodecVorbis || len(ct) != len(plain) {
		t.Fatalf("manifest %+v for %d bytes", m, len(plain))
	}
	for i := range m.NumChunks() {
		if err := m.VerifyChunk(i, ct[m.ChunkOffset(i):m.ChunkOffset(i)+int64(m.ChunkLen(i))]); err != nil {
			t.Fatal(err)
		}
	}
	back := make([]byte, len(ct))
	XORKeyStreamAt(key, back, ct, 0)
	if !bytes.Equal(back, plain) {
		t.Fatal("ciphertext does not decrypt to the plaintext")
	}
	if _, _, err := Seal(key, nil, Format{SampleRate: 48000, Channels: 1}); err == nil {
		t.Fatal("empty track sealed")
	}
}
