package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Version is the protocol version this package speaks.
const Version = 1

// Limits from SPEC.md §1–2.
const (
	HeaderSize       = 12
	MaxFramePayload  = 16<<10 + 512
	MaxMessageSize   = 4 << 20
	MaxAssembling    = 64
	MaxAssemblyBytes = 8 << 20
)

// Flags of a frame header.
const (
	FlagResponse uint8 = 0x01
	FlagError    uint8 = 0x02
	FlagMore     uint8 = 0x04
	FlagNoReply  uint8 = 0x08
	knownFlags         = FlagResponse | FlagError | FlagMore | FlagNoReply
)

// Priority is a message's urgency: lower is more urgent.
type Priority uint8

// Priorities, most urgent first.
const (
	PrioUrgent     Priority = 0 // streaming now, control messages
	PrioPrefetch   Priority = 1
	PrioBackground Priority = 2
	PrioBulk       Priority = 3
	numPrio                 = 4
)

func (p Priority) clamp() Priority {
	if p >= numPrio {
		return PrioBulk
	}
	return p
}

// String names the priority.
func (p Priority) String() string {
	switch p.clamp() {
	case PrioUrgent:
		return "urgent"
	case PrioPrefetch:
		return "prefetch"
	case PrioBackground:
		return "background"
	}
	return "bulk"
}

// Type is a message type (SPEC.md §3).
type Type uint16

// Connection control types.
const (
	TypeHello  Type = 0x0001
	TypePing   Type = 0x0002
	TypeCancel Type = 0x0003
	TypeGoAway Type = 0x0004
)

// Type ranges reserved by SPEC.md §3.
const (
	RangeControl  Type = 0x0001
	RangeSession  Type = 0x0100
	RangePeer     Type = 0x0200
	RangeSearch   Type = 0x0300
	RangeSwarm    Type = 0x0400
	RangeExpermnt Type = 0xF000
)

// Errors of the framing layer.
var (
	ErrFrameTooLarge   = errors.New("wire: frame payload exceeds MaxFramePayload")
	ErrMessageTooLarge = errors.New("wire: message exceeds its maximum size")
	ErrProtocol        = errors.New("wire: protocol violation")
	ErrHandshake       = errors.New("wire: handshake failed")
	ErrMalformed       = errors.New("wire: malformed message")
)

// Header is a decoded frame header.
type Header struct {
	Type   Type
	Flags  uint8
	Prio   Priority
	ID     uint32
	Length uint32
}

// Frame is one frame: header and payload.
type Frame struct {
	Header
	Payload []byte
}

// AppendHeader appends the 12-byte encoding of h to b.
func AppendHeader(b []byte, h Header) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(h.Type))
	b = append(b, h.Flags, uint8(h.Prio))
	b = binary.BigEndian.AppendUint32(b, h.ID)
	return binary.BigEndian.AppendUint32(b, h.Length)
}

// ParseHeader decodes a frame header and checks its length limit.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderSize {
		return Header{}, fmt.Errorf("%w: header is %d bytes, want %d", ErrMalformed, len(b), HeaderSize)
	}
	h := Header{
		Type:   Type(binary.BigEndian.Uint16(b)),
		Flags:  b[2] & knownFlags,
		Prio:   Priority(b[3]).clamp(),
		ID:     binary.BigEndian.Uint32(b[4:]),
		Length: binary.BigEndian.Uint32(b[8:]),
	}
	if h.Length > MaxFramePayload {
		return h, fmt.Errorf("%w: %d bytes (max %d)", ErrFrameTooLarge, h.Length, MaxFramePayload)
	}
	if h.Type == 0 {
		return h, fmt.Errorf("%w: frame type 0", ErrProtocol)
	}
	return h, nil
}

// ReadFrame reads one frame from r. It checks the declared length before
// allocating and reads the payload through an exact-length limited reader.
// hdr is scratch space of at least HeaderSize bytes (may be nil).
func ReadFrame(r io.Reader, hdr []byte) (Frame, error) {
	if len(hdr) < HeaderSize {
		hdr = make([]byte, HeaderSize)
	}
	hdr = hdr[:HeaderSize]
	if _, err := io.ReadFull(r, hdr); err != nil {
		return Frame{}, err
	}
	h, err := ParseHeader(hdr)
	if err != nil {
		return Frame{}, err
	}
	f := Frame{Header: h}
	if h.Length > 0 {
		f.Payload = make([]byte, h.Length)
		if _, err := io.ReadFull(io.LimitReader(r, int64(h.Length)), f.Payload); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return Frame{}, fmt.Errorf("reading %d-byte frame payload: %w", h.Length, err)
		}
	}
	return f, nil
}

// AppendFrame appends the encoding of a frame with the given header fields
// and payload (its Length is set from len(payload)).
func AppendFrame(b []byte, h Header, payload []byte) ([]byte, error) {
	if len(payload) > MaxFramePayload {
		return b, fmt.Errorf("%w: %d bytes", ErrFrameTooLarge, len(payload))
	}
	h.Length = uint32(len(payload))
	b = AppendHeader(b, h)
	return append(b, payload...), nil
}
