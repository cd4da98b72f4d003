package wire

import (
	"bytes"
	"errors"
	"testing"

	"github.com/starling-audio/starling/p2p/track"
)

func FuzzReadFrame(f *testing.F) {
	f.Add(mustFrame(Header{Type: TypePing, ID: 7}, nil))
	f.Add(mustFrame(Header{Type: TypeHello}, []byte("STRL\x00\x01\x00\x01\x00\x00")))
	f.Add([]byte{0, 1, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF})
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := ReadFrame(bytes.NewReader(b), nil)
		if err != nil {
			return
		}
		if len(fr.Payload) > MaxFramePayload || int(fr.Length) != len(fr.Payload) {
			t.Fatalf("frame of %d bytes accepted (header says %d)", len(fr.Payload), fr.Length)
		}
		again, err := AppendFrame(nil, fr.Header, fr.Payload)
		if err != nil {
			t.Fatal(err)
		}
		h2, _ := ParseHeader(again)
		if h2 != fr.Header {
			t.Fatalf("header round trip: %+v != %+v", h2, fr.Header)
		}
	})
}

// FuzzDecodeMessage feeds every control and session decoder; the first
// byte selects the decoder. Whatever decodes must re-encode and decode
// to the same value.
func FuzzDecodeMessage(f *testing.F) {
	for _, seed := range messageSeeds(f) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) == 0 {
			return
		}
		sel, p := b[0], b[1:]
		switch sel % 12 {
		case 0:
			if h, err := UnmarshalHello(p); err == nil {
				e, err := h.Marshal()
				if err != nil || !bytes.Equal(e, p) {
					t.Fatalf("hello not canonical: %v", err)
				}
			}
		case 1:
			if e, err := UnmarshalRemoteError(p); err == nil {
				if !bytes.Equal(e.Marshal(), p) {
					t.Fatal("error not canonical")
				}
			}
		case 2:
			if m, err := UnmarshalLoginRequest(p); err == nil {
				e, err := m.Marshal()
				if err != nil || !bytes.Equal(e, p) {
					t.Fatalf("login not canonical: %v", err)
				}
			}
		case 3:
			if m, err := UnmarshalLoginResponse(p); err == nil {
				e, err := m.Marshal()
				if err != nil || !bytes.Equal(e, p) {
					t.Fatalf("login response not canonical: %v", err)
				}
			}
		case 4:
			if m, err := UnmarshalSearchRequest(p); err == nil {
				e, err := m.Marshal()
				if err != nil || !bytes.Equal(e, p) {
					t.Fatalf("search not canonical: %v", err)
				}
			}
		case 5:
			if m, err := UnmarshalSearchResponse(p); err == nil {
				e, err := m.Marshal()
				if err != nil || !bytes.Equal(e, p) {
					t.Fatalf("search response not canonical: %v", err)
				}
			}
		case 6:
			if m, err := UnmarshalTrackerResponse(p); err == nil {
				e, err := MarshalTrackerResponse(m)
				if err != nil || !bytes.Equal(e, p) {
					t.Fatalf("tracker response not canonical: %v", err)
				}
			}
		case 7:
			if m, err := UnmarshalAnnounce(p); err == nil {
				e, err := m.Marshal()
				if err != nil || !bytes.Equal(e, p) {
					t.Fatalf("announce not canonical: %v", err)
				}
			}
		case 8:
			if m, err := UnmarshalWithdraw(p); err == nil {
				e, err := MarshalWithdraw(m)
				if err != nil || !bytes.Equal(e, p) {
					t.Fatalf("withdraw not canonical: %v", err)
				}
			}
		case 9:
			if m, err := UnmarshalPush(p); err == nil {
				e, err := m.Marshal()
				if err != nil || !bytes.Equal(e, p) {
					t.Fatalf("push not canonical: %v", err)
				}
			}
		case 10:
			if g, err := UnmarshalGoAway(p); err == nil && !bytes.Equal(g.Marshal(), p) {
				t.Fatal("goaway not canonical")
			}
		case 11:
			var id track.ID
			UnmarshalManifestResponse(id, p)
			UnmarshalKeyResponse(p)
			UnmarshalCancel(p)
			UnmarshalRenewRequest(p)
			UnmarshalTrackID(p)
		}
	})
}

func messageSeeds(tb testing.TB) [][]byte {
	sel := func(s byte, b []byte, err error) []byte {
		if err != nil {
			tb.Fatal(err)
		}
		return append([]byte{s}, b...)
	}
	var id track.ID
	id[0] = 1
	h, err := (&Hello{Version: 1, MinVersion: 1, Role: "speaker", Agent: "x"}).Marshal()
	lr, err2 := (&LoginRequest{DeviceID: "d", Secret: make([]byte, 32), PublicKey: make([]byte, 32), Agent: "a"}).Marshal()
	lresp, err3 := (&LoginResponse{Cert: []byte{1}, CA: []byte{2}, ServerTimeMs: 5}).Marshal()
	sr, err4 := (&SearchRequest{Query: "abba", Limit: 10}).Marshal()
	sresp, err5 := (&SearchResponse{Total: 1, Entries: []SearchEntry{{ID: id, Title: "t", Artist: "a", Album: "b", TrackNo: 1, DurationMs: 2, Size: 3}}}).Marshal()
	tresp, err6 := MarshalTrackerResponse([]TrackerPeer{{Addr: "127.0.0.1:1"}})
	ann, err7 := (&Announce{ListenAddr: ":7450", Tracks: []track.ID{id}}).Marshal()
	wd, err8 := MarshalWithdraw([]track.ID{id})
	push, err9 := (&Push{Kind: "firmware-release", Payload: []byte("{}")}).Marshal()
	if err := errors.Join(err, err2, err3, err4, err5, err6, err7, err8, err9); err != nil {
		tb.Fatal(err)
	}
	return [][]byte{
		sel(0, h, nil), sel(1, Errorf(CodeNotFound, "no").Marshal(), nil), sel(2, lr, nil), sel(3, lresp, nil),
		sel(4, sr, nil), sel(5, sresp, nil), sel(6, tresp, nil), sel(7, ann, nil), sel(8, wd, nil),
		sel(9, push, nil), sel(10, (&GoAway{Code: 9, Reason: "bye"}).Marshal(), nil), sel(11, id[:], nil),
	}
}

func FuzzParsePeerID(f *testing.F) {
	f.Add(PeerID{1, 2, 3}.String())
	f.Add("AAAAAAA-AAAAAAA")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePeerID(s)
		if err != nil {
			return
		}
		q, err := ParsePeerID(p.String())
		if err != nil || q != p {
			t.Fatalf("peer ID text round trip failed: %v", err)
		}
	})
}

func TestPeerIDText(t *testing.T) {
	p := PeerIDFromSPKI([]byte("some key"))
	s := p.String()
	q, err := ParsePeerID(s)
	if err != nil || q != p {
		t.Fatalf("round trip: %v", err)
	}
	if q, err := ParsePeerID(" " + string(bytes.ToLower([]byte(s)))); err != nil || q != p {
		t.Fatalf("lower case not accepted: %v", err)
	}
	typo := []byte(s)
	if typo[3] == 'A' {
		typo[3] = 'B'
	} else {
		typo[3] = 'A'
	}
	if _, err := ParsePeerID(string(typo)); !errors.Is(err, ErrBadPeerID) {
		t.Fatalf("typo accepted: %v", err)
	}
}

func TestMessagesRoundTrip(t *testing.T) {
	for _, s := range messageSeeds(t) {
		// the fuzz body asserts canonical round trips
		_ = s
	}
	var id track.ID
	id[5] = 9
	in := SearchResponse{Total: 3, Entries: []SearchEntry{{ID: id, Title: "Ünïcode", Artist: string(bytes.Repeat([]byte("é"), 200)), TrackNo: 4}}}
	b, err := in.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	out, err := UnmarshalSearchResponse(b)
	if err != nil || out.Entries[0].Title != "Ünïcode" || len(out.Entries[0].Artist) > MaxMetaLen || out.Entries[0].ID != id {
		t.Fatalf("search response round trip: %+v %v", out, err)
	}
	if _, err := (&Announce{ListenAddr: "nohost"}).Marshal(); !errors.Is(err, ErrMalformed) {
		t.Fatalf("bad listen address accepted: %v", err)
	}
	huge := append([]byte{0xFF, 0xFF}, make([]byte, 10)...)
	if _, err := UnmarshalWithdraw(huge); !errors.Is(err, ErrMalformed) {
		t.Fatalf("huge count accepted: %v", err)
	}
}
