package firmware

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync/atomic"
	"time"

	"github.com/starling-audio/starling/firmware/control"
	"github.com/starling-audio/starling/p2p/session"
	"github.com/starling-audio/starling/p2p/track"
)

// ErrOffline is returned while the speaker is not logged in to the service.
var ErrOffline = fmt.Errorf("%w: not logged in to the catalogue service (cached tracks still play)", control.ErrUnavailable)

// serviceLink keeps the speaker logged in: it dials the service with
// exponential backoff until the first login succeeds, then the session
// client reconnects by itself; a permanent failure (e.g. revoked
// credentials) is logged and retried with backoff too. While offline every
// call returns ErrOffline and the speaker keeps playing from its cache.
type serviceLink struct {
	cfg     session.Config
	log     *slog.Logger
	cur     atomic.Pointer[session.Client]
	onLogin func(*session.Client)
}

// loadCredentials reads the blob `starling-server device add` printed.
func loadCredentials(path string) (session.Credentials, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return session.Credentials{}, fmt.Errorf("reading device credentials: %w (write the output of `starling-server device add NAME` there)", err)
	}
	return session.ParseCredentials(b)
}

func newServiceLink(creds session.Credentials, addr string, key ed25519.PrivateKey, version string, log *slog.Logger) (*serviceLink, error) {
	var cfg session.Config
	if err := creds.Apply(&cfg); err != nil {
		return nil, err
	}
	if addr != "" {
		cfg.Addr = addr
	}
	cfg.DeviceKey = key
	cfg.Logger = log
	cfg.Agent = "starlingd/" + version
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &serviceLink{cfg: cfg, log: log.With("component", "service-link")}, nil
}

// Run dials and supervises until ctx ends, then closes the session.
func (l *serviceLink) Run(ctx context.Context) error {
	backoff := l.cfg.MinBackoff
	for {
		c, err := session.Dial(ctx, l.cfg)
		if err == nil {
			l.cur.Store(c)
			l.log.Info("logged in to the catalogue service", "addr", l.cfg.Addr, "peer_id", c.PeerID())
			if l.onLogin != nil {
				l.onLogin(c)
			}
			backoff = l.cfg.MinBackoff
			err = l.watch(ctx, c)
			l.cur.Store(nil)
			c.Close()
			if ctx.Err() != nil {
				return nil
			}
			l.log.Warn("session failed permanently; logging in again", "err", err)
		} else if ctx.Err() != nil {
			return nil
		} else {
			l.log.Warn("cannot log in to the catalogue service; retrying", "addr", l.cfg.Addr, "in", backoff, "err", err)
		}
		t := time.NewTimer(backoff + rand.N(backoff/2+1))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, l.cfg.MaxBackoff)
	}
}

// watch returns when ctx ends or the client reports a permanent error.
func (l *serviceLink) watch(ctx context.Context, c *session.Client) error {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			if err := c.Err(); err != nil {
				return err
			}
		}
	}
}

// online reports whether the speaker is logged in now (not reconnecting).
func (l *serviceLink) online() bool {
	if l == nil {
		return false
	}
	c := l.cur.Load()
	return c != nil && c.Connected()
}

// client returns the live session or ErrOffline.
func (l *serviceLink) client() (*session.Client, error) {
	if l == nil {
		return nil, ErrOffline
	}
	if c := l.cur.Load(); c != nil {
		return c, nil
	}
	return nil, ErrOffline
}

// Manifest and Key make the link the streamer's Catalog.
func (l *serviceLink) Manifest(ctx context.Context, id track.ID) ([]byte, error) {
	c, err := l.client()
	if err != nil {
		return nil, err
	}
	_, raw, err := c.Manifest(ctx, id)
	return raw, err
}

func (l *serviceLink) Key(ctx context.Context, id track.ID) (track.Key, error) {
	c, err := l.client()
	if err != nil {
		return track.Key{}, err
	}
	return c.Key(ctx, id)
}

// search queries the catalogue.
func (l *serviceLink) search(ctx context.Context, q string, offset, limit int) ([]control.Track, int, error) {
	c, err := l.client()
	if err != nil {
		return nil, 0, err
	}
	r, err := c.Search(ctx, q, offset, limit)
	if err != nil {
		return nil, 0, fmt.Errorf("searching the catalogue: %w", err)
	}
	out := make([]control.Track, 0, len(r.Entries))
	for _, e := range r.Entries {
		out = append(out, control.Track{ID: e.ID, Title: e.Title, Artist: e.Artist, Album: e.Album, DurationMs: int64(e.DurationMs)})
	}
	return out, int(r.Total), nil
}

// announce tells the tracker which tracks this speaker can serve.
func (l *serviceLink) announce(ctx context.Context, listen string, ids []track.ID) error {
	c, err := l.client()
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		return nil
	}
	return c.Announce(ctx, listen, ids)
}

var errNoService = errors.New("no catalogue service configured")
