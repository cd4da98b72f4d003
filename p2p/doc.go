// Package p2p is Starling's network: the session to the catalogue service,
// peer transport and overlay, peer search, the in-order streamer with origin
// fallback, the uploader, and swarm mode for large files.
//
// Subpackages: track (manifest, IDs, chunk cipher: the shared vocabulary) and
// wire (framing and messages shared by the session and the peer protocol).
//
// The store interface the streamer and uploader need is declared here and
// satisfied by package cache; the byte source the streamer hands out is
// declared by package audio and satisfied here.
//
// Imports: the standard library and its own subpackages. Never audio, board,
// cache or firmware.
package p2p
