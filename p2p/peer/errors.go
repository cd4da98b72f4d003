package peer

import "errors"

// Errors of the peer package.
var (
	ErrClosed        = errors.New("peer: node closed")
	ErrNotConnected  = errors.New("peer: not connected to that peer")
	ErrUploadStopped = errors.New("peer: the peer stopped uploading (its own buffer is low); go elsewhere")
	ErrChoked        = errors.New("peer: the peer is serving others (choked); go elsewhere")
	ErrBadCert       = errors.New("peer: peer certificate refused")
	ErrBanned        = errors.New("peer: peer is banned for a while after misbehaving")
	ErrSelf          = errors.New("peer: connected to ourselves")
	ErrFull          = errors.New("peer: neighbour limit reached")
	ErrConfig        = errors.New("peer: invalid configuration")
	ErrBadChunk      = errors.New("peer: chunk response of the wrong size")

	errPausedGrant = errors.New("upload paused while waiting")
)
