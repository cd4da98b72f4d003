package swarmbench

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/starling-audio/starling/tools/fleet"
	"github.com/starling-audio/starling/tools/swarmbench/netem"
)

// topology is the emulated network's shape: who is who by loopback
// address, the one-way delay of every link, and every speaker's uplink.
//
//   - A speaker is known by its own loopback IP (fleet.SpeakerIP): it
//     listens for peers there and dials its peers from there, so the proxy
//     in front of speaker B's listener learns from an accepted connection's
//     remote address that A dialled, and knows both ends of the link.
//   - The link {A,B} has a round trip drawn uniformly in [PeerRTTMin,
//     PeerRTTMax] from a seeded hash of the unordered pair: reproducible,
//     symmetric, and independent of which side dialled or when.
//   - Each speaker has ONE upload bucket, shared by all its links: bytes
//     A→B are paced by A's bucket, B→A by B's.
//   - A connection from an address that is no speaker's (unknownIP) gets
//     the midpoint round trip, its sender's upload is uncapped, and the
//     listener's own upload still goes through its bucket; such
//     connections are counted and reported in the result's notes.
type topology struct {
	seed           uint64
	rttMin, rttMax time.Duration
	buckets        []*netem.Bucket // by speaker; nil entries when uncapped
	unknown        atomic.Int64
	conns          atomic.Int64
}

func newTopology(cfg *Config) (*topology, error) {
	t := &topology{seed: cfg.Seed, rttMin: cfg.Net.PeerRTTMin, rttMax: cfg.Net.PeerRTTMax,
		buckets: make([]*netem.Bucket, cfg.Speakers)}
	if cfg.Net.UploadBitsPerSec > 0 {
		for i := range t.buckets {
			// The cap is in simulated time: K times faster playback needs K
			// times the bytes per wall second for the same audio seconds.
			b, err := netem.NewBucket(cfg.Net.UploadBitsPerSec / 8 * cfg.Speed)
			if err != nil {
				return nil, fmt.Errorf("%w: upload cap: %w", ErrConfig, err)
			}
			t.buckets[i] = b
		}
	}
	return t, nil
}

// splitmix64 is a bijective 64-bit mixer (Steele, Lea & Flood).
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// RTT is the round trip of the link between speakers a and b.
func (t *topology) RTT(a, b int) time.Duration {
	lo, hi := min(a, b), max(a, b)
	h := splitmix64(t.seed ^ splitmix64(uint64(lo)<<32|uint64(hi)))
	u := float64(h>>11) / (1 << 53) // uniform in [0, 1)
	return t.rttMin + time.Duration(u*float64(t.rttMax-t.rttMin))
}

// midRTT is the round trip assumed for an unknown dialler.
func (t *topology) midRTT() time.Duration { return (t.rttMin + t.rttMax) / 2 }

// route returns the proxy route of speaker owner's peer listener: the
// shapers of a connection dialled from client.
func (t *topology) route(owner int) func(client netip.Addr) (up, down *netem.Shaper) {
	return func(client netip.Addr) (up, down *netem.Shaper) {
		t.conns.Add(1)
		rtt := t.midRTT()
		var upB *netem.Bucket
		if a, ok := fleet.SpeakerIndex(client); ok && a < len(t.buckets) {
			rtt, upB = t.RTT(a, owner), t.buckets[a]
		} else {
			t.unknown.Add(1)
		}
		// Errors are impossible here: delays were validated with the
		// config (at most a minute) and buckets are built valid.
		up, _ = netem.NewLinkShaper(rtt/2, upB)
		down, _ = netem.NewLinkShaper(rtt/2, t.buckets[owner])
		return up, down
	}
}

// network is the emulated network: one shared proxy in front of the
// origin and one in front of the session listener, each with OriginRTT/2
// each way and no cap; one proxy per speaker in front of its peer
// listener, routed by topology.
type network struct {
	ctx  context.Context
	cfg  *Config
	topo *topology
	mu   sync.Mutex
	once sync.Once
	err  error

	session, origin *netem.Proxy
	peers           []*netem.Proxy
}

func newNetwork(ctx context.Context, cfg *Config) (*network, error) {
	topo, err := newTopology(cfg)
	if err != nil {
		return nil, err
	}
	return &network{ctx: ctx, cfg: cfg, topo: topo}, nil
}

func (n *network) speaker(i int, def fleet.NetAddrs) (fleet.NetAddrs, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.once.Do(func() {
		half := n.cfg.Net.OriginRTT / 2
		sh := func() *netem.Shaper { s, _ := netem.NewLinkShaper(half, nil); return s }
		if n.session, n.err = netem.Listen(n.ctx, netem.ProxyConfig{Target: def.Session, Up: sh(), Down: sh()}); n.err != nil {
			return
		}
		host, ok := strings.CutPrefix(def.Origin, "http://")
		if !ok {
			n.err = fmt.Errorf("origin URL %q: want http://host:port", def.Origin)
			return
		}
		n.origin, n.err = netem.Listen(n.ctx, netem.ProxyConfig{Target: host, Up: sh(), Down: sh()})
	})
	if n.err != nil {
		return def, n.err
	}
	out := def
	out.Session = n.session.Addr()
	out.Origin = "http://" + n.origin.Addr()
	if def.PeerListen == "" {
		return out, nil
	}
	if i < 0 || i >= len(n.topo.buckets) {
		return def, fmt.Errorf("speaker %d outside the topology of %d", i, len(n.topo.buckets))
	}
	p, err := netem.Listen(n.ctx, netem.ProxyConfig{Target: def.PeerListen, Route: n.topo.route(i)})
	if err != nil {
		return def, err
	}
	n.peers = append(n.peers, p)
	out.Advertise = p.Addr()
	return out, nil
}

// notes reports what the figures depend on.
func (n *network) notes() []string {
	var out []string
	if u := n.topo.unknown.Load(); u > 0 {
		out = append(out, fmt.Sprintf("%d of %d peer connections came from an address that is no speaker's (daemon not dialling from its listen IP?): they got the midpoint RTT %v and an uncapped upload on the dialler's side",
			u, n.topo.conns.Load(), n.topo.midRTT()))
	}
	return out
}

func (n *network) close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	var errs []error
	for _, p := range append(n.peers, n.session, n.origin) {
		if p != nil {
			errs = append(errs, p.Close())
		}
	}
	return errors.Join(errs...)
}
