// The release tool's design: the operator's machine holds the ed25519
// private key (keygen writes it 0600 and refuses to overwrite); sign hashes
// the image, writes the manifest once and signs those exact bytes with
// firmware/update.Sign, then checks the result with the same Verify the
// speakers run; publish only copies files (image first, then signature and
// manifest, each by rename) into the catalogue's public/releases tree, which
// the origin — or nginx — serves, and optionally POSTs the service's
// /admin/push so logged-in speakers of the channel check at once. The
// service never sees the key.
//
// Imports: firmware/update (the manifest format) and tools/catalog (the
// directory layout).
package main
