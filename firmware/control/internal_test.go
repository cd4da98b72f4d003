package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/mdns"
	"github.com/miekg/dns"
)

func TestMDNSServiceRecords(t *testing.T) {
	adv := advertisement{
		Instance: "Kitchen speaker",
		Host:     "starling-01.lan",
		Port:     7410,
		IPs:      []net.IP{net.ParseIP("192.168.1.20"), net.ParseIP("fd00::20")},
		Version:  "v1.2.3",
	}
	svc, err := adv.service()
	if err != nil {
		t.Fatal(err)
	}
	ptr := svc.Records(dns.Question{Name: "_starling._tcp.local.", Qtype: dns.TypePTR, Qclass: dns.ClassINET})
	var instance string
	for _, rr := range ptr {
		if p, ok := rr.(*dns.PTR); ok {
			instance = p.Ptr
		}
	}
	if instance != "Kitchen speaker._starling._tcp.local." {
		t.Fatalf("PTR answer %v: instance %q", ptr, instance)
	}
	var srv *dns.SRV
	var txt []string
	var a, aaaa int
	for _, rr := range svc.Records(dns.Question{Name: instance, Qtype: dns.TypeANY, Qclass: dns.ClassINET}) {
		switch r := rr.(type) {
		case *dns.SRV:
			srv = r
		case *dns.TXT:
			txt = r.Txt
		case *dns.A:
			a++
		case *dns.AAAA:
			aaaa++
		}
	}
	if srv == nil || srv.Port != 7410 || srv.Target != "starling-01.local." {
		t.Errorf("SRV = %v, want port 7410 on starling-01.local.", srv)
	}
	for _, want := range []string{"version=v1.2.3", "name=Kitchen speaker", "path=/api/v1/"} {
		if !slices.Contains(txt, want) {
			t.Errorf("TXT %q lacks %q", txt, want)
		}
	}
	if a != 1 || aaaa != 1 {
		t.Errorf("%d A and %d AAAA records, want 1 and 1", a, aaaa)
	}
	// Service enumeration names our type.
	enum := svc.Records(dns.Question{Name: "_services._dns-sd._udp.local.", Qtype: dns.TypePTR, Qclass: dns.ClassINET})
	if len(enum) != 1 || enum[0].(*dns.PTR).Ptr != "_starling._tcp.local." {
		t.Errorf("enumeration answer %v", enum)
	}

	for _, bad := range []advertisement{
		{Instance: "", Host: "h", Port: 1, IPs: adv.IPs},
		{Instance: "a.b", Host: "h", Port: 1, IPs: adv.IPs},
		{Instance: "x", Host: "h", Port: 0, IPs: adv.IPs},
		{Instance: "x", Host: "h", Port: 1},
	} {
		if _, err := bad.service(); err == nil {
			t.Errorf("advertisement %+v accepted", bad)
		}
	}
}

func TestHostLabel(t *testing.T) {
	for in, want := range map[string]string{"starling-01.lan": "starling-01", "My_Pi": "mypi", "": "starling", "---": "starling"} {
		if got := hostLabel(in); got != want {
			t.Errorf("hostLabel(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestAdvertisedIPsSpecificAddress(t *testing.T) {
	ips, err := advertisedIPs(&net.TCPAddr{IP: net.ParseIP("192.168.7.9"), Port: 7410})
	if err != nil || len(ips) != 1 || !ips[0].Equal(net.ParseIP("192.168.7.9")) {
		t.Errorf("advertisedIPs = %v, %v", ips, err)
	}
}

// TestMDNSResponderLive sends real multicast, so it runs only when asked:
// STARLING_TEST_MDNS=1 go test ./firmware/control -run MDNSResponderLive
func TestMDNSResponderLive(t *testing.T) {
	if os.Getenv("STARLING_TEST_MDNS") != "1" {
		t.Skip("sends multicast on the LAN; set STARLING_TEST_MDNS=1 to run")
	}
	tok, _ := NewToken()
	s, err := New(Config{Token: tok, Player: nopPlayer{}, MDNS: true, DeviceName: "starling-test", Version: "vtest"})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(t.Context(), ln) }()
	defer func() { s.Close(); <-done }()
	entries := make(chan *mdns.ServiceEntry, 16)
	params := mdns.DefaultParams(MDNSService)
	params.Entries = entries
	params.Timeout = 2 * time.Second
	params.DisableIPv6 = true
	go func() { _ = mdns.Query(params); close(entries) }()
	for e := range entries {
		if strings.HasPrefix(e.Name, "starling-test.") && slices.Contains(e.InfoFields, "version=vtest") {
			for range entries {
			}
			return
		}
	}
	t.Fatal("our service was not found over mDNS")
}

func TestSSERoundTrip(t *testing.T) {
	var stream bytes.Buffer
	stream.WriteString(": hello\n\nretry: 100\n\n")
	want := []Event{
		{Type: EventVolume, Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Data: json.RawMessage(`{"volume":3}`)},
		{Type: EventTrack, Time: time.Date(2026, 1, 2, 3, 4, 6, 0, time.UTC), Data: json.RawMessage(`{"title":"a\nb"}`)},
	}
	for i, ev := range want {
		b, err := encodeSSE(uint64(i+1), ev)
		if err != nil {
			t.Fatal(err)
		}
		stream.Write(b)
	}
	// CRLF line ends and multi-line data are legal too.
	stream.WriteString("event: state\r\ndata: {\"type\":\"state\",\r\ndata: \"data\":{\"state\":\"paused\"}}\r\n\r\n")
	d := newSSEDecoder(&stream)
	for i, w := range want {
		got, id, err := d.next()
		if err != nil || id != uint64(i+1) || got.Type != w.Type || !got.Time.Equal(w.Time) || string(got.Data) != string(w.Data) {
			t.Fatalf("event %d = %+v id %d, %v; want %+v", i, got, id, err, w)
		}
	}
	got, _, err := d.next()
	if err != nil || got.Type != EventState || string(got.Data) != `{"state":"paused"}` {
		t.Fatalf("multi-line event = %+v, %v", got, err)
	}
	if _, _, err := d.next(); !errors.Is(err, io.EOF) {
		t.Fatalf("end of stream: %v, want io.EOF", err)
	}
	if _, err := encodeSSE(1, Event{Type: "x\ny"}); err == nil {
		t.Error("event type with a newline encoded")
	}
}

func TestSSEDecoderLimits(t *testing.T) {
	long := "data: " + strings.Repeat("x", maxSSELine+10) + "\n\n"
	if _, _, err := newSSEDecoder(strings.NewReader(long)).next(); !errors.Is(err, ErrStreamFormat) {
		t.Errorf("long line: %v", err)
	}
	var many strings.Builder
	for range maxSSEEventData/1000 + 2 {
		many.WriteString("data: " + strings.Repeat("y", 1000) + "\n")
	}
	if _, _, err := newSSEDecoder(strings.NewReader(many.String())).next(); !errors.Is(err, ErrStreamFormat) {
		t.Errorf("huge event: %v", err)
	}
	if _, _, err := newSSEDecoder(strings.NewReader("data: {nope\n\n")).next(); !errors.Is(err, ErrStreamFormat) {
		t.Errorf("bad JSON: %v", err)
	}
	if _, _, err := newSSEDecoder(strings.NewReader("data: {\"type\":\"a\"}")).next(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("cut event: %v", err)
	}
}

func FuzzSSEDecoder(f *testing.F) {
	f.Add([]byte("id: 1\nevent: volume\ndata: {\"type\":\"volume\",\"time\":\"2026-01-02T03:04:05Z\",\"data\":{\"volume\":3}}\n\n"))
	f.Add([]byte(": keep-alive\n\nevent: x\r\ndata: {\r\ndata: }\r\n\r\n"))
	f.Add([]byte("data: \n\ndata: null\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		d := newSSEDecoder(bytes.NewReader(b))
		for range 1000 {
			ev, _, err := d.next()
			if err != nil {
				return
			}
			if !validEventType(ev.Type) {
				t.Fatalf("decoder returned invalid type %q", ev.Type)
			}
			// Whatever decodes, re-encodes and decodes the same.
			enc, err := encodeSSE(1, ev)
			if err != nil {
				t.Fatalf("re-encoding %+v: %v", ev, err)
			}
			back, _, err := newSSEDecoder(bytes.NewReader(enc)).next()
			if err != nil || back.Type != ev.Type || !back.Time.Equal(ev.Time) {
				t.Fatalf("round trip of %+v: %+v, %v", ev, back, err)
			}
		}
	})
}

func FuzzDecodePlayRequest(f *testing.F) {
	f.Add([]byte(`{"query": "artist - title"}`))
	f.Add([]byte(`{"track_id": "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1"}`))
	f.Add([]byte(`{"query": "a"} {}`))
	f.Add([]byte(`{"track_id": "zz", "query": 3}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var req PlayRequest
		if err := decodeJSON(b, &req); err != nil {
			return
		}
		if req.Validate() != nil {
			return
		}
		if req.TrackID.IsZero() == (req.Query == "") || len(req.Query) > MaxQueryLen {
			t.Fatalf("Validate accepted %+v", req)
		}
		// A valid request survives the client's encoding.
		enc, err := json.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		var back PlayRequest
		if err := decodeJSON(enc, &back); err != nil || back != req {
			t.Fatalf("round trip of %+v: %+v, %v", req, back, err)
		}
	})
}

func FuzzParseToken(f *testing.F) {
	tok, _ := NewToken()
	f.Add([]byte(tok + "\n"))
	f.Add([]byte("hunter2"))
	f.Add([]byte(strings.Repeat("A", TokenLen)))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseToken(b)
		if err != nil {
			return
		}
		if len(s) != TokenLen || !tokenMatches(s, s) || tokenMatches(s, s[:TokenLen-1]+"!") {
			t.Fatalf("ParseToken(%q) = %q", b, s)
		}
	})
}

// nopPlayer answers everything with zero values.
type nopPlayer struct{}

var _ Player = nopPlayer{}

func (nopPlayer) Status(context.Context) (Status, error) { return Status{State: StateStopped}, nil }
func (nopPlayer) Search(context.Context, string, int, int) ([]Track, int, error) {
	return nil, 0, nil
}
func (nopPlayer) Play(context.Context, PlayRequest) (Track, error)  { return Track{}, ErrNotFound }
func (nopPlayer) Queue(context.Context, PlayRequest) (Track, error) { return Track{}, ErrNotFound }
func (nopPlayer) Pause(context.Context) error                       { return nil }
func (nopPlayer) Resume(context.Context) error                      { return nil }
func (nopPlayer) Next(context.Context) error                        { return nil }
func (nopPlayer) Previous(context.Context) error                    { return nil }
func (nopPlayer) Seek(context.Context, time.Duration) error         { return nil }
func (nopPlayer) SetVolume(context.Context, int) error              { return nil }
func (nopPlayer) Subscribe(ctx context.Context) (<-chan Event, func()) {
	ch := make(chan Event)
	return ch, func() {}
}
