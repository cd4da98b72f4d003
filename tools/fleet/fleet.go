package fleet

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/starling-audio/starling/firmware/control"
)

// Options configures a fleet.
type Options struct {
	// Dir holds everything: catalogue, server state, one directory per
	// speaker, logs. Required.
	Dir string
	// Bin is the directory holding starling-server, starling-ingest and
	// starlingd. Required.
	Bin string
	// Speakers is the number of speakers (default 3).
	Speakers int
	// Tracks are the audio files to ingest (Ogg Vorbis, or anything
	// ffmpeg/oggenc can transcode).
	Tracks []string
	// Copies ingests every track this many times with distinct keys, so
	// the catalogue holds len(Tracks)*Copies different tracks (default 1).
	Copies int
	// Backend is the speakers' audio backend (default "null");
	// AudibleSpeaker, when >= 0, gives that one speaker "auto" instead.
	Backend        string
	AudibleSpeaker int
	// Speed > 1 plays on the virtual clock (backend "virtual") this many
	// times faster than real time.
	Speed float64
	// Peers enables the peer overlay (default true via NoPeers=false).
	NoPeers bool
	// NoTracker and NoOverlaySearch turn off one of the two ways of
	// finding peers ([peer] tracker / overlay_search = false).
	NoTracker, NoOverlaySearch bool
	// Decode, when set, is written as [audio] decode ("full" or "bitrate":
	// consume the encoded bytes at the track's bitrate on the virtual
	// clock instead of decoding; needs Speed > 1).
	Decode string
	// ExtraConfig is appended to every speaker's TOML config.
	ExtraConfig string
	// Net, when set, gives per-speaker network overrides (addresses of
	// delaying proxies in front of the service and of the speaker's own
	// peer listener). It is called once per speaker with the speaker's
	// index and the addresses it would use by default.
	Net func(i int, def NetAddrs) (NetAddrs, error)
	// OwnIPs gives speaker i its own loopback address SpeakerIP(i) for
	// its peer listener (and so, in the daemon, for the connections it
	// dials to peers), so that a proxy in front of a peer listener can tell
	// which speaker dialled it. Linux routes all of 127/8 to loopback.
	OwnIPs bool
	// MemoryLimit, when > 0, runs every speaker inside its own cgroup v1
	// memory group of this many bytes (needs root and
	// /sys/fs/cgroup/memory); see Speaker.CgroupStats.
	MemoryLimit int64
	// Log receives progress lines (default: discard).
	Log *slog.Logger
}

// Fleet is a running system.
type Fleet struct {
	opts     Options
	Speakers []*Speaker
	// OriginURL, SessionAddr, MetricsAddr of the service.
	OriginURL, SessionAddr, MetricsAddr string

	server *proc
	bin    func(string) string
	state  string
	cgroup string // parent memory cgroup directory, "" when unused
	mu     sync.Mutex
	closed bool
	given  map[string]bool // host:port handed out by freePort
}

// Speaker is one running starlingd.
type Speaker struct {
	Name    string
	Dir     string
	Config  string
	Addr    string // control API host:port
	Token   string
	Control *control.Client
	// Net is where the speaker connects and what it advertises.
	Net NetAddrs
	// Cgroup is the speaker's memory cgroup directory ("" when unused).
	Cgroup string

	pmu  sync.Mutex
	proc *proc
}

func (s *Speaker) process() *proc {
	s.pmu.Lock()
	defer s.pmu.Unlock()
	return s.proc
}

// PID is the speaker's process ID (of its latest start).
func (s *Speaker) PID() int { return s.process().cmd.Process.Pid }

// LogPath is where the speaker's stderr goes.
func (s *Speaker) LogPath() string { return s.process().logPath }

type proc struct {
	cmd     *exec.Cmd
	logPath string
	logFile *os.File
	done    chan struct{}
	err     error
}

func start(ctx context.Context, logPath string, name string, args ...string) (*proc, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting %s: %w", filepath.Base(name), err)
	}
	p := &proc{cmd: cmd, logPath: logPath, logFile: f, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

// stop sends SIGTERM, then SIGKILL after grace.
func (p *proc) stop(grace time.Duration) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
		var ee *exec.ExitError
		if errors.As(p.err, &ee) && ee.ExitCode() != 0 {
			return fmt.Errorf("%s exited with %d (log: %s)", filepath.Base(p.cmd.Path), ee.ExitCode(), p.logPath)
		}
		return nil
	case <-t.C:
		p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not stop within %v after SIGTERM; killed (log: %s)", filepath.Base(p.cmd.Path), grace, p.logPath)
	}
}

// SpeakerIP is speaker i's own loopback address: 127.0.1.1 to 127.0.1.254
// for the first 254 speakers, then 127.0.2.1 and on (i < 255*254).
func SpeakerIP(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{127, 0, byte(1 + i/254), byte(1 + i%254)})
}

// SpeakerIndex is the inverse of SpeakerIP: the speaker whose address a
// is, or false.
func SpeakerIndex(a netip.Addr) (int, bool) {
	a = a.Unmap()
	if !a.Is4() {
		return 0, false
	}
	b := a.As4()
	if b[0] != 127 || b[1] != 0 || b[2] < 1 || b[3] < 1 || b[3] > 254 {
		return 0, false
	}
	return int(b[2]-1)*254 + int(b[3]-1), true
}

// freePort returns a port that was free a moment ago on host and that this
// fleet has not handed out before (random picks for 200 speakers collided:
// two daemons were given the same control port). It prefers ports below the
// kernel's ephemeral range (32768 and up on Linux), so that a port reserved
// for a daemon is not taken, before the daemon binds it, by an outgoing
// connection or a ":0" listener (the benchmark's proxies).
func (f *Fleet) freePort(host string) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.given == nil {
		f.given = map[string]bool{}
	}
	try := func(port int) (int, bool) {
		hp := net.JoinHostPort(host, strconv.Itoa(port))
		if f.given[hp] {
			return 0, false
		}
		l, err := net.Listen("tcp", hp)
		if err != nil {
			return 0, false
		}
		port = l.Addr().(*net.TCPAddr).Port
		l.Close()
		hp = net.JoinHostPort(host, strconv.Itoa(port))
		if f.given[hp] {
			return 0, false
		}
		f.given[hp] = true
		return port, true
	}
	for range 200 {
		if port, ok := try(20000 + mrand.IntN(12000)); ok {
			return port, nil
		}
	}
	for range 50 {
		if port, ok := try(0); ok {
			return port, nil
		}
	}
	return 0, fmt.Errorf("fleet: no free port on %s", host)
}

func run(ctx context.Context, name string, args ...string) ([]byte, error) {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w: %s", filepath.Base(name), strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// Start ingests the tracks, provisions one device per speaker, starts the
// service and the speakers, and returns once every control API answers.
func Start(ctx context.Context, o Options) (f *Fleet, err error) {
	if o.Dir == "" || o.Bin == "" {
		return nil, errors.New("fleet: Dir and Bin are required")
	}
	if o.Speakers <= 0 {
		o.Speakers = 3
	}
	if o.Copies <= 0 {
		o.Copies = 1
	}
	if o.Backend == "" {
		o.Backend = "null"
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	bin := func(n string) string { return filepath.Join(o.Bin, n) }
	for _, n := range []string{"starling-server", "starling-ingest", "starlingd"} {
		if _, err := os.Stat(bin(n)); err != nil {
			return nil, fmt.Errorf("fleet: %w (run `make build` first)", err)
		}
	}
	catDir, stateDir := filepath.Join(o.Dir, "catalog"), filepath.Join(o.Dir, "server-state")
	f = &Fleet{opts: o, bin: bin, state: stateDir}
	defer func() {
		if err != nil {
			f.Close()
		}
	}()

	// Catalogue: the files once, then every further copy in one run (the
	// tool opens the catalogue once per run).
	if _, err := run(ctx, bin("starling-ingest"), append([]string{"-c", catDir}, o.Tracks...)...); err != nil {
		return f, fmt.Errorf("fleet: ingesting: %w", err)
	}
	if o.Copies > 1 {
		args := []string{"-c", catDir, "--duplicate"}
		for range o.Copies - 1 {
			args = append(args, o.Tracks...)
		}
		if _, err := run(ctx, bin("starling-ingest"), args...); err != nil {
			return f, fmt.Errorf("fleet: ingesting copies: %w", err)
		}
	}
	o.Log.Info("catalogue ready", "tracks", len(o.Tracks)*o.Copies)

	// Service.
	var ports [3]int
	for i := range ports {
		if ports[i], err = f.freePort("127.0.0.1"); err != nil {
			return f, err
		}
	}
	f.SessionAddr = fmt.Sprintf("127.0.0.1:%d", ports[0])
	f.OriginURL = fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	f.MetricsAddr = fmt.Sprintf("127.0.0.1:%d", ports[2])
	f.server, err = start(ctx, filepath.Join(o.Dir, "server.log"), bin("starling-server"), "serve",
		"--catalog", catDir, "--state", stateDir, "--listen", f.SessionAddr,
		"--origin-listen", strings.TrimPrefix(f.OriginURL, "http://"), "--metrics-listen", f.MetricsAddr)
	if err != nil {
		return f, err
	}
	if err := waitTCP(ctx, f.SessionAddr, f.server); err != nil {
		return f, fmt.Errorf("fleet: service did not start: %w (log: %s)", err, f.server.logPath)
	}

	if o.MemoryLimit > 0 {
		if f.cgroup, err = makeCgroupParent(); err != nil {
			return f, err
		}
	}

	// Speakers: provisioned one by one (the service's device registry),
	// then started StartParallel at a time, each waited for until logged
	// in, so that hundreds of daemons do not start and log in at once on a
	// small machine.
	for i := 0; i < o.Speakers; i++ {
		s, err := f.prepareSpeaker(ctx, i, bin, stateDir)
		if err != nil {
			return f, err
		}
		f.Speakers = append(f.Speakers, s)
	}
	if err := f.startAll(ctx); err != nil {
		return f, err
	}
	o.Log.Info("fleet ready", "speakers", len(f.Speakers), "session", f.SessionAddr, "origin", f.OriginURL)
	return f, nil
}

// StartParallel is how many speakers start (and log in) at once.
const StartParallel = 8

// startAll launches every prepared speaker, StartParallel at a time, and
// returns once all are logged in or the first fails.
func (f *Fleet) startAll(ctx context.Context) error {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, StartParallel)
	errs := make([]error, len(f.Speakers))
	var wg sync.WaitGroup
	for i, s := range f.Speakers {
		select {
		case sem <- struct{}{}:
		case <-sctx.Done():
		}
		if sctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := f.launch(sctx, s); err != nil {
				errs[i] = err
				cancel()
				return
			}
			if err := waitReady(sctx, s); err != nil {
				errs[i] = fmt.Errorf("fleet: %s did not become ready: %w (log: %s)", s.Name, err, s.LogPath())
				cancel()
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return errors.Join(errs...)
}

func (f *Fleet) prepareSpeaker(ctx context.Context, i int, bin func(string) string, serverState string) (*Speaker, error) {
	o := f.opts
	name := fmt.Sprintf("speaker-%d", i+1)
	dir := filepath.Join(o.Dir, name)
	if err := os.MkdirAll(filepath.Join(dir, "state"), 0o700); err != nil {
		return nil, err
	}
	creds, err := run(ctx, bin("starling-server"), "device", "add", name, "--state", serverState)
	if err != nil {
		return nil, fmt.Errorf("fleet: provisioning %s: %w", name, err)
	}
	credPath := filepath.Join(dir, "state", "credentials.json")
	if err := os.WriteFile(credPath, creds, 0o600); err != nil {
		return nil, err
	}
	ctlPort, err := f.freePort("127.0.0.1")
	if err != nil {
		return nil, err
	}
	peerHost := "127.0.0.1"
	if o.OwnIPs {
		peerHost = SpeakerIP(i).String()
	}
	peerPort, err := f.freePort(peerHost)
	if err != nil {
		return nil, fmt.Errorf("fleet: a peer port on %s for %s: %w", peerHost, name, err)
	}
	backend, speed := o.Backend, 1.0
	if o.Speed > 1 {
		backend, speed = "virtual", o.Speed
	}
	if o.AudibleSpeaker == i {
		backend, speed = "auto", 1
	}
	peerListen := net.JoinHostPort(peerHost, strconv.Itoa(peerPort))
	if o.NoPeers {
		peerListen = ""
	}
	na := NetAddrs{Session: f.SessionAddr, Origin: f.OriginURL, PeerListen: peerListen, Advertise: peerListen}
	if o.Net != nil {
		if na, err = o.Net(i, na); err != nil {
			return nil, fmt.Errorf("fleet: network of %s: %w", name, err)
		}
	}
	audioExtra, peerExtra := "", ""
	if o.Decode != "" {
		audioExtra = fmt.Sprintf("decode = %q\n", o.Decode)
	}
	if o.NoTracker {
		peerExtra += "tracker = false\n"
	}
	if o.NoOverlaySearch {
		peerExtra += "overlay_search = false\n"
	}
	cfg := fmt.Sprintf(`# written by tools/fleet
[device]
name = %q
state_dir = %q
cache_dir = %q

[service]
address = %q
origin = %q
credentials = %q

[audio]
backend = %q
speed = %g
%s
[control]
listen = "127.0.0.1:%d"
mdns = false

[peer]
listen = %q
advertise = %q
enabled = %v
%s
[cache]
capacity = "256MB"

[board]
profile = "fake"

[runtime]
memory_limit = "40MiB"
%s
`, name, filepath.Join(dir, "state"), filepath.Join(dir, "cache"), na.Session, na.Origin, credPath,
		backend, speed, audioExtra, ctlPort, na.PeerListen, na.Advertise, !o.NoPeers, peerExtra, o.ExtraConfig)
	cfgPath := filepath.Join(dir, "starlingd.toml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	s := &Speaker{Name: name, Dir: dir, Config: cfgPath, Addr: fmt.Sprintf("127.0.0.1:%d", ctlPort), Net: na}
	if f.cgroup != "" {
		if s.Cgroup, err = makeCgroup(f.cgroup, name, o.MemoryLimit); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// launch starts (or restarts) the speaker's daemon, inside its cgroup when
// it has one. The log is appended to across restarts.
func (f *Fleet) launch(ctx context.Context, s *Speaker) error {
	logPath := filepath.Join(s.Dir, "starlingd.log")
	p, err := start(ctx, logPath, f.bin("starlingd"), "run", "--config", s.Config)
	if err != nil {
		return err
	}
	if s.Cgroup != "" {
		// The daemon is placed right after fork; the first milliseconds of
		// its start-up run outside the limit, which is fine for a memory
		// ceiling measured over minutes.
		if err := joinCgroup(s.Cgroup, p.cmd.Process.Pid); err != nil {
			p.stop(5 * time.Second)
			return err
		}
	}
	s.pmu.Lock()
	s.proc = p
	s.pmu.Unlock()
	return nil
}

func waitTCP(ctx context.Context, addr string, p *proc) error {
	for i := 0; ; i++ {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("process exited: %v", p.err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if i > 400 {
			return err
		}
	}
}

func waitReady(ctx context.Context, s *Speaker) error {
	if err := waitTCP(ctx, s.Addr, s.process()); err != nil {
		return err
	}
	tok, err := control.ReadTokenFile(filepath.Join(s.Dir, "state", "control.token"))
	if err != nil {
		return err
	}
	s.Token = tok
	if s.Control, err = control.NewClient(s.Addr, tok, nil); err != nil {
		return err
	}
	// Wait for login, so the first play has a warm session.
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := s.Control.Status(ctx)
		if err == nil && st.LoggedIn {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not logged in after 20s (last error %v)", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Close stops every speaker, then the service. Idempotent.
func (f *Fleet) Close() error {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil
	}
	f.closed = true
	f.mu.Unlock()
	var wg sync.WaitGroup
	errs := make([]error, len(f.Speakers)+1)
	for i, s := range f.Speakers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if p := s.process(); p != nil { // nil: never launched
				errs[i] = p.stop(10 * time.Second)
			}
		}()
	}
	wg.Wait()
	if f.server != nil {
		errs[len(f.Speakers)] = f.server.stop(10 * time.Second)
	}
	if f.cgroup != "" {
		errs = append(errs, removeCgroups(f.cgroup, f.Speakers))
	}
	return errors.Join(errs...)
}

// Metrics scrapes a speaker's /metrics into name{labels} -> value (the
// text exposition format, summed over nothing: one line one entry).
func (s *Speaker) Metrics(ctx context.Context) (map[string]float64, error) {
	req, err := newRequest(ctx, "http://"+s.Addr+"/metrics")
	if err != nil {
		return nil, err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return parseMetrics(io.LimitReader(resp.Body, 4<<20))
}

func parseMetrics(r io.Reader) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		out[line[:i]] = v
	}
	return out, sc.Err()
}

// RSS reads a process's RssAnon and VmHWM in KiB from /proc.
func RSS(pid int) (anonKiB, hwmKiB int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		fs := strings.Fields(line)
		if len(fs) < 2 {
			continue
		}
		switch fs[0] {
		case "RssAnon:":
			anonKiB, _ = strconv.ParseInt(fs[1], 10, 64)
		case "VmHWM:":
			hwmKiB, _ = strconv.ParseInt(fs[1], 10, 64)
		}
	}
	return anonKiB, hwmKiB, nil
}
