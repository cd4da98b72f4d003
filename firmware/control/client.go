package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// maxResponse bounds an API answer read by the Client.
const maxResponse = 1 << 20

// Client talks to a starlingd control API. It is safe for concurrent use.
type Client struct {
	base  *url.URL
	token string
	hc    *http.Client
}

// NewClient returns a client for addr ("host:port", "host" for the default
// port, or an http:// or https:// URL) presenting token. hc may be nil for
// a default client; deadlines come from the contexts passed to each call.
func NewClient(addr, token string, hc *http.Client) (*Client, error) {
	if addr == "" {
		return nil, errors.New("control client: no address (use --addr or STARLING_ADDR)")
	}
	if !strings.Contains(addr, "://") {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			addr = net.JoinHostPort(strings.Trim(addr, "[]"), strconv.Itoa(DefaultPort))
		}
		addr = "http://" + addr
	}
	u, err := url.Parse(addr)
	if err != nil {
		return nil, fmt.Errorf("control client: address %q: %w", addr, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("control client: address %q: want host:port or an http(s) URL", addr)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	if _, err := ParseToken([]byte(token)); err != nil {
		return nil, fmt.Errorf("control client: %w", err)
	}
	if hc == nil {
		hc = &http.Client{}
	}
	return &Client{base: u, token: token, hc: hc}, nil
}

func (c *Client) newRequest(ctx context.Context, method, name string, query url.Values, body any) (*http.Request, error) {
	u := *c.base
	u.Path += APIPrefix + name
	u.RawQuery = query.Encode()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("encoding %s request: %w", name, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, fmt.Errorf("building %s request: %w", name, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, nil
}

// do sends one request and decodes a JSON answer into out (if not nil).
func (c *Client) do(ctx context.Context, method, name string, query url.Values, body, out any) error {
	req, err := c.newRequest(ctx, method, name, query, body)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w (is starlingd running, and is the address right?)", name, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return fmt.Errorf("%s: reading answer: %w", name, err)
	}
	if len(b) > maxResponse {
		return fmt.Errorf("%s: answer larger than %d bytes", name, maxResponse)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("%s: %w", name, apiError(resp.StatusCode, b))
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s: decoding answer: %w", name, err)
	}
	return nil
}

func apiError(code int, body []byte) *APIError {
	var eb errorBody
	if json.Unmarshal(body, &eb) != nil || eb.Error == "" {
		eb.Error = http.StatusText(code)
	}
	return &APIError{StatusCode: code, Message: eb.Error}
}

// Health asks the unauthenticated health endpoint for the daemon's version.
func (c *Client) Health(ctx context.Context) (version string, err error) {
	var h struct {
		Status  string `json:"status"`
		Version string `json:"version"`
	}
	if err := c.do(ctx, http.MethodGet, "health", nil, nil, &h); err != nil {
		return "", err
	}
	return h.Version, nil
}

// Status returns the player's status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var st Status
	err := c.do(ctx, http.MethodGet, "status", nil, nil, &st)
	return st, err
}

// Search queries the catalogue.
func (c *Client) Search(ctx context.Context, query string, offset, limit int) (SearchResult, error) {
	q := url.Values{"q": {query}}
	if offset > 0 {
		q.Set("offset", strconv.Itoa(offset))
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var res SearchResult
	err := c.do(ctx, http.MethodGet, "search", q, nil, &res)
	return res, err
}

// Play plays a track now and returns it.
func (c *Client) Play(ctx context.Context, req PlayRequest) (Track, error) {
	var res PlayResult
	err := c.do(ctx, http.MethodPost, "play", nil, req, &res)
	return res.Track, err
}

// Queue appends a track to the queue and returns it.
func (c *Client) Queue(ctx context.Context, req PlayRequest) (Track, error) {
	var res PlayResult
	err := c.do(ctx, http.MethodPost, "queue", nil, req, &res)
	return res.Track, err
}

// Pause pauses playback.
func (c *Client) Pause(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "pause", nil, nil, nil)
}

// Resume resumes playback.
func (c *Client) Resume(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "resume", nil, nil, nil)
}

// Next skips to the next queued track.
func (c *Client) Next(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "next", nil, nil, nil)
}

// Previous goes back to the previous track.
func (c *Client) Previous(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "previous", nil, nil, nil)
}

// Seek moves the playback point.
func (c *Client) Seek(ctx context.Context, pos time.Duration) error {
	ms := pos.Milliseconds()
	return c.do(ctx, http.MethodPost, "seek", nil, SeekRequest{PositionMs: &ms}, nil)
}

// SetVolume sets the volume in percent.
func (c *Client) SetVolume(ctx context.Context, pct int) error {
	return c.do(ctx, http.MethodPut, "volume", nil, VolumeRequest{Volume: &pct}, nil)
}

// Events follows the event stream, calling fn for each event (the first is
// always an EventStatus), until ctx is done (it returns ctx's error), fn
// returns an error (returned as is), or the daemon ends the stream (nil).
func (c *Client) Events(ctx context.Context, fn func(Event) error) error {
	req, err := c.newRequest(ctx, http.MethodGet, "events", nil, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("events: %w (is starlingd running, and is the address right?)", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
		return fmt.Errorf("events: %w", apiError(resp.StatusCode, b))
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "text/event-stream" {
		return fmt.Errorf("events: %w: content type %q", ErrStreamFormat, resp.Header.Get("Content-Type"))
	}
	dec := newSSEDecoder(resp.Body)
	for {
		ev, _, err := dec.next()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("events: %w", err)
		}
		if err := fn(ev); err != nil {
			return err
		}
	}
}
