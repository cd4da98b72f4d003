package firmware

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/starling-audio/starling/cache"
	"github.com/starling-audio/starling/p2p/peer"
	"github.com/starling-audio/starling/p2p/stream"
	"github.com/starling-audio/starling/p2p/track"
)

// peerLink owns the speaker's peer node. The node needs a device
// certificate, which only a login gives, so it starts after the first login;
// until then (and when peers are disabled) the streamer sees no peers and
// plays from the cache and the origin.
type peerLink struct {
	cfg  PeerConfig
	link *serviceLink
	c    *cache.Cache
	log  *slog.Logger
	node atomic.Pointer[peer.Node]
	// paused remembers the streamer's upload gate until the node exists.
	paused atomic.Bool
}

var (
	_ stream.PeerSource = (*peerLink)(nil)
	_ stream.UploadGate = (*peerLink)(nil)
	_ peer.Credentials  = sessionCreds{}
	_ peer.Tracker      = sessionTracker{}
	_ peer.Store        = (*cache.Cache)(nil)
	_ stream.Store      = (*cache.Cache)(nil)
)

// tracker is the service's tracker, or nil when peer.tracker is off.
func (p *peerLink) tracker() peer.Tracker {
	if !p.cfg.Tracker {
		return nil
	}
	return sessionTracker{p.link}
}

// Run waits for the first login, then runs the node until ctx ends.
func (p *peerLink) Run(ctx context.Context) error {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for !p.link.online() {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
	n, err := peer.New(peer.Config{
		ListenAddr: p.cfg.Listen, AdvertiseAddr: p.cfg.Advertise,
		Credentials: sessionCreds{p.link}, Store: p.c, Tracker: p.tracker(), NoOverlaySearch: !p.cfg.OverlaySearch,
		Logger: p.log, Agent: "starlingd",
		MaxNeighbours: p.cfg.MaxNeighbours, SoftNeighbours: p.cfg.SoftNeighbours, MaxUploads: p.cfg.MaxUploads,
	})
	if err != nil {
		return fmt.Errorf("starting the peer node: %w", err)
	}
	n.SetUploadPaused(p.paused.Load())
	p.node.Store(n)
	defer p.node.Store(nil)
	return n.Run(ctx)
}

func (p *peerLink) Search(ctx context.Context, id track.ID) {
	if n := p.node.Load(); n != nil {
		n.Search(ctx, id)
	}
}

func (p *peerLink) Candidates(id track.ID) []stream.Peer {
	if n := p.node.Load(); n != nil {
		return n.Candidates(id)
	}
	return nil
}

func (p *peerLink) Penalize(pe stream.Peer, reason error) {
	if n := p.node.Load(); n != nil {
		n.Penalize(pe, reason)
	}
}

func (p *peerLink) Drop(pe stream.Peer, reason error) {
	if n := p.node.Load(); n != nil {
		n.Drop(pe, reason)
	}
}

func (p *peerLink) SetUploadPaused(paused bool) {
	p.paused.Store(paused)
	if n := p.node.Load(); n != nil {
		n.SetUploadPaused(paused)
	}
}

func (p *peerLink) neighbours() int {
	if n := p.node.Load(); n != nil {
		return n.Neighbours()
	}
	return 0
}

func (p *peerLink) uploaded() int64 {
	if n := p.node.Load(); n != nil {
		return n.Stats().BytesUp
	}
	return 0
}

// sessionCreds gives the peer transport the certificate of the current login.
type sessionCreds struct{ link *serviceLink }

func (s sessionCreds) Certificate() (*tls.Certificate, error) {
	c, err := s.link.client()
	if err != nil {
		return nil, err
	}
	cert, _, err := c.PeerCertificate()
	return cert, err
}

func (s sessionCreds) CAPool() (*x509.CertPool, error) {
	c, err := s.link.client()
	if err != nil {
		return nil, err
	}
	_, pool, err := c.PeerCertificate()
	return pool, err
}

// sessionTracker asks the service's tracker.
type sessionTracker struct{ link *serviceLink }

func (s sessionTracker) Query(ctx context.Context, id track.ID) ([]peer.Holder, error) {
	c, err := s.link.client()
	if err != nil {
		return nil, err
	}
	ps, err := c.Peers(ctx, id)
	if err != nil {
		return nil, err
	}
	out := make([]peer.Holder, len(ps))
	for i, p := range ps {
		out[i] = peer.Holder{ID: p.ID, Addr: p.Addr}
	}
	return out, nil
}
