package cache

import (
	"testing"

	"github.com/starling-audio/starling/p2p/track"
)

func BenchmarkPutChunk(b *testing.B) {
	c := openTest(b, testOptions(b.TempDir(), 1<<30, nil))
	b.SetBytes(track.ChunkSize)
	b.ReportAllocs()
	tt := makeTrack(b, 320*track.ChunkSize)
	i := 0
	for b.Loop() {
		if i == len(tt.chunks) {
			tt = makeTrack(b, 320*track.ChunkSize)
			i = 0
		}
		if i == 0 {
			if err := c.PutManifest(tt.id, tt.raw); err != nil {
				b.Fatal(err)
			}
		}
		if err := c.PutChunk(tt.id, i, tt.chunks[i]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkReadChunk(b *testing.B) {
	c := openTest(b, testOptions(b.TempDir(), 1<<30, nil))
	var tracks []*testTrack
	for range 8 {
		tt := makeTrack(b, 64*track.ChunkSize)
		tt.store(b, c)
		tracks = append(tracks, tt)
	}
	b.SetBytes(track.ChunkSize)
	b.ReportAllocs()
	buf := make([]byte, 0, track.ChunkSize)
	n := 0
	for b.Loop() {
		tt := tracks[n%len(tracks)]
		var err error
		if buf, err = c.ReadChunk(tt.id, (n/len(tracks))%len(tt.chunks), buf); err != nil {
			b.Fatal(err)
		}
		n++
	}
}
