package wire

import (
	"fmt"
	"net"
	"strconv"

	"github.com/starling-audio/starling/p2p/track"
)

// Service session message types (SPEC.md §6).
const (
	TypeLogin        Type = 0x0101
	TypeRenewCert    Type = 0x0102
	TypeManifest     Type = 0x0103
	TypeTrackKey     Type = 0x0104
	TypeSearch       Type = 0x0105
	TypeTrackerQuery Type = 0x0106
	TypeAnnounce     Type = 0x0107
	TypeWithdraw     Type = 0x0108
	TypePush         Type = 0x0180
)

// Bounds of session message fields.
const (
	MaxDeviceIDLen    = 64
	SecretLen         = 32
	PublicKeyLen      = 32 // ed25519
	MaxCertLen        = 4096
	MaxQueryLen       = 256
	MaxSearchLimit    = 100
	MaxTrackerPeers   = 10
	MaxAddrLen        = 128
	MaxAnnounceTracks = 1024
	MaxPushKindLen    = 64
	MaxPushPayload    = 64 << 10
	MaxMetaLen        = 255
)

// LoginRequest authenticates a device and asks for a device certificate
// for PublicKey.
type LoginRequest struct {
	DeviceID  string
	Secret    []byte
	PublicKey []byte
	Agent     string
}

// Marshal encodes m.
func (m *LoginRequest) Marshal() ([]byte, error) {
	if len(m.Secret) != SecretLen || len(m.PublicKey) != PublicKeyLen {
		return nil, fmt.Errorf("%w: login needs a %d-byte secret and a %d-byte public key", ErrMalformed, SecretLen, PublicKeyLen)
	}
	var e Encoder
	e.Str8(m.DeviceID, MaxDeviceIDLen)
	e.Bytes16(m.Secret, SecretLen)
	e.Bytes16(m.PublicKey, PublicKeyLen)
	e.Str8(m.Agent, MaxAgentLen)
	return e.B, e.Err()
}

// UnmarshalLoginRequest decodes a Login request.
func UnmarshalLoginRequest(b []byte) (LoginRequest, error) {
	d := NewDecoder(b)
	var m LoginRequest
	m.DeviceID = d.Str8(MaxDeviceIDLen, "device ID")
	m.Secret = d.Bytes16(SecretLen, "secret")
	m.PublicKey = d.Bytes16(PublicKeyLen, "public key")
	m.Agent = d.Str8(MaxAgentLen, "agent")
	if err := d.Finish("login"); err != nil {
		return LoginRequest{}, err
	}
	if len(m.Secret) != SecretLen || len(m.PublicKey) != PublicKeyLen {
		return LoginRequest{}, fmt.Errorf("decoding login: %w: secret %d bytes, public key %d bytes", ErrMalformed, len(m.Secret), len(m.PublicKey))
	}
	return m, nil
}

// RenewRequest asks for a fresh device certificate.
type RenewRequest struct{ PublicKey []byte }

// Marshal encodes m.
func (m *RenewRequest) Marshal() ([]byte, error) {
	var e Encoder
	e.Bytes16(m.PublicKey, PublicKeyLen)
	return e.B, e.Err()
}

// UnmarshalRenewRequest decodes a RenewCert request.
func UnmarshalRenewRequest(b []byte) (RenewRequest, error) {
	d := NewDecoder(b)
	m := RenewRequest{PublicKey: d.Bytes16(PublicKeyLen, "public key")}
	if err := d.Finish("renew"); err != nil {
		return RenewRequest{}, err
	}
	if len(m.PublicKey) != PublicKeyLen {
		return RenewRequest{}, fmt.Errorf("decoding renew: %w: public key %d bytes", ErrMalformed, len(m.PublicKey))
	}
	return m, nil
}

// LoginResponse carries the device certificate and the CA peers verify it by.
type LoginResponse struct {
	Cert         []byte // X.509 DER
	CA           []byte // X.509 DER
	ServerTimeMs uint64
	PeerID       PeerID
}

// Marshal encodes m.
func (m *LoginResponse) Marshal() ([]byte, error) {
	var e Encoder
	e.Bytes16(m.Cert, MaxCertLen)
	e.Bytes16(m.CA, MaxCertLen)
	e.U64(m.ServerTimeMs)
	e.Raw(m.PeerID[:])
	return e.B, e.Err()
}

// UnmarshalLoginResponse decodes a Login or RenewCert response.
func UnmarshalLoginResponse(b []byte) (LoginResponse, error) {
	d := NewDecoder(b)
	var m LoginResponse
	m.Cert = d.Bytes16(MaxCertLen, "certificate")
	m.CA = d.Bytes16(MaxCertLen, "CA certificate")
	m.ServerTimeMs = d.U64()
	m.PeerID = d.ID32("peer ID")
	return m, d.Finish("login response")
}

// MarshalTrackID encodes a request that is just a track ID (Manifest,
// TrackKey, TrackerQuery).
func MarshalTrackID(id track.ID) []byte { return append([]byte(nil), id[:]...) }

// UnmarshalTrackID decodes a request that is just a track ID.
func UnmarshalTrackID(b []byte) (track.ID, error) {
	d := NewDecoder(b)
	id := track.ID(d.ID32("track ID"))
	return id, d.Finish("track ID request")
}

// MarshalManifestResponse encodes a Manifest response.
func MarshalManifestResponse(raw []byte) ([]byte, error) {
	var e Encoder
	e.Bytes32(raw, track.MaxManifestSize)
	return e.B, e.Err()
}

// UnmarshalManifestResponse decodes a Manifest response and verifies that
// the manifest hashes to id.
func UnmarshalManifestResponse(id track.ID, b []byte) (*track.Manifest, []byte, error) {
	d := NewDecoder(b)
	raw := d.Bytes32(track.MaxManifestSize, "manifest")
	if err := d.Finish("manifest response"); err != nil {
		return nil, nil, err
	}
	m, err := track.ParseVerifiedManifest(id, raw)
	if err != nil {
		return nil, nil, fmt.Errorf("decoding manifest response: %w", err)
	}
	return m, raw, nil
}

// UnmarshalKeyResponse decodes a TrackKey response.
func UnmarshalKeyResponse(b []byte) (track.Key, error) {
	d := NewDecoder(b)
	var k track.Key
	copy(k[:], d.Raw(len(k), "track key"))
	return k, d.Finish("track key response")
}

// SearchRequest asks the catalogue for tracks matching Query.
type SearchRequest struct {
	Query  string
	Offset uint32
	Limit  uint16
}

// Marshal encodes m.
func (m *SearchRequest) Marshal() ([]byte, error) {
	if m.Limit == 0 || m.Limit > MaxSearchLimit {
		return nil, fmt.Errorf("%w: search limit %d (1..%d)", ErrMalformed, m.Limit, MaxSearchLimit)
	}
	var e Encoder
	e.Str16(m.Query, MaxQueryLen)
	e.U32(m.Offset)
	e.U16(m.Limit)
	return e.B, e.Err()
}

// UnmarshalSearchRequest decodes a Search request.
func UnmarshalSearchRequest(b []byte) (SearchRequest, error) {
	d := NewDecoder(b)
	var m SearchRequest
	m.Query = d.Str16(MaxQueryLen, "query")
	m.Offset = d.U32()
	m.Limit = d.U16()
	if err := d.Finish("search"); err != nil {
		return SearchRequest{}, err
	}
	if m.Limit == 0 || m.Limit > MaxSearchLimit {
		return SearchRequest{}, fmt.Errorf("decoding search: %w: limit %d (1..%d)", ErrMalformed, m.Limit, MaxSearchLimit)
	}
	return m, nil
}

// SearchEntry is one search hit.
type SearchEntry struct {
	ID         track.ID
	Title      string
	Artist     string
	Album      string
	TrackNo    uint16
	DurationMs uint32
	Size       uint64
}

// minimum encoded size of a SearchEntry: id + 3 empty str8 + u16 + u32 + u64
const minSearchEntry = 32 + 3 + 2 + 4 + 8

// SearchResponse is a page of search hits and the total number of hits.
type SearchResponse struct {
	Total   uint32
	Entries []SearchEntry
}

// Marshal encodes m; metadata longer than MaxMetaLen is truncated.
func (m *SearchResponse) Marshal() ([]byte, error) {
	if len(m.Entries) > MaxSearchLimit {
		return nil, fmt.Errorf("%w: %d search entries (max %d)", ErrMalformed, len(m.Entries), MaxSearchLimit)
	}
	e := Encoder{B: make([]byte, 0, 6+len(m.Entries)*(minSearchEntry+48))}
	e.U32(m.Total)
	e.U16(uint16(len(m.Entries)))
	for i := range m.Entries {
		x := &m.Entries[i]
		e.Raw(x.ID[:])
		e.Str8(truncUTF8(x.Title, MaxMetaLen), MaxMetaLen)
		e.Str8(truncUTF8(x.Artist, MaxMetaLen), MaxMetaLen)
		e.Str8(truncUTF8(x.Album, MaxMetaLen), MaxMetaLen)
		e.U16(x.TrackNo)
		e.U32(x.DurationMs)
		e.U64(x.Size)
	}
	return e.B, e.Err()
}

// UnmarshalSearchResponse decodes a Search response.
func UnmarshalSearchResponse(b []byte) (SearchResponse, error) {
	d := NewDecoder(b)
	var m SearchResponse
	m.Total = d.U32()
	n := d.Count16(MaxSearchLimit, minSearchEntry, "search entries")
	if n > 0 {
		m.Entries = make([]SearchEntry, n)
	}
	for i := 0; i < n; i++ {
		x := &m.Entries[i]
		x.ID = d.ID32("track ID")
		x.Title = d.Str8(MaxMetaLen, "title")
		x.Artist = d.Str8(MaxMetaLen, "artist")
		x.Album = d.Str8(MaxMetaLen, "album")
		x.TrackNo = d.U16()
		x.DurationMs = d.U32()
		x.Size = d.U64()
	}
	if err := d.Finish("search response"); err != nil {
		return SearchResponse{}, err
	}
	return m, nil
}

// TrackerPeer is a peer the tracker knows holds a complete track.
type TrackerPeer struct {
	ID   PeerID
	Addr string // host:port of its peer listener
}

// MarshalTrackerResponse encodes a TrackerQuery response.
func MarshalTrackerResponse(peers []TrackerPeer) ([]byte, error) {
	if len(peers) > MaxTrackerPeers {
		return nil, fmt.Errorf("%w: %d tracker peers (max %d)", ErrMalformed, len(peers), MaxTrackerPeers)
	}
	var e Encoder
	e.U8(uint8(len(peers)))
	for _, p := range peers {
		e.Raw(p.ID[:])
		e.Str8(p.Addr, MaxAddrLen)
	}
	return e.B, e.Err()
}

// UnmarshalTrackerResponse decodes a TrackerQuery response.
func UnmarshalTrackerResponse(b []byte) ([]TrackerPeer, error) {
	d := NewDecoder(b)
	n := d.Count8(MaxTrackerPeers, 33, "tracker peers")
	peers := make([]TrackerPeer, n)
	for i := range peers {
		peers[i].ID = d.ID32("peer ID")
		peers[i].Addr = d.Str8(MaxAddrLen, "peer address")
	}
	if err := d.Finish("tracker response"); err != nil {
		return nil, err
	}
	return peers, nil
}

// Announce tells the tracker that the sender holds complete, verified
// copies of Tracks and accepts peer connections at ListenAddr.
type Announce struct {
	ListenAddr string
	Tracks     []track.ID
}

// Marshal encodes m.
func (m *Announce) Marshal() ([]byte, error) {
	if err := ValidateListenAddr(m.ListenAddr); err != nil {
		return nil, err
	}
	var e Encoder
	e.Str8(m.ListenAddr, MaxAddrLen)
	marshalIDs(&e, m.Tracks)
	return e.B, e.Err()
}

// UnmarshalAnnounce decodes an Announce request.
func UnmarshalAnnounce(b []byte) (Announce, error) {
	d := NewDecoder(b)
	var m Announce
	m.ListenAddr = d.Str8(MaxAddrLen, "listen address")
	m.Tracks = unmarshalIDs(d)
	if err := d.Finish("announce"); err != nil {
		return Announce{}, err
	}
	if err := ValidateListenAddr(m.ListenAddr); err != nil {
		return Announce{}, fmt.Errorf("decoding announce: %w", err)
	}
	return m, nil
}

// MarshalWithdraw encodes a Withdraw request.
func MarshalWithdraw(ids []track.ID) ([]byte, error) {
	var e Encoder
	marshalIDs(&e, ids)
	return e.B, e.Err()
}

// UnmarshalWithdraw decodes a Withdraw request.
func UnmarshalWithdraw(b []byte) ([]track.ID, error) {
	d := NewDecoder(b)
	ids := unmarshalIDs(d)
	return ids, d.Finish("withdraw")
}

func marshalIDs(e *Encoder, ids []track.ID) {
	if len(ids) > MaxAnnounceTracks {
		e.fail("%d track IDs (max %d)", len(ids), MaxAnnounceTracks)
		return
	}
	e.U16(uint16(len(ids)))
	for _, id := range ids {
		e.Raw(id[:])
	}
}

func unmarshalIDs(d *Decoder) []track.ID {
	n := d.Count16(MaxAnnounceTracks, 32, "track IDs")
	ids := make([]track.ID, n)
	for i := range ids {
		ids[i] = d.ID32("track ID")
	}
	return ids
}

// ValidateListenAddr checks a peer listen address: host:port with a
// numeric port 1..65535; the host may be empty (meaning "the address this
// session comes from").
func ValidateListenAddr(a string) error {
	if len(a) > MaxAddrLen {
		return fmt.Errorf("%w: listen address of %d bytes", ErrMalformed, len(a))
	}
	_, port, err := net.SplitHostPort(a)
	if err != nil {
		return fmt.Errorf("%w: listen address %q: %v", ErrMalformed, a, err)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return fmt.Errorf("%w: listen address %q: bad port", ErrMalformed, a)
	}
	return nil
}

// Push is a typed server push (e.g. Kind "firmware-release").
type Push struct {
	Kind    string
	Payload []byte
}

// Marshal encodes m.
func (m *Push) Marshal() ([]byte, error) {
	var e Encoder
	e.Str8(m.Kind, MaxPushKindLen)
	e.Bytes32(m.Payload, MaxPushPayload)
	return e.B, e.Err()
}

// UnmarshalPush decodes a Push; the payload is copied.
func UnmarshalPush(b []byte) (Push, error) {
	d := NewDecoder(b)
	var m Push
	m.Kind = d.Str8(MaxPushKindLen, "push kind")
	m.Payload = append([]byte(nil), d.Bytes32(MaxPushPayload, "push payload")...)
	if err := d.Finish("push"); err != nil {
		return Push{}, err
	}
	return m, nil
}
