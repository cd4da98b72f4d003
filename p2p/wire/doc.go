// Package wire is Starling's framing, message encoding and multiplexed
// connection, shared by the speaker ↔ service session and the speaker ↔
// speaker peer protocol. SPEC.md beside this file is the normative
// description; this package implements it.
//
// Design. Everything on a stream is a frame with a fixed 12-byte header
// (type, flags, priority, id, length). Frames are small (at most
// MaxFramePayload, one 16 KiB chunk plus headroom) so that a large message,
// split into fragments, never holds up an urgent one: Conn's single writer
// drains one FIFO per priority, most urgent first, one frame at a time, and
// puts a partly sent message back at the tail of its queue. Decoders check
// every length against a documented maximum before allocating, read frame
// payloads through an exact-length limited reader, and reassemble fragments
// without trusting any declared total. Unknown message types are skipped
// (an unknown request gets an UNKNOWN_TYPE error). The first frame each way
// must be Hello; Handshake enforces it.
//
// Control messages use a small hand-written binary encoding (Encoder and
// Decoder, sticky errors, exact consumption) rather than generated protobuf
// code: the messages are few and fixed, and every field has a checked
// bound. Chunk payloads take a raw path: a message's payload is just bytes.
//
// Conn is the reusable multiplexed connection: Request with a context and a
// priority, Notify for one-way messages, a Handler for incoming requests and
// notifications, Cancel frames when a requester gives up, keepalive pings
// with a timeout, and an idempotent Close that stops every goroutine Conn
// started (reader, writer, keepalive, handlers).
//
// PeerID is the identity of a speaker: the SHA-256 of its certificate's
// public key, with a checked text form.
//
// Imports: the standard library and p2p/track only.
package wire
