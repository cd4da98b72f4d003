package update

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/starling-audio/starling/firmware/internal/atomicfile"
)

// Restarter restarts the speaker daemon so the current slot runs. The real
// one asks systemd; tests restart the process themselves.
type Restarter interface {
	Restart(ctx context.Context) error
}

// Config configures an Agent. Zero fields take the documented defaults.
type Config struct {
	Dir           string              // update directory (slots, state); required
	Keys          []ed25519.PublicKey // trusted release keys; required to install
	Channel       string              // release channel; default "stable"
	Arch          string              // default runtime.GOARCH
	Version       string              // the running version; required
	BaseURL       string              // origin base URL; releases under /releases/<channel>/<arch>/
	HTTP          *http.Client        // default: 30 s timeout per request
	Restarter     Restarter           // required for Check/Rollback to take effect
	HealthTimeout time.Duration       // default 60 s
	MaxAttempts   int                 // starts of a pending version before rollback; default 3
	Now           func() time.Time    // default time.Now
	Logger        *slog.Logger
	// Invocation identifies this start of the service (systemd's
	// INVOCATION_ID), so a boot gate run twice for one start counts once.
	Invocation string
}

// Agent installs releases into the inactive slot, switches, and gates the
// new version on health. New starts nothing; every method runs on the
// caller's goroutine, and a file lock keeps two processes (the daemon and
// the timer's `starlingd update check`) from installing at once.
type Agent struct {
	cfg Config
	log *slog.Logger

	mu     sync.Mutex
	status State
	obs    []func(State)

	// test seams: hook is called before each install/switch step (the
	// kill-at-every-step test kills the process there); writeLimit
	// simulates a full disk during download.
	hook       func(step string)
	writeLimit int64
}

// New checks cfg and returns an idle agent.
func New(cfg Config) (*Agent, error) {
	if cfg.Dir == "" {
		return nil, errors.New("update: Dir is required")
	}
	if cfg.Version == "" {
		return nil, errors.New("update: Version is required")
	}
	if cfg.Channel == "" {
		cfg.Channel = "stable"
	}
	if !safeName(cfg.Channel) {
		return nil, fmt.Errorf("update: channel %q: want [a-z0-9._-]", cfg.Channel)
	}
	if cfg.Arch == "" {
		cfg.Arch = runtime.GOARCH
	}
	if cfg.BaseURL != "" {
		if u, err := url.Parse(cfg.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") {
			return nil, fmt.Errorf("update: base URL %q: want http(s)", cfg.BaseURL)
		}
	}
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{Timeout: 5 * time.Minute}
	}
	if cfg.HealthTimeout <= 0 {
		cfg.HealthTimeout = 60 * time.Second
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 3
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	a := &Agent{cfg: cfg, log: cfg.Logger.With("component", "update")}
	a.status.Step = StepIdle
	return a, nil
}

// Observe calls f with every saved state (metrics, control API).
func (a *Agent) Observe(f func(State)) {
	a.mu.Lock()
	a.obs = append(a.obs, f)
	s := a.status
	a.mu.Unlock()
	f(s)
}

func (a *Agent) publish(s State) {
	a.mu.Lock()
	a.status = s
	obs := a.obs
	a.mu.Unlock()
	for _, f := range obs {
		f(s)
	}
}

// Status returns the last state saved or loaded.
func (a *Agent) Status() State {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.status
}

// CurrentBinary is the executable the service runs: DIR/current/starlingd.
func (a *Agent) CurrentBinary() string { return filepath.Join(a.cfg.Dir, currentLink, BinaryName) }

func (a *Agent) step(name string) {
	if a.hook != nil {
		a.hook(name)
	}
}

// lock takes the install lock; the returned func releases it.
func (a *Agent) lock() (func(), error) {
	if err := os.MkdirAll(filepath.Join(a.cfg.Dir, slotsDir), 0o700); err != nil {
		return nil, fmt.Errorf("creating the update directory: %w (set [update] dir to a writable directory)", err)
	}
	f, err := os.OpenFile(filepath.Join(a.cfg.Dir, lockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening the update lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("taking the update lock: %w", err)
	}
	return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}

// BootResult says what Boot found.
type BootResult struct {
	Slot       string // slot current points to
	Pending    bool   // the running version must still prove healthy
	RolledBack string // version rolled back from (restart needed), or ""
}

// Boot runs at every start of the daemon (and of `starlingd update boot`).
// It repairs what an interrupted install, switch or rollback left, seeds
// slot a from seed (the running executable) when there are no slots yet,
// and counts a start of a pending version: past MaxAttempts it rolls back
// and marks the version bad (the caller then restarts).
func (a *Agent) Boot(seed string) (BootResult, error) {
	unlock, err := a.lock()
	if err != nil {
		return BootResult{}, err
	}
	defer unlock()
	os.Remove(filepath.Join(a.cfg.Dir, currentLink+".tmp"))
	st, err := a.loadState()
	if err != nil {
		a.log.Error("update state unreadable; starting over from the current slot", "err", err)
		st = State{Step: StepIdle}
	}
	cur, err := a.readCurrent()
	if err != nil {
		return BootResult{}, err
	}
	if cur == "" {
		if seed == "" {
			return BootResult{}, errors.New("update: no current slot and nothing to seed it from")
		}
		if err := a.seed(seed); err != nil {
			return BootResult{}, err
		}
		st = State{Step: StepIdle, Good: a.cfg.Version, GoodSlot: Slots[0], Bad: st.Bad}
		if err := a.saveState(st); err != nil {
			return BootResult{}, err
		}
		a.log.Info("update slots created", "slot", Slots[0], "version", a.cfg.Version)
		return BootResult{Slot: Slots[0]}, nil
	}
	res := BootResult{Slot: cur}
	p := st.Pending
	switch {
	case p == nil:
		if st.GoodSlot != cur { // a hand-made link, or state lost
			st.GoodSlot, st.Good = cur, a.cfg.Version
		}
		st.Step = StepIdle
	case cur == p.FromSlot:
		// Killed before the switch (install incomplete: retry later), or
		// after a rollback's switch (already marked bad).
		if p.RollingBack {
			st.markBad(p.Version)
			a.log.Warn("rollback completed", "bad", p.Version, "running", p.FromVersion)
		} else {
			a.log.Info("an interrupted install was abandoned", "version", p.Version)
		}
		st.Pending, st.Step, st.GoodSlot = nil, StepIdle, cur
	case p.RollingBack:
		if err := a.rollbackLocked(&st, "rollback interrupted; finishing it"); err != nil {
			return res, err
		}
		res.RolledBack, res.Slot = p.Version, p.FromSlot
	default: // cur == p.Slot: a start of the pending version
		if a.cfg.Invocation == "" || a.cfg.Invocation != p.Invocation {
			p.Attempts++
			p.Invocation = a.cfg.Invocation
		}
		if err := a.verifySlot(cur); err != nil {
			st.LastError = err.Error()
			if err := a.rollbackLocked(&st, "installed image damaged"); err != nil {
				return res, err
			}
			res.RolledBack, res.Slot = p.Version, p.FromSlot
			break
		}
		if p.Attempts > a.cfg.MaxAttempts {
			if err := a.rollbackLocked(&st, fmt.Sprintf("started %d times without proving healthy (crash loop?)", p.Attempts-1)); err != nil {
				return res, err
			}
			res.RolledBack, res.Slot = p.Version, p.FromSlot
			break
		}
		st.Step = StepVerifying
		res.Pending = true
		a.log.Info("new version on probation", "version", p.Version, "attempt", p.Attempts, "of", a.cfg.MaxAttempts, "health_timeout", a.cfg.HealthTimeout)
	}
	return res, a.saveState(st)
}

// seed copies the running executable into slot a and points current at it.
func (a *Agent) seed(exe string) error {
	dir := a.slotPath(Slots[0])
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("seeding slot a: %w", err)
	}
	if _, err := copyFile(exe, filepath.Join(dir, BinaryName), -1); err != nil {
		return fmt.Errorf("seeding slot a from %s: %w", exe, err)
	}
	if err := syncDir(dir); err != nil {
		return err
	}
	return a.switchCurrent(Slots[0])
}

// verifySlot re-checks an installed slot against its manifest, when it has
// one (a seeded slot has none: it is the factory image).
func (a *Agent) verifySlot(slot string) error {
	raw, err := readLimited(a.slotPath(slot, slotManifest), MaxManifestBytes)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	sig, err := readLimited(a.slotPath(slot, slotSignature), MaxSignatureBytes)
	if err != nil {
		return err
	}
	m, err := Verify(raw, sig, a.cfg.Keys)
	if err != nil {
		return fmt.Errorf("slot %s: %w", slot, err)
	}
	return checkImage(a.slotPath(slot, BinaryName), m)
}

// Confirm marks the pending version good. It is a no-op when nothing is
// pending.
func (a *Agent) Confirm() error {
	unlock, err := a.lock()
	if err != nil {
		return err
	}
	defer unlock()
	st, err := a.loadState()
	if err != nil {
		return err
	}
	cur, err := a.readCurrent()
	if err != nil {
		return err
	}
	p := st.Pending
	if p == nil || p.RollingBack || cur != p.Slot {
		return nil
	}
	a.log.Info("new version healthy; confirmed", "version", p.Version, "attempts", p.Attempts)
	st.Good, st.GoodSlot, st.Pending, st.Step, st.LastError = p.Version, p.Slot, nil, StepIdle, ""
	return a.saveState(st)
}

// Rollback switches back to the previous slot, marks the pending version
// bad and restarts. ErrNothingPending if nothing is on probation.
func (a *Agent) Rollback(ctx context.Context, reason string) error {
	unlock, err := a.lock()
	if err != nil {
		return err
	}
	st, err := a.loadState()
	if err == nil && st.Pending == nil {
		err = ErrNothingPending
	}
	if err == nil {
		err = a.rollbackLocked(&st, reason)
	}
	unlock()
	if err != nil {
		return err
	}
	return a.restart(ctx)
}

// rollbackLocked: record the decision, switch back, finish the record.
// Each step is durable, so a kill anywhere is finished by Boot.
func (a *Agent) rollbackLocked(st *State, reason string) error {
	p := st.Pending
	a.log.Error("rolling back", "bad", p.Version, "to", p.FromVersion, "reason", reason)
	p.RollingBack = true
	st.Step = StepRollingBack
	st.LastError = fmt.Sprintf("%s rolled back: %s", p.Version, reason)
	if err := a.saveState(*st); err != nil {
		return err
	}
	a.step("rollback-switch")
	if err := a.switchCurrent(p.FromSlot); err != nil {
		return err
	}
	a.step("rollback-record")
	st.markBad(p.Version)
	st.Pending, st.Step, st.GoodSlot = nil, StepIdle, p.FromSlot
	if st.Good == "" {
		st.Good = p.FromVersion
	}
	return a.saveState(*st)
}

func (a *Agent) restart(ctx context.Context) error {
	if a.cfg.Restarter == nil {
		return errors.New("update: no restarter configured; restart starlingd by hand")
	}
	if err := a.cfg.Restarter.Restart(ctx); err != nil {
		return fmt.Errorf("restarting starlingd: %w", err)
	}
	return nil
}

// Gate waits for healthy to return nil while the running version is on
// probation: on success it confirms, after HealthTimeout it rolls back and
// restarts. It returns at once if nothing is pending.
func (a *Agent) Gate(ctx context.Context, healthy func(context.Context) error) error {
	st := a.Status()
	if st.Pending == nil || st.Pending.RollingBack {
		return nil
	}
	deadline := time.NewTimer(a.cfg.HealthTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		if last = healthy(ctx); last == nil {
			return a.Confirm()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-deadline.C:
			return a.Rollback(ctx, fmt.Sprintf("not healthy within %v: %v", a.cfg.HealthTimeout, last))
		case <-tick.C:
		}
	}
}

// Check fetches the channel's manifest, and if it offers an acceptable
// newer version downloads, verifies, installs, switches and restarts. It
// returns the version installed, "" when there was nothing to do.
func (a *Agent) Check(ctx context.Context) (string, error) {
	if a.cfg.BaseURL == "" {
		return "", errors.New("update: no origin configured ([service] origin)")
	}
	unlock, err := a.lock()
	if err != nil {
		return "", err
	}
	st, err := a.loadState()
	if err != nil {
		unlock()
		return "", err
	}
	if st.Pending != nil {
		unlock()
		return "", fmt.Errorf("update: %s is still on probation; confirm or roll back first", st.Pending.Version)
	}
	v, err := a.checkLocked(ctx, &st)
	st.LastCheck = a.cfg.Now().UTC()
	if err != nil {
		st.LastError = err.Error()
		st.Step = StepIdle
	}
	if serr := a.saveState(st); err == nil {
		err = serr
	}
	unlock()
	if err != nil || v == "" {
		return "", err
	}
	return v, a.restart(ctx)
}

func (a *Agent) releaseURL(name string) string {
	return strings.TrimRight(a.cfg.BaseURL, "/") + "/releases/" + a.cfg.Channel + "/" + a.cfg.Arch + "/" + name
}

func (a *Agent) checkLocked(ctx context.Context, st *State) (string, error) {
	st.Step = StepChecking
	a.publish(*st)
	raw, err := a.get(ctx, a.releaseURL(slotManifest), MaxManifestBytes)
	if errors.Is(err, errNotFound) {
		a.log.Debug("no release published on this channel", "channel", a.cfg.Channel)
		st.Step = StepIdle
		return "", nil
	}
	if err != nil {
		return "", err
	}
	sig, err := a.get(ctx, a.releaseURL(slotSignature), MaxSignatureBytes)
	if err != nil {
		return "", err
	}
	m, err := Verify(raw, sig, a.cfg.Keys)
	if err != nil {
		return "", fmt.Errorf("checking release: %w", err)
	}
	// The newer of this binary's version and the confirmed one: a check run
	// by an older binary (the factory one) must not reinstall or downgrade.
	running := a.cfg.Version
	if g, err := ParseVersion(st.Good); err == nil {
		if r, err := ParseVersion(running); err != nil || g.Compare(r) > 0 {
			running = st.Good
		}
	}
	pol := Policy{Arch: a.cfg.Arch, Channel: a.cfg.Channel, Running: running, Now: a.cfg.Now()}
	pol.Bad = map[string]bool{}
	for _, b := range st.Bad {
		pol.Bad[b] = true
	}
	if err := pol.Check(m); err != nil {
		if errors.Is(err, ErrNotNewer) || errors.Is(err, ErrMarkedBad) {
			a.log.Debug("nothing to install", "offered", m.Version, "why", err)
			st.Step = StepIdle
			return "", nil
		}
		return "", fmt.Errorf("refusing release: %w", err)
	}
	st.Offered = m.Version
	a.log.Info("release available", "version", m.Version, "size", m.Size, "channel", m.Channel)
	st.Step = StepDownloading
	a.publish(*st)
	img, err := a.download(ctx, m)
	if err != nil {
		return "", err
	}
	return m.Version, a.install(st, m, raw, sig, img)
}

// install copies the verified image into the inactive slot, records the
// pending version and switches. Steps are ordered so that a kill between
// any two leaves a bootable current slot (see Boot).
func (a *Agent) install(st *State, m *Manifest, raw, sig []byte, img string) error {
	cur, err := a.readCurrent()
	if err != nil {
		return err
	}
	if cur == "" {
		return errors.New("update: no current slot (Boot was not run)")
	}
	target := otherSlot(cur)
	st.Step = StepInstalling
	a.publish(*st)
	a.step("clean")
	dir := a.slotPath(target)
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("clearing slot %s: %w", target, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating slot %s: %w", target, err)
	}
	a.step("copy")
	if _, err := copyFile(img, filepath.Join(dir, BinaryName), a.writeLimit); err != nil {
		return fmt.Errorf("installing into slot %s: %w", target, err)
	}
	a.step("manifest")
	if err := atomicfile.Write(filepath.Join(dir, slotSignature), sig, 0o600); err != nil {
		return fmt.Errorf("installing into slot %s: %w", target, err)
	}
	if err := atomicfile.Write(filepath.Join(dir, slotManifest), raw, 0o600); err != nil {
		return fmt.Errorf("installing into slot %s: %w", target, err)
	}
	a.step("verify")
	if err := a.verifySlot(target); err != nil {
		return fmt.Errorf("installed slot %s does not verify: %w", target, err)
	}
	a.step("pending")
	from := st.Good
	if from == "" {
		from = a.cfg.Version
	}
	st.Pending = &Pending{Version: m.Version, Slot: target, FromSlot: cur, FromVersion: from, Since: a.cfg.Now().UTC()}
	st.Step = StepSwitching
	if err := a.saveState(*st); err != nil {
		return err
	}
	a.step("switch")
	if err := a.switchCurrent(target); err != nil {
		return err
	}
	a.step("switched")
	st.Step = StepRestarting
	st.LastError = ""
	os.Remove(img)
	a.log.Info("installed; restarting into the new version", "version", m.Version, "slot", target)
	return nil
}

var errNotFound = errors.New("not found")

// get fetches a small file, at most limit bytes.
func (a *Agent) get(ctx context.Context, u string, limit int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Cache-Control", "no-cache")
	resp, err := a.cfg.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w (is the origin reachable?)", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil, errNotFound
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetching %s: HTTP %s", u, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", u, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrMalformed, u, limit)
	}
	return b, nil
}

// download fetches the image into DIR/download/<sha256>.part, resuming
// what an earlier attempt left, and verifies size and SHA-256.
func (a *Agent) download(ctx context.Context, m *Manifest) (string, error) {
	ddir := filepath.Join(a.cfg.Dir, downloadDir)
	if err := os.MkdirAll(ddir, 0o700); err != nil {
		return "", fmt.Errorf("creating the download directory: %w", err)
	}
	part := filepath.Join(ddir, m.SHA256+".part")
	if ents, err := os.ReadDir(ddir); err == nil { // drop other releases' leftovers
		for _, e := range ents {
			if e.Name() != filepath.Base(part) {
				os.Remove(filepath.Join(ddir, e.Name()))
			}
		}
	}
	f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return "", fmt.Errorf("opening %s: %w", part, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	have := fi.Size()
	if have > m.Size {
		have = 0
	}
	if have < m.Size {
		if _, err = a.fetchInto(ctx, f, have, m); err != nil {
			return "", err
		}
	}
	if err := f.Sync(); err != nil {
		return "", fmt.Errorf("syncing the download: %w", err)
	}
	if err := checkImage(part, m); err != nil {
		os.Remove(part)
		return "", err
	}
	return part, nil
}

func (a *Agent) fetchInto(ctx context.Context, f *os.File, have int64, m *Manifest) (int64, error) {
	u := a.releaseURL(m.Image)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return have, err
	}
	if have > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(have, 10)+"-")
	}
	resp, err := a.cfg.HTTP.Do(req)
	if err != nil {
		return have, fmt.Errorf("downloading %s: %w (will resume)", u, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusPartialContent && have > 0:
		if !strings.HasPrefix(resp.Header.Get("Content-Range"), "bytes "+strconv.FormatInt(have, 10)+"-") {
			return have, fmt.Errorf("downloading %s: unexpected Content-Range %q", u, resp.Header.Get("Content-Range"))
		}
	case resp.StatusCode == http.StatusOK:
		have = 0
	default:
		return have, fmt.Errorf("downloading %s: HTTP %s", u, resp.Status)
	}
	if err := f.Truncate(have); err != nil {
		return have, err
	}
	if _, err := f.Seek(have, io.SeekStart); err != nil {
		return have, err
	}
	if have > 0 {
		a.log.Info("resuming download", "version", m.Version, "from", have, "of", m.Size)
	}
	var w io.Writer = f
	if a.writeLimit > 0 {
		w = &limitWriter{w: f, left: a.writeLimit - have}
	}
	n, err := io.Copy(w, io.LimitReader(resp.Body, m.Size-have))
	have += n
	if err != nil {
		return have, fmt.Errorf("downloading %s at byte %d: %w (will resume)", u, have, err)
	}
	if have != m.Size {
		return have, fmt.Errorf("%w: download of %s stopped at %d of %d bytes (will resume)", ErrImageMismatch, u, have, m.Size)
	}
	return have, nil
}

// checkImage verifies a file's size and SHA-256 against m.
func checkImage(path string, m *Manifest) error {
	want, err := m.Digest()
	if err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("verifying image: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(f, m.Size+1))
	if err != nil {
		return fmt.Errorf("verifying image: %w", err)
	}
	if n != m.Size {
		return fmt.Errorf("%w: %d bytes, manifest says %d", ErrImageMismatch, n, m.Size)
	}
	if got := h.Sum(nil); string(got) != string(want[:]) {
		return fmt.Errorf("%w: SHA-256 %x, manifest says %s", ErrImageMismatch, got, m.SHA256)
	}
	return nil
}

// copyFile writes src to dst via dst.tmp (mode 0755), fsyncs and renames.
func copyFile(src, dst string, limit int64) (int64, error) {
	in, err := os.Open(src)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	tmp := dst + ".tmp"
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	if err != nil {
		return 0, err
	}
	var w io.Writer = out
	if limit > 0 {
		w = &limitWriter{w: out, left: limit}
	}
	n, err := io.Copy(w, in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, dst)
	}
	if err != nil {
		os.Remove(tmp)
		return n, err
	}
	return n, nil
}

func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w: %s larger than %d bytes", ErrMalformed, path, limit)
	}
	return b, nil
}

// limitWriter fails with ENOSPC past its budget (the disk-full test).
type limitWriter struct {
	w    io.Writer
	left int64
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > l.left {
		n, _ := l.w.Write(p[:max(l.left, 0)])
		l.left -= int64(n)
		return n, &os.PathError{Op: "write", Path: "download", Err: syscall.ENOSPC}
	}
	n, err := l.w.Write(p)
	l.left -= int64(n)
	return n, err
}

// Load reads the state without changing anything (status commands).
func (a *Agent) Load() (State, error) {
	st, err := a.loadState()
	if err != nil {
		return st, err
	}
	a.publish(st)
	return st, nil
}
