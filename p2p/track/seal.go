package track

// Format describes a track's audio for its manifest.
type Format struct {
	DurationMs uint32
	SampleRate uint32
	Channels   uint8
	Codec      string // default CodecVorbis
}

// Seal encrypts a whole track's plaintext under key and returns its
// ciphertext and manifest (chunk hashes of the ciphertext). It is what
// ingest does to a file, for callers that hold the track in memory.
func Seal(key Key, plain []byte, f Format) (*Manifest, []byte, error) {
	ct := make([]byte, len(plain))
	if err := XORKeyStreamAt(key, ct, plain, 0); err != nil {
		return nil, nil, err
	}
	if f.Codec == "" {
		f.Codec = CodecVorbis
	}
	m := &Manifest{Size: int64(len(ct)), DurationMs: f.DurationMs, Codec: f.Codec, SampleRate: f.SampleRate, Channels: f.Channels,
		Chunks: make([]Hash, 0, (len(ct)+ChunkSize-1)/ChunkSize)}
	for off := 0; off < len(ct); off += ChunkSize {
		m.Chunks = append(m.Chunks, HashChunk(ct[off:min(off+ChunkSize, len(ct))]))
	}
	if err := m.Validate(); err != nil {
		return nil, nil, err
	}
	return m, ct, nil
}
