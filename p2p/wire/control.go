package wire

import (
	"errors"
	"fmt"
	"strings"
)

const helloMagic = "STRL"

// Bounds of control message fields.
const (
	MaxRoleLen     = 32
	MaxAgentLen    = 64
	MaxErrorMsgLen = 1024
	MaxReasonLen   = 256
)

// Hello is the first frame each side sends (SPEC.md §3.1).
type Hello struct {
	Version    uint16
	MinVersion uint16
	Role       string // e.g. "speaker", "service"
	Agent      string // software name and version
}

// Marshal encodes h.
func (h *Hello) Marshal() ([]byte, error) {
	e := Encoder{B: make([]byte, 0, 16+len(h.Role)+len(h.Agent))}
	e.Raw([]byte(helloMagic))
	e.U16(h.Version)
	e.U16(h.MinVersion)
	e.Str8(h.Role, MaxRoleLen)
	e.Str8(h.Agent, MaxAgentLen)
	return e.B, e.Err()
}

// UnmarshalHello decodes a Hello payload.
func UnmarshalHello(b []byte) (Hello, error) {
	d := NewDecoder(b)
	var h Hello
	if string(d.Raw(4, "magic")) != helloMagic && d.Err() == nil {
		return h, fmt.Errorf("%w: bad hello magic (not a Starling peer?)", ErrHandshake)
	}
	h.Version = d.U16()
	h.MinVersion = d.U16()
	h.Role = d.Str8(MaxRoleLen, "role")
	h.Agent = d.Str8(MaxAgentLen, "agent")
	if err := d.Finish("hello"); err != nil {
		return Hello{}, err
	}
	if h.MinVersion > h.Version {
		return Hello{}, fmt.Errorf("%w: hello min version %d > version %d", ErrMalformed, h.MinVersion, h.Version)
	}
	return h, nil
}

// Compatible reports whether h's version range includes ours.
func (h Hello) Compatible() bool { return h.MinVersion <= Version && Version <= h.Version }

// ErrCode is an error response code (SPEC.md §4).
type ErrCode uint16

// Error codes.
const (
	CodeBadRequest  ErrCode = 1
	CodeUnknownType ErrCode = 2
	CodeUnauth      ErrCode = 3
	CodeForbidden   ErrCode = 4
	CodeNotFound    ErrCode = 5
	CodeBusy        ErrCode = 6
	CodeInternal    ErrCode = 7
	CodeCanceled    ErrCode = 8
	CodeUnavailable ErrCode = 9
)

var codeNames = map[ErrCode]string{
	CodeBadRequest: "bad request", CodeUnknownType: "unknown type", CodeUnauth: "unauthorized",
	CodeForbidden: "forbidden", CodeNotFound: "not found", CodeBusy: "busy", CodeInternal: "internal error",
	CodeCanceled: "canceled", CodeUnavailable: "unavailable",
}

// String names the code.
func (c ErrCode) String() string {
	if s, ok := codeNames[c]; ok {
		return s
	}
	return fmt.Sprintf("code %d", uint16(c))
}

// Sentinels matched by errors.Is against a *RemoteError of that code.
var (
	ErrBadRequest  = errors.New("wire: bad request")
	ErrUnknownType = errors.New("wire: unknown message type")
	ErrUnauth      = errors.New("wire: unauthorized")
	ErrForbidden   = errors.New("wire: forbidden")
	ErrNotFound    = errors.New("wire: not found")
	ErrBusy        = errors.New("wire: busy")
	ErrInternal    = errors.New("wire: internal error")
	ErrCanceled    = errors.New("wire: canceled")
	ErrUnavailable = errors.New("wire: unavailable")
)

var codeSentinel = map[ErrCode]error{
	CodeBadRequest: ErrBadRequest, CodeUnknownType: ErrUnknownType, CodeUnauth: ErrUnauth,
	CodeForbidden: ErrForbidden, CodeNotFound: ErrNotFound, CodeBusy: ErrBusy, CodeInternal: ErrInternal,
	CodeCanceled: ErrCanceled, CodeUnavailable: ErrUnavailable,
}

// RemoteError is an error response received from (or sent to) the other side.
type RemoteError struct {
	Code    ErrCode
	Message string
	// Close, set by a Handler, closes the connection after the error
	// response (and a GoAway) have been written. It is not sent.
	Close bool
}

// Error implements error.
func (e *RemoteError) Error() string {
	return fmt.Sprintf("remote: %s: %s", e.Code, e.Message)
}

// Is matches the sentinel of e's code (unknown codes match ErrInternal).
func (e *RemoteError) Is(target error) bool {
	s, ok := codeSentinel[e.Code]
	if !ok {
		s = ErrInternal
	}
	return target == s
}

// Errorf builds a RemoteError for a handler to return.
func Errorf(code ErrCode, format string, args ...any) *RemoteError {
	return &RemoteError{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Marshal encodes e (the message is truncated to MaxErrorMsgLen).
func (e *RemoteError) Marshal() []byte {
	msg := truncUTF8(e.Message, MaxErrorMsgLen)
	enc := Encoder{B: make([]byte, 0, 4+len(msg))}
	enc.U16(uint16(e.Code))
	enc.Str16(msg, MaxErrorMsgLen)
	return enc.B
}

// UnmarshalRemoteError decodes an error response payload.
func UnmarshalRemoteError(b []byte) (*RemoteError, error) {
	d := NewDecoder(b)
	e := &RemoteError{Code: ErrCode(d.U16())}
	e.Message = d.Str16(MaxErrorMsgLen, "error message")
	if err := d.Finish("error response"); err != nil {
		return nil, err
	}
	return e, nil
}

// GoAway tells the other side the sender is closing.
type GoAway struct {
	Code   ErrCode
	Reason string
}

// Marshal encodes g.
func (g *GoAway) Marshal() []byte {
	r := truncUTF8(g.Reason, MaxReasonLen)
	e := Encoder{}
	e.U16(uint16(g.Code))
	e.Str16(r, MaxReasonLen)
	return e.B
}

// UnmarshalGoAway decodes a GoAway payload.
func UnmarshalGoAway(b []byte) (GoAway, error) {
	d := NewDecoder(b)
	g := GoAway{Code: ErrCode(d.U16())}
	g.Reason = d.Str16(MaxReasonLen, "goaway reason")
	return g, d.Finish("goaway")
}

// UnmarshalCancel decodes a Cancel payload: the id of the request.
func UnmarshalCancel(b []byte) (uint32, error) {
	d := NewDecoder(b)
	id := d.U32()
	return id, d.Finish("cancel")
}

// truncUTF8 cuts s to at most n bytes at a rune boundary.
func truncUTF8(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// TruncUTF8 cuts s to at most n bytes at a rune boundary.
func TruncUTF8(s string, n int) string { return truncUTF8(s, n) }
