// Package streamtest holds test doubles for the streamer: generated
// encrypted tracks, an origin http.Handler for httptest servers, an
// in-memory Store and Catalog, a manual clock, and fake peers with
// programmable rates, stalls, disappearance and corrupt data whose delays
// run on the manual clock.
//
// It is for tests and benchmark programs only; firmware never imports it.
// Imports: the standard library, p2p/track and p2p/stream.
package streamtest
