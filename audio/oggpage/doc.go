// Package oggpage reads the pages of an Ogg bitstream (RFC 3533): the one
// place in Starling that parses Ogg framing. The player's demuxer (package
// audio) assembles packets and seeks on top of it; the catalogue's ingest
// probe (tools/catalog) checks a whole file's framing with it.
//
// # Design
//
// A Reader pulls one page at a time from an io.Reader. The input is
// untrusted, so every page is checked before it is returned: capture
// pattern, version 0, at least one segment, and the CRC-32 over the whole
// page. A page is at most HeaderLen+255+MaxBody bytes and its sizes come
// from single bytes, so the Reader's buffers are fixed at construction:
// hostile input can neither make it allocate nor read past a page.
//
// The package knows nothing of logical streams, packets or codecs: which
// serial numbers to follow, sequence-number rules and packet assembly are
// the caller's policy. A returned Page aliases the Reader's buffers and is
// valid until the next call to Next.
//
// Errors: io.EOF when the source ends cleanly between pages; ErrTruncated
// when it ends inside a page; ErrMalformed or ErrChecksum for a page that
// is not valid Ogg; other read errors of the source wrapped with %w. Callers
// map these onto their own sentinel errors.
//
// Imports: the standard library only; tests may import tools/fixtures for
// real encoder output. It must not import any other Starling package, so
// that both the firmware and the tools can use it. It starts no goroutines.
package oggpage
