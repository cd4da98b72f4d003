package peer

import (
	"bytes"
	"testing"
)

func FuzzChunkRequest(f *testing.F) {
	f.Add(ChunkRequest{Index: 3, Urgency: 1}.Marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := UnmarshalChunkRequest(b)
		if err != nil {
			return
		}
		if !bytes.Equal(r.Marshal(), b) {
			t.Fatal("round trip differs")
		}
	})
}

func FuzzUploadState(f *testing.F) {
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := UnmarshalUploadState(b)
		if err != nil {
			return
		}
		if !bytes.Equal(s.Marshal(), b) {
			t.Fatal("round trip differs")
		}
	})
}

func FuzzSearchQuery(f *testing.F) {
	f.Add(SearchQuery{QueryID: 7, TTL: 2}.Marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := UnmarshalSearchQuery(b)
		if err != nil {
			return
		}
		if !bytes.Equal(q.Marshal(), b) {
			t.Fatal("round trip differs")
		}
	})
}

func FuzzSearchHit(f *testing.F) {
	b, _ := SearchHit{QueryID: 7, Hops: 2, Holders: []Holder{{Addr: "127.0.0.1:4070"}}}.Marshal()
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := UnmarshalSearchHit(b)
		if err != nil {
			return
		}
		out, err := h.Marshal()
		if err != nil || !bytes.Equal(out, b) {
			t.Fatalf("round trip: %v", err)
		}
	})
}
