package firmware

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/starling-audio/starling/audio"
	"github.com/starling-audio/starling/board"
	"github.com/starling-audio/starling/cache"
	"github.com/starling-audio/starling/firmware/control"
	"github.com/starling-audio/starling/p2p/track"
)

// SelfTestSuccess starts the line SelfTest prints when every check passed;
// the QEMU boot test looks for it.
const SelfTestSuccess = "starlingd self-test: OK"

// SelfTestOptions configures SelfTest.
type SelfTestOptions struct {
	Version string    // the running firmware's version
	Dir     string    // scratch directory; a temporary one when empty
	Out     io.Writer // where the per-check lines and the verdict go
}

// check is one self-test step: a name and a function exercising real
// firmware code.
type check struct {
	name string
	run  func(ctx context.Context, dir string) error
}

// selfTestChecks lists the checks in order. Each subsystem adds its own as
// it lands in the firmware.
func selfTestChecks() []check {
	return []check{
		{"scratch directory", checkScratch},
		{"track crypto and manifest", checkTrackCrypto},
		{"board (fake hardware)", func(ctx context.Context, _ string) error {
			return board.SelfCheck(ctx, board.Profile{Name: board.ProfileFake})
		}},
		{"cache (badger, eviction)", func(ctx context.Context, dir string) error {
			return cache.SelfCheck(ctx, filepath.Join(dir, "cache-check"))
		}},
		{"audio (miniaudio null device)", func(ctx context.Context, _ string) error {
			return audio.SelfCheck(ctx, nil)
		}},
		{"daemon (headless, offline)", checkDaemon},
	}
}

// SelfTest runs every check, prints one line per check and then either the
// success line or the failures, and returns an error if any check failed.
func SelfTest(ctx context.Context, o SelfTestOptions) error {
	out := o.Out
	if out == nil {
		out = io.Discard
	}
	dir := o.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "starlingd-selftest-")
		if err != nil {
			return fmt.Errorf("self-test: creating scratch directory: %w (set TMPDIR to a writable directory)", err)
		}
		defer os.RemoveAll(d)
		dir = d
	}
	if err := prepareSelfTestHost(); err != nil {
		fmt.Fprintf(out, "  note preparing the host: %v\n", err)
	}
	var errs []error
	checks := selfTestChecks()
	for _, c := range checks {
		start := time.Now()
		err := c.run(ctx, dir)
		if err != nil {
			fmt.Fprintf(out, "  FAIL %-30s %v\n", c.name, err)
			errs = append(errs, fmt.Errorf("%s: %w", c.name, err))
			continue
		}
		fmt.Fprintf(out, "  ok   %-30s %s\n", c.name, time.Since(start).Round(time.Microsecond))
	}
	if err := errors.Join(errs...); err != nil {
		fmt.Fprintf(out, "starlingd self-test: FAILED (%d of %d checks)\n", len(errs), len(checks))
		return err
	}
	fmt.Fprintf(out, "%s (%d checks, version %s, %s/%s)\n", SelfTestSuccess, len(checks), o.Version, runtime.GOOS, runtime.GOARCH)
	return nil
}

func checkScratch(_ context.Context, dir string) error {
	f, err := os.CreateTemp(dir, "probe-")
	if err != nil {
		return fmt.Errorf("writing to %s: %w", dir, err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write([]byte("starling")); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("fsync in %s: %w", dir, err)
	}
	return f.Close()
}

// checkTrackCrypto encrypts a synthetic track, builds and re-parses its
// manifest, verifies every chunk and decrypts at random offsets.
func checkTrackCrypto(context.Context, string) error {
	plain := make([]byte, 3*track.ChunkSize+1000)
	for i := range plain {
		plain[i] = byte(i * 7)
	}
	key, err := track.NewKey()
	if err != nil {
		return err
	}
	m, enc, err := track.Seal(key, plain, track.Format{DurationMs: 1000, SampleRate: 44100, Channels: 2})
	if err != nil {
		return err
	}
	raw, err := m.MarshalBinary()
	if err != nil {
		return err
	}
	id, err := m.ID()
	if err != nil {
		return err
	}
	got, err := track.ParseVerifiedManifest(id, raw)
	if err != nil {
		return err
	}
	for i := range got.NumChunks() {
		off := got.ChunkOffset(i)
		c := enc[off : off+int64(got.ChunkLen(i))]
		if err := got.VerifyChunk(i, c); err != nil {
			return err
		}
		dec := make([]byte, len(c))
		if err := track.XORKeyStreamAt(key, dec, c, off); err != nil {
			return err
		}
		if !bytes.Equal(dec, plain[off:off+int64(len(c))]) {
			return fmt.Errorf("chunk %d does not decrypt to its plaintext", i)
		}
	}
	return nil
}

// checkDaemon starts the whole daemon headless (null audio, fake board, no
// service: cached tracks only), asks its control API for the status over
// loopback, and shuts it down.
func checkDaemon(ctx context.Context, dir string) error {
	cfg := DefaultConfig()
	cfg.Device.Name = "self-test"
	cfg.Device.StateDir = filepath.Join(dir, "daemon-state")
	cfg.Device.CacheDir = filepath.Join(dir, "daemon-cache")
	cfg.Service.Credentials = filepath.Join(dir, "no-credentials.json")
	cfg.Audio.Backend = "null"
	cfg.Board.Name = board.ProfileFake
	cfg.Cache.Capacity = "64MiB"
	cfg.Control.Listen = "127.0.0.1:0"
	cfg.Control.MDNS = false
	cfg.Peer.Listen = ""
	cfg.Runtime.MemoryLimit = "off"
	cfg.Control.TokenFile = filepath.Join(cfg.Device.StateDir, "control.token")
	d, err := New(cfg, "self-test", nil)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ready := make(chan struct{})
	d.Ready = func(*Daemon) { close(ready) }
	runErr := make(chan error, 1)
	go func() { runErr <- d.Run(ctx) }()
	select {
	case err := <-runErr:
		return fmt.Errorf("daemon stopped during start: %w", err)
	case <-ctx.Done():
		return fmt.Errorf("daemon did not become ready: %w", ctx.Err())
	case <-ready:
	}
	check := func() error {
		tok, err := control.ReadTokenFile(cfg.Control.TokenFile)
		if err != nil {
			return err
		}
		c, err := control.NewClient(d.ControlAddr(), tok, nil)
		if err != nil {
			return err
		}
		st, err := c.Status(ctx)
		if err != nil {
			return fmt.Errorf("control API status: %w", err)
		}
		if st.State != control.StateStopped || st.Version != "self-test" || st.LoggedIn {
			return fmt.Errorf("unexpected status %+v", st)
		}
		return nil
	}
	cerr := check()
	cancel()
	if err := <-runErr; err != nil && cerr == nil {
		cerr = fmt.Errorf("daemon shutdown: %w", err)
	}
	return cerr
}
