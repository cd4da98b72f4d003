package origin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/starling-audio/starling/p2p/track"
)

// Errors returned by the client. Hash and manifest failures wrap the track
// package's sentinels (track.ErrChunkHash, track.ErrManifestID, ...).
var (
	ErrClosed          = errors.New("origin: client closed")
	ErrConfig          = errors.New("origin: invalid configuration")
	ErrNotFound        = errors.New("origin: not found")
	ErrStatus          = errors.New("origin: unexpected HTTP status")
	ErrBadContentRange = errors.New("origin: bad Content-Range")
	ErrBadLength       = errors.New("origin: response length does not match the request")
	ErrRange           = errors.New("origin: chunk range outside the track")
)

// Config configures a Client. The zero value of every field but BaseURL
// takes the documented default.
type Config struct {
	// BaseURL is the origin's root, e.g. "https://origin.example/v1"
	// (required; http or https). Paths /tracks/<id> and /manifests/<id> are
	// resolved under it.
	BaseURL string
	// MaxIdleConnsPerHost bounds the warm connections kept to the origin
	// (default 4: a stream's range requests plus a prefetch).
	MaxIdleConnsPerHost int
	// IdleConnTimeout closes a warm connection after this long unused
	// (default 90s).
	IdleConnTimeout time.Duration
	// ResponseHeaderTimeout bounds the wait for response headers
	// (default 10s). Body reads are bounded by the caller's context.
	ResponseHeaderTimeout time.Duration
	// Transport replaces the client's own keep-alive transport (e.g. one
	// with a TLS config). The client then does not close its idle
	// connections on Close; the owner of the transport does.
	Transport http.RoundTripper
	// Logger receives DEBUG lines per request (default: discard).
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if c.MaxIdleConnsPerHost == 0 {
		c.MaxIdleConnsPerHost = 4
	}
	if c.IdleConnTimeout == 0 {
		c.IdleConnTimeout = 90 * time.Second
	}
	if c.ResponseHeaderTimeout == 0 {
		c.ResponseHeaderTimeout = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate checks the configuration (after defaults are applied by New).
func (c *Config) Validate() error {
	u, err := url.Parse(c.BaseURL)
	switch {
	case err != nil:
		return fmt.Errorf("%w: BaseURL %q: %v", ErrConfig, c.BaseURL, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("%w: BaseURL %q must be http:// or https://", ErrConfig, c.BaseURL)
	case u.Host == "":
		return fmt.Errorf("%w: BaseURL %q has no host", ErrConfig, c.BaseURL)
	case c.MaxIdleConnsPerHost < 0 || c.MaxIdleConnsPerHost > 64:
		return fmt.Errorf("%w: MaxIdleConnsPerHost %d out of range 1..64", ErrConfig, c.MaxIdleConnsPerHost)
	case c.IdleConnTimeout < 0 || c.ResponseHeaderTimeout < 0:
		return fmt.Errorf("%w: negative timeout", ErrConfig)
	}
	return nil
}

// Stats counts the client's traffic since New.
type Stats struct {
	Requests int64 // HTTP requests sent
	Failures int64 // requests that ended in an error
	Bytes    int64 // verified chunk and manifest bytes received
}

// Client fetches verified chunks and manifests from the origin. It is safe
// for concurrent use. Close releases its idle connections.
type Client struct {
	base   *url.URL
	hc     *http.Client
	own    *http.Transport // nil when the transport was injected
	log    *slog.Logger
	closed atomic.Bool

	requests, failures, bytes atomic.Int64
}

// New returns a client for the origin at cfg.BaseURL. It starts nothing.
func New(cfg Config) (*Client, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	base, _ := url.Parse(cfg.BaseURL)
	c := &Client{base: base, log: cfg.Logger.With("component", "origin")}
	rt := cfg.Transport
	if rt == nil {
		c.own = &http.Transport{
			Proxy:                 nil, // a speaker talks to its origin directly
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          cfg.MaxIdleConnsPerHost * 2,
			MaxIdleConnsPerHost:   cfg.MaxIdleConnsPerHost,
			IdleConnTimeout:       cfg.IdleConnTimeout,
			ResponseHeaderTimeout: cfg.ResponseHeaderTimeout,
			TLSHandshakeTimeout:   10 * time.Second,
			DisableCompression:    true, // ciphertext does not compress; a gzip body would break ranges
		}
		rt = c.own
	}
	c.hc = &http.Client{Transport: rt, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse // content-addressed paths never move; a redirect is an error
	}}
	return c, nil
}

// Close drops the client's idle connections; later calls fail with
// ErrClosed. It is idempotent and returns nil.
func (c *Client) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	if c.own != nil {
		c.own.CloseIdleConnections()
	}
	return nil
}

// Stats returns a snapshot of the counters.
func (c *Client) Stats() Stats {
	return Stats{Requests: c.requests.Load(), Failures: c.failures.Load(), Bytes: c.bytes.Load()}
}

// Warm opens (or reuses) a connection to the origin with a HEAD of the base
// URL, so the first chunk request of the next track skips the handshake.
// Any HTTP answer counts as warm; only transport errors are returned.
func (c *Client) Warm(ctx context.Context) error {
	req, err := c.newRequest(ctx, http.MethodHead, c.base)
	if err != nil {
		return err
	}
	resp, err := c.do(req)
	if err != nil {
		return fmt.Errorf("warming the origin connection: %w", err)
	}
	drainClose(resp.Body)
	return nil
}

// Manifest fetches and verifies the manifest of id. It returns the parsed
// manifest and its raw canonical bytes (for a store).
func (c *Client) Manifest(ctx context.Context, id track.ID) (*track.Manifest, []byte, error) {
	req, err := c.newRequest(ctx, http.MethodGet, c.base.JoinPath("manifests", id.String()))
	if err != nil {
		return nil, nil, err
	}
	resp, err := c.do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("fetching manifest %s from the origin: %w", id.Short(), err)
	}
	defer drainClose(resp.Body)
	if err := checkStatus(resp, http.StatusOK); err != nil {
		c.failures.Add(1)
		return nil, nil, fmt.Errorf("fetching manifest %s: %w", id.Short(), err)
	}
	if resp.ContentLength > track.MaxManifestSize {
		c.failures.Add(1)
		return nil, nil, fmt.Errorf("fetching manifest %s: %w: %d bytes is over the %d-byte maximum",
			id.Short(), ErrBadLength, resp.ContentLength, track.MaxManifestSize)
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, track.MaxManifestSize+1))
	if err != nil {
		c.failures.Add(1)
		return nil, nil, fmt.Errorf("reading manifest %s from the origin: %w", id.Short(), err)
	}
	if resp.ContentLength >= 0 && int64(len(raw)) != resp.ContentLength {
		c.failures.Add(1)
		return nil, nil, fmt.Errorf("reading manifest %s: %w: got %d of %d bytes", id.Short(), ErrBadLength, len(raw), resp.ContentLength)
	}
	m, err := track.ParseVerifiedManifest(id, raw)
	if err != nil {
		c.failures.Add(1)
		return nil, nil, fmt.Errorf("checking manifest %s from the origin (is the origin serving the right catalogue?): %w", id.Short(), err)
	}
	c.bytes.Add(int64(len(raw)))
	return m, raw, nil
}

// FetchChunks fetches chunks first..first+count-1 of track id with one
// range request and calls fn with each chunk, in order, as soon as it is
// read and verified against m. fn owns data. An error from fn stops the
// transfer and is returned as is. Chunks delivered before an error are
// good; the caller may retry the rest.
func (c *Client) FetchChunks(ctx context.Context, id track.ID, m *track.Manifest, first, count int,
	fn func(i int, data []byte) error) error {
	if m == nil || first < 0 || count <= 0 || first > m.NumChunks()-count {
		return fmt.Errorf("%w: chunks %d+%d of a %d-chunk track", ErrRange, first, count, numChunks(m))
	}
	from := m.ChunkOffset(first)
	to := m.ChunkOffset(first+count-1) + int64(m.ChunkLen(first+count-1)) // exclusive
	req, err := c.newRequest(ctx, http.MethodGet, c.base.JoinPath("tracks", id.String()))
	if err != nil {
		return err
	}
	req.Header.Set("Range", "bytes="+strconv.FormatInt(from, 10)+"-"+strconv.FormatInt(to-1, 10))
	resp, err := c.do(req)
	if err != nil {
		return fmt.Errorf("requesting chunks %d-%d of %s from the origin: %w", first, first+count-1, id.Short(), err)
	}
	defer drainClose(resp.Body)
	if err := c.checkRange(resp, m, from, to); err != nil {
		c.failures.Add(1)
		return fmt.Errorf("requesting chunks %d-%d of %s: %w", first, first+count-1, id.Short(), err)
	}
	body := io.LimitReader(resp.Body, to-from)
	for i := first; i < first+count; i++ {
		buf := make([]byte, m.ChunkLen(i)) // length from the verified manifest, not the network
		if _, err := io.ReadFull(body, buf); err != nil {
			c.failures.Add(1)
			return fmt.Errorf("reading chunk %d of %s from the origin: %w", i, id.Short(), err)
		}
		if err := m.VerifyChunk(i, buf); err != nil {
			c.failures.Add(1)
			return fmt.Errorf("origin sent a bad chunk (is its blob for %s damaged?): %w", id.Short(), err)
		}
		c.bytes.Add(int64(len(buf)))
		if err := fn(i, buf); err != nil {
			return err
		}
	}
	c.log.Debug("origin chunks", "track", id, "first", first, "count", count)
	return nil
}

// MaxHeadChunks bounds FetchHead.
const MaxHeadChunks = 16

// FetchHead reads the first count chunks of track id before its manifest is
// known, so that a play can start a round trip sooner: asked in parallel
// with the manifest and key. It calls fn with each chunk-sized piece as it
// arrives (the last may be short: the track ends), in order. The bytes are
// NOT verified here (there is no manifest yet): the caller must check each
// piece with the manifest's VerifyChunk before using it. At most count ×
// track.ChunkSize bytes are read, whatever the origin sends.
func (c *Client) FetchHead(ctx context.Context, id track.ID, count int, fn func(i int, data []byte) error) error {
	if count < 1 || count > MaxHeadChunks {
		return fmt.Errorf("%w: head of %d chunks (1..%d)", ErrRange, count, MaxHeadChunks)
	}
	want := int64(count) * track.ChunkSize
	req, err := c.newRequest(ctx, http.MethodGet, c.base.JoinPath("tracks", id.String()))
	if err != nil {
		return err
	}
	req.Header.Set("Range", "bytes=0-"+strconv.FormatInt(want-1, 10))
	resp, err := c.do(req)
	if err != nil {
		return fmt.Errorf("requesting the head of %s from the origin: %w", id.Short(), err)
	}
	defer drainClose(resp.Body)
	if err := checkStatus(resp, http.StatusPartialContent); err != nil {
		c.failures.Add(1)
		return fmt.Errorf("requesting the head of %s: %w", id.Short(), err)
	}
	a, b, _, err := ParseContentRange(resp.Header.Get("Content-Range"))
	if err != nil || a != 0 || b < 0 || b >= want || (resp.ContentLength >= 0 && resp.ContentLength != b+1) {
		c.failures.Add(1)
		return fmt.Errorf("%w: head of %s: Content-Range %q, Content-Length %d for bytes 0-%d (%v)",
			ErrBadContentRange, id.Short(), resp.Header.Get("Content-Range"), resp.ContentLength, want-1, err)
	}
	for i, off := 0, int64(0); off <= b; i, off = i+1, off+track.ChunkSize {
		buf := make([]byte, min(track.ChunkSize, b+1-off)) // b < want: bounded by count, not by the network
		if _, err := io.ReadFull(resp.Body, buf); err != nil {
			c.failures.Add(1)
			return fmt.Errorf("reading the head of %s from the origin: %w", id.Short(), err)
		}
		c.bytes.Add(int64(len(buf)))
		if err := fn(i, buf); err != nil {
			return err
		}
	}
	return nil
}

func (c *Client) checkRange(resp *http.Response, m *track.Manifest, from, to int64) error {
	if err := checkStatus(resp, http.StatusPartialContent); err != nil {
		if resp.StatusCode == http.StatusOK {
			return fmt.Errorf("%w (the origin ignored the Range header; it must support byte ranges)", err)
		}
		return err
	}
	a, b, total, err := ParseContentRange(resp.Header.Get("Content-Range"))
	if err != nil {
		return err
	}
	if a != from || b != to-1 {
		return fmt.Errorf("%w: got bytes %d-%d, asked for %d-%d", ErrBadContentRange, a, b, from, to-1)
	}
	if total != m.Size {
		return fmt.Errorf("%w: origin says the track is %d bytes, manifest says %d", ErrBadContentRange, total, m.Size)
	}
	if resp.ContentLength >= 0 && resp.ContentLength != to-from {
		return fmt.Errorf("%w: Content-Length %d for %d bytes", ErrBadLength, resp.ContentLength, to-from)
	}
	return nil
}

func (c *Client) newRequest(ctx context.Context, method string, u *url.URL) (*http.Request, error) {
	if c.closed.Load() {
		return nil, ErrClosed
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("building origin request: %w", err)
	}
	req.Header.Set("Accept-Encoding", "identity")
	return req, nil
}

func (c *Client) do(req *http.Request) (*http.Response, error) {
	c.requests.Add(1)
	resp, err := c.hc.Do(req)
	if err != nil {
		c.failures.Add(1)
		return nil, err
	}
	return resp, nil
}

func checkStatus(resp *http.Response, want int) error {
	switch resp.StatusCode {
	case want:
		return nil
	case http.StatusNotFound:
		return fmt.Errorf("%w: %s", ErrNotFound, resp.Request.URL.Path)
	}
	return fmt.Errorf("%w: %s, want %d", ErrStatus, resp.Status, want)
}

// drainClose reads a little of what is left so the connection can be reused.
func drainClose(rc io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(rc, 4<<10))
	_ = rc.Close()
}

func numChunks(m *track.Manifest) int {
	if m == nil {
		return 0
	}
	return m.NumChunks()
}
