package peer

import (
	"fmt"

	"github.com/starling-audio/starling/p2p/track"
	"github.com/starling-audio/starling/p2p/wire"
)

// Message types (SPEC.md in this directory). Peer streaming uses the
// 0x0200 range and the search flood the 0x0300 range that p2p/wire reserves.
const (
	TypeChunkRequest wire.Type = 0x0201 // request: chunk of a complete track
	TypeUploadState  wire.Type = 0x0202 // NOREPLY: uploads stopped / resumed
	TypeSearchQuery  wire.Type = 0x0301 // NOREPLY: flooded query
	TypeSearchHit    wire.Type = 0x0302 // NOREPLY: answer, routed back
	MaxHitHolders              = 8      // holders in one SearchHit
	MaxAddrLen                 = 128    // listen address "host:port"
	maxTTL                     = 7      // TTLs above this are refused
	chunkRequestLen            = 32 + 4 + 1
	searchQueryLen             = 8 + 1 + 1 + 32
	minHolderLen               = 32 + 1
)

// ChunkRequest asks for encrypted chunk Index of Track. Urgency is the
// streamer's (0 streaming, 1 prefetch, 2 background).
type ChunkRequest struct {
	Track   track.ID
	Index   uint32
	Urgency uint8
}

// Marshal encodes r.
func (r ChunkRequest) Marshal() []byte {
	var e wire.Encoder
	e.B = make([]byte, 0, chunkRequestLen)
	e.Raw(r.Track[:])
	e.U32(r.Index)
	e.U8(r.Urgency)
	return e.B
}

// UnmarshalChunkRequest decodes a ChunkRequest payload.
func UnmarshalChunkRequest(b []byte) (ChunkRequest, error) {
	d := wire.NewDecoder(b)
	r := ChunkRequest{Track: d.ID32("track ID"), Index: d.U32(), Urgency: d.U8()}
	if err := d.Finish("chunk request"); err != nil {
		return ChunkRequest{}, err
	}
	if r.Urgency > 2 {
		return ChunkRequest{}, fmt.Errorf("decoding chunk request: %w: urgency %d (max 2)", wire.ErrMalformed, r.Urgency)
	}
	return r, nil
}

// UploadState tells a neighbour whether this node stopped uploading (its
// own buffer is very low): requesters should go elsewhere until resumed.
type UploadState struct{ Stopped bool }

// Marshal encodes s.
func (s UploadState) Marshal() []byte {
	if s.Stopped {
		return []byte{1}
	}
	return []byte{0}
}

// UnmarshalUploadState decodes an UploadState payload.
func UnmarshalUploadState(b []byte) (UploadState, error) {
	d := wire.NewDecoder(b)
	v := d.U8()
	if err := d.Finish("upload state"); err != nil {
		return UploadState{}, err
	}
	if v > 1 {
		return UploadState{}, fmt.Errorf("decoding upload state: %w: value %d", wire.ErrMalformed, v)
	}
	return UploadState{Stopped: v == 1}, nil
}

// SearchQuery is flooded to the overlay: "who has Track complete?". TTL is
// the hops it may still travel; Hops how many it travelled.
type SearchQuery struct {
	QueryID uint64
	TTL     uint8
	Hops    uint8
	Track   track.ID
}

// Marshal encodes q.
func (q SearchQuery) Marshal() []byte {
	var e wire.Encoder
	e.B = make([]byte, 0, searchQueryLen)
	e.U64(q.QueryID)
	e.U8(q.TTL)
	e.U8(q.Hops)
	e.Raw(q.Track[:])
	return e.B
}

// UnmarshalSearchQuery decodes a SearchQuery payload.
func UnmarshalSearchQuery(b []byte) (SearchQuery, error) {
	d := wire.NewDecoder(b)
	q := SearchQuery{QueryID: d.U64(), TTL: d.U8(), Hops: d.U8(), Track: d.ID32("track ID")}
	if err := d.Finish("search query"); err != nil {
		return SearchQuery{}, err
	}
	if q.TTL > maxTTL || q.Hops > maxTTL {
		return SearchQuery{}, fmt.Errorf("decoding search query: %w: ttl %d hops %d (max %d)", wire.ErrMalformed, q.TTL, q.Hops, maxTTL)
	}
	return q, nil
}

// Holder is a peer that has a track: its ID and listen address.
type Holder struct {
	ID   wire.PeerID
	Addr string
}

// SearchHit answers a SearchQuery; it travels back along the query's path.
// Hops is the distance from the asker to the holders.
type SearchHit struct {
	QueryID uint64
	Track   track.ID
	Hops    uint8
	Holders []Holder
}

// Marshal encodes h; it fails if a bound is exceeded.
func (h SearchHit) Marshal() ([]byte, error) {
	if len(h.Holders) == 0 || len(h.Holders) > MaxHitHolders {
		return nil, fmt.Errorf("encoding search hit: %w: %d holders (1..%d)", wire.ErrMalformed, len(h.Holders), MaxHitHolders)
	}
	var e wire.Encoder
	e.U64(h.QueryID)
	e.Raw(h.Track[:])
	e.U8(h.Hops)
	e.U8(uint8(len(h.Holders)))
	for _, x := range h.Holders {
		e.Raw(x.ID[:])
		e.Str8(x.Addr, MaxAddrLen)
	}
	if err := e.Err(); err != nil {
		return nil, fmt.Errorf("encoding search hit: %w", err)
	}
	return e.B, nil
}

// UnmarshalSearchHit decodes a SearchHit payload.
func UnmarshalSearchHit(b []byte) (SearchHit, error) {
	d := wire.NewDecoder(b)
	h := SearchHit{QueryID: d.U64(), Track: d.ID32("track ID"), Hops: d.U8()}
	n := d.Count8(MaxHitHolders, minHolderLen, "holders")
	if d.Err() == nil && n == 0 {
		return SearchHit{}, fmt.Errorf("decoding search hit: %w: no holders", wire.ErrMalformed)
	}
	if n > 0 {
		h.Holders = make([]Holder, n)
	}
	for i := range h.Holders {
		h.Holders[i].ID = d.ID32("holder ID")
		h.Holders[i].Addr = d.Str8(MaxAddrLen, "holder address")
	}
	if err := d.Finish("search hit"); err != nil {
		return SearchHit{}, err
	}
	if h.Hops == 0 || h.Hops > maxTTL {
		return SearchHit{}, fmt.Errorf("decoding search hit: %w: hops %d", wire.ErrMalformed, h.Hops)
	}
	return h, nil
}
