package update

import (
	"context"
	"crypto/ed25519"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if step := os.Getenv("STARLING_UPDATE_KILL_AT"); step != "" {
		os.Exit(killChild(step))
	}
	goleak.VerifyTestMain(m)
}

func TestUpdateConfirm(t *testing.T) {
	key := newKey(t)
	o := newOrigin(t)
	img := randomImage(t, 300<<10)
	raw, sig := release(t, key, "2.0.0", img, nil)
	o.publish(t, "2.0.0", img, raw, sig)
	s := newSpeaker(t, o, pub(key))

	a, r := s.boot(t, "1.0.0")
	if r.Slot != "a" || r.Pending {
		t.Fatalf("first boot: %+v", r)
	}
	v, err := a.Check(context.Background())
	if err != nil || v != "2.0.0" {
		t.Fatalf("check = %q, %v", v, err)
	}
	if s.rs.n.Load() != 1 {
		t.Fatalf("restarts = %d, want 1", s.rs.n.Load())
	}
	st := s.checkConsistent(t)
	if st.Pending == nil || st.Pending.Version != "2.0.0" || st.Pending.Slot != "b" {
		t.Fatalf("pending = %+v", st.Pending)
	}
	got, err := os.ReadFile(filepath.Join(s.dir, "current", BinaryName))
	if err != nil || string(got) != string(img) {
		t.Fatalf("current binary is not the image (%v)", err)
	}

	a2, r := s.boot(t, "2.0.0")
	if !r.Pending || r.Slot != "b" {
		t.Fatalf("boot of v2: %+v", r)
	}
	if err := a2.Gate(context.Background(), func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	st = s.checkConsistent(t)
	if st.Pending != nil || st.Good != "2.0.0" || st.GoodSlot != "b" {
		t.Fatalf("after confirm: %+v", st)
	}
	// The same release again is not newer: nothing happens.
	if v, err := a2.Check(context.Background()); err != nil || v != "" {
		t.Fatalf("re-check = %q, %v", v, err)
	}
}

func TestHealthTimeoutRollsBack(t *testing.T) {
	key := newKey(t)
	o := newOrigin(t)
	img := randomImage(t, 64<<10)
	raw, sig := release(t, key, "3.0.0", img, nil)
	o.publish(t, "3.0.0", img, raw, sig)
	s := newSpeaker(t, o, pub(key))
	a, _ := s.boot(t, "1.0.0")
	if _, err := a.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	a3, _ := s.boot(t, "3.0.0")
	unhealthy := errors.New("not logged in")
	if err := a3.Gate(context.Background(), func(context.Context) error { return unhealthy }); err != nil {
		t.Fatal(err)
	}
	if s.rs.n.Load() != 2 {
		t.Fatalf("restarts = %d, want 2 (install, rollback)", s.rs.n.Load())
	}
	st := s.checkConsistent(t)
	if !st.IsBad("3.0.0") || st.GoodSlot != "a" || st.Pending != nil || !strings.Contains(st.LastError, "not logged in") {
		t.Fatalf("after rollback: %+v", st)
	}
	// Back on 1.0.0 the bad release is not retried.
	a1, _ := s.boot(t, "1.0.0")
	if v, err := a1.Check(context.Background()); err != nil || v != "" {
		t.Fatalf("re-check after rollback = %q, %v", v, err)
	}
}

func TestCrashLoopRollsBack(t *testing.T) {
	key := newKey(t)
	o := newOrigin(t)
	img := randomImage(t, 1000)
	raw, sig := release(t, key, "2.0.0", img, nil)
	o.publish(t, "2.0.0", img, raw, sig)
	s := newSpeaker(t, o, pub(key))
	a, _ := s.boot(t, "1.0.0")
	if _, err := a.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ { // MaxAttempts starts that never confirm
		if _, r := s.boot(t, "2.0.0"); !r.Pending || r.RolledBack != "" {
			t.Fatalf("start %d: %+v", i, r)
		}
	}
	_, r := s.boot(t, "2.0.0")
	if r.RolledBack != "2.0.0" || r.Slot != "a" {
		t.Fatalf("start 4: %+v, want a rollback to slot a", r)
	}
	if st := s.checkConsistent(t); !st.IsBad("2.0.0") {
		t.Fatalf("2.0.0 not marked bad: %+v", st)
	}
}

func TestInvocationCountsOnce(t *testing.T) {
	key := newKey(t)
	o := newOrigin(t)
	img := randomImage(t, 1000)
	raw, sig := release(t, key, "2.0.0", img, nil)
	o.publish(t, "2.0.0", img, raw, sig)
	s := newSpeaker(t, o, pub(key))
	a, _ := s.boot(t, "1.0.0")
	if _, err := a.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	for range 5 { // ExecStartPre and the daemon of one start, repeatedly
		b := s.agent(t, "2.0.0")
		b.cfg.Invocation = "inv-1"
		if _, err := b.Boot(s.seed); err != nil {
			t.Fatal(err)
		}
	}
	if st := s.checkConsistent(t); st.Pending == nil || st.Pending.Attempts != 1 {
		t.Fatalf("attempts = %+v, want 1", st.Pending)
	}
}

// TestRefusals: every bad release leaves the speaker on its current,
// verified version with nothing installed.
func TestRefusals(t *testing.T) {
	key, other := newKey(t), newKey(t)
	img := randomImage(t, 4096)
	cases := []struct {
		name string
		make func(o *origin) // publishes the bad release
		want error
	}{
		{"tampered image", func(o *origin) {
			raw, sig := release(t, key, "2.0.0", img, nil)
			bad := append([]byte(nil), img...)
			bad[100] ^= 1
			o.publish(t, "2.0.0", bad, raw, sig)
		}, ErrImageMismatch},
		{"tampered manifest", func(o *origin) {
			raw, sig := release(t, key, "2.0.0", img, nil)
			raw = []byte(strings.Replace(string(raw), `"min_version": "1.0.0"`, `"min_version": "0.1.0"`, 1))
			o.publish(t, "2.0.0", img, raw, sig)
		}, ErrBadSignature},
		{"bad signature", func(o *origin) {
			raw, sig := release(t, key, "2.0.0", img, nil)
			sig = []byte(strings.Replace(string(sig), string(sig[len(sig)-8:len(sig)-1]), "AAAAAAA", 1))
			o.publish(t, "2.0.0", img, raw, sig)
		}, ErrBadSignature},
		{"unknown key", func(o *origin) {
			raw, sig := release(t, other, "2.0.0", img, nil)
			o.publish(t, "2.0.0", img, raw, sig)
		}, ErrUnknownKey},
		{"expired", func(o *origin) {
			raw, sig := release(t, key, "2.0.0", img, func(m *Manifest) { m.Created, m.Expires = t0.Add(-48*time.Hour), t0.Add(-time.Second) })
			o.publish(t, "2.0.0", img, raw, sig)
		}, ErrExpired},
		{"wrong architecture", func(o *origin) {
			raw, sig := release(t, key, "2.0.0", img, func(m *Manifest) { m.Arch = "amd64" })
			o.publish(t, "2.0.0", img, raw, sig)
		}, ErrWrongArch},
		{"too old to update from", func(o *origin) {
			raw, sig := release(t, key, "2.0.0", img, func(m *Manifest) { m.MinVersion = "1.5" })
			o.publish(t, "2.0.0", img, raw, sig)
		}, ErrTooOld},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := newOrigin(t)
			c.make(o)
			s := newSpeaker(t, o, pub(key))
			a, _ := s.boot(t, "1.0.0")
			v, err := a.Check(context.Background())
			if !errors.Is(err, c.want) || v != "" {
				t.Fatalf("check = %q, %v; want %v", v, err, c.want)
			}
			st := s.checkConsistent(t)
			if st.Pending != nil || st.GoodSlot != "a" || s.rs.n.Load() != 0 || st.LastError == "" {
				t.Fatalf("state after refusal: %+v, restarts %d", st, s.rs.n.Load())
			}
			if _, err := os.Stat(filepath.Join(s.dir, "slots", "b", BinaryName)); !os.IsNotExist(err) {
				t.Fatalf("slot b was written: %v", err)
			}
		})
	}
}

func TestDowngradeIgnored(t *testing.T) {
	key := newKey(t)
	o := newOrigin(t)
	img := randomImage(t, 1000)
	raw, sig := release(t, key, "1.0.0", img, nil) // a replay of an old, validly signed release
	o.publish(t, "1.0.0", img, raw, sig)
	s := newSpeaker(t, o, pub(key))
	a, _ := s.boot(t, "2.0.0")
	if v, err := a.Check(context.Background()); err != nil || v != "" {
		t.Fatalf("downgrade check = %q, %v", v, err)
	}
	m, err := Verify(raw, sig, s.keys)
	if err != nil {
		t.Fatal(err)
	}
	if err := (Policy{Arch: "arm64", Running: "2.0.0", Now: t0}).Check(m); !errors.Is(err, ErrNotNewer) {
		t.Fatalf("policy = %v, want ErrNotNewer", err)
	}
	if s.rs.n.Load() != 0 {
		t.Fatal("restarted")
	}
}

func TestKeyRotation(t *testing.T) {
	oldKey, newK := newKey(t), newKey(t)
	img := randomImage(t, 1000)
	o := newOrigin(t)
	raw, sig := release(t, newK, "2.0.0", img, nil)
	o.publish(t, "2.0.0", img, raw, sig)
	s := newSpeaker(t, o, pub(oldKey), pub(newK)) // both trusted during the rotation
	a, _ := s.boot(t, "1.0.0")
	if v, err := a.Check(context.Background()); err != nil || v != "2.0.0" {
		t.Fatalf("check = %q, %v", v, err)
	}
}

func TestTruncatedDownloadResumes(t *testing.T) {
	key := newKey(t)
	o := newOrigin(t)
	img := randomImage(t, 256<<10)
	raw, sig := release(t, key, "2.0.0", img, nil)
	o.publish(t, "2.0.0", img, raw, sig)
	o.truncate = 100 << 10
	s := newSpeaker(t, o, pub(key))
	a, _ := s.boot(t, "1.0.0")
	if _, err := a.Check(context.Background()); err == nil {
		t.Fatal("a truncated download was installed")
	}
	s.checkConsistent(t)
	part := filepath.Join(s.dir, downloadDir)
	ents, _ := os.ReadDir(part)
	if len(ents) != 1 {
		t.Fatalf("download dir has %d entries, want the partial image", len(ents))
	}
	if v, err := a.Check(context.Background()); err != nil || v != "2.0.0" {
		t.Fatalf("resumed check = %q, %v", v, err)
	}
	if o.ranges.Load() != 1 {
		t.Fatalf("range requests = %d, want 1 (resume)", o.ranges.Load())
	}
	s.checkConsistent(t)
}

func TestDiskFull(t *testing.T) {
	key := newKey(t)
	o := newOrigin(t)
	img := randomImage(t, 128<<10)
	raw, sig := release(t, key, "2.0.0", img, nil)
	o.publish(t, "2.0.0", img, raw, sig)
	s := newSpeaker(t, o, pub(key))
	a, _ := s.boot(t, "1.0.0")
	a.writeLimit = 50 << 10
	_, err := a.Check(context.Background())
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("check = %v, want ENOSPC", err)
	}
	if st := s.checkConsistent(t); st.Pending != nil || !strings.Contains(st.LastError, "no space") {
		t.Fatalf("state: %+v", st)
	}
	// Space during the slot copy runs out too: the download is complete
	// and verified, the copy fails, nothing is switched.
	a.writeLimit = 0
	if _, err := a.download(context.Background(), mustVerify(t, raw, sig, s.keys)); err != nil {
		t.Fatal(err)
	}
	a.writeLimit = 10 << 10
	if _, err := a.Check(context.Background()); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("check with a full slot = %v", err)
	}
	s.checkConsistent(t)
	a.writeLimit = 0
	if v, err := a.Check(context.Background()); err != nil || v != "2.0.0" {
		t.Fatalf("check after space freed = %q, %v", v, err)
	}
}

func mustVerify(t *testing.T, raw, sig []byte, keys []ed25519.PublicKey) *Manifest {
	m, err := Verify(raw, sig, keys)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Steps at which the kill test kills the installer (install and switch),
// and the rollback's own steps.
var installSteps = []string{"clean", "copy", "manifest", "verify", "pending", "switch", "switched"}
var rollbackSteps = []string{"rollback-switch", "rollback-record"}

// TestKilledAtEveryStep runs the installer in a child process that
// SIGKILLs itself at each step in turn; afterwards a fresh start must boot
// a verified version with a consistent state, and the update must still
// complete (or the rollback finish).
func TestKilledAtEveryStep(t *testing.T) {
	key := newKey(t)
	o := newOrigin(t)
	img := randomImage(t, 200<<10)
	raw, sig := release(t, key, "2.0.0", img, nil)
	o.publish(t, "2.0.0", img, raw, sig)
	for _, step := range append(append([]string(nil), installSteps...), rollbackSteps...) {
		t.Run(step, func(t *testing.T) {
			s := newSpeaker(t, o, pub(key))
			runKillChild(t, s, step)
			running := s.runningVersion(t)
			st := s.checkConsistent(t)
			t.Logf("killed at %s: running %s, step %s, pending %+v", step, running, st.Step, st.Pending)
			a, r := s.boot(t, running)
			s.checkConsistent(t)
			if strings.HasPrefix(step, "rollback") {
				if running = s.runningVersion(t); running != "1.0.0" {
					t.Fatalf("after an interrupted rollback the speaker runs %s", running)
				}
				if st := s.checkConsistent(t); !st.IsBad("2.0.0") {
					t.Fatalf("2.0.0 not marked bad after the rollback: %+v", st)
				}
				return
			}
			if r.Pending {
				if err := a.Confirm(); err != nil {
					t.Fatal(err)
				}
			} else if _, err := a.Check(context.Background()); err != nil {
				t.Fatalf("update after the kill: %v", err)
			} else {
				a, _ = s.boot(t, s.runningVersion(t))
				if err := a.Confirm(); err != nil {
					t.Fatal(err)
				}
			}
			if st := s.checkConsistent(t); st.Good != "2.0.0" || s.runningVersion(t) != "2.0.0" {
				t.Fatalf("after recovery: good %s, running %s", st.Good, s.runningVersion(t))
			}
		})
	}
}

func runKillChild(t *testing.T, s *speaker, step string) {
	t.Helper()
	args := []string{os.Args[0], "-test.run=^$"}
	if pre := os.Getenv("STARLING_TEST_EXEC"); pre != "" {
		args = append(strings.Fields(pre), args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	keyText := FormatPublicKey(s.keys[0])
	cmd.Env = append(os.Environ(), "STARLING_UPDATE_KILL_AT="+step, "STARLING_UPDATE_DIR="+s.dir,
		"STARLING_UPDATE_SEED="+s.seed, "STARLING_UPDATE_URL="+s.url, "STARLING_UPDATE_KEY="+keyText)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || !strings.Contains(ee.String(), "killed") {
		t.Fatalf("child was not killed at %s: %v\n%s", step, err, out)
	}
}

// killChild is the child: it updates (or rolls back) and SIGKILLs itself
// at step.
func killChild(step string) int {
	k, err := ParsePublicKey(os.Getenv("STARLING_UPDATE_KEY"))
	if err != nil {
		return 3
	}
	mk := func(version string) *Agent {
		a, err := New(Config{Dir: os.Getenv("STARLING_UPDATE_DIR"), Keys: []ed25519.PublicKey{k}, Arch: "arm64",
			Version: version, BaseURL: os.Getenv("STARLING_UPDATE_URL"), Restarter: &fakeRestarter{},
			HealthTimeout: time.Millisecond, Now: func() time.Time { return t0 }})
		if err != nil {
			panic(err)
		}
		return a
	}
	kill := func(s string) {
		if s == step {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
	}
	a := mk("1.0.0")
	if _, err := a.Boot(os.Getenv("STARLING_UPDATE_SEED")); err != nil {
		return 4
	}
	a.hook = kill
	if _, err := a.Check(context.Background()); err != nil {
		os.Stderr.WriteString(err.Error())
		return 5
	}
	a2 := mk("2.0.0")
	if _, err := a2.Boot(""); err != nil {
		return 6
	}
	a2.hook = kill
	a2.Gate(context.Background(), func(context.Context) error { return errors.New("unhealthy") })
	return 7 // not killed: the step does not exist
}

// An older binary (the factory one, run by the timer) must not reinstall
// the version already confirmed.
func TestOlderBinaryDoesNotReinstall(t *testing.T) {
	key := newKey(t)
	o := newOrigin(t)
	img := randomImage(t, 1000)
	raw, sig := release(t, key, "2.0.0", img, nil)
	o.publish(t, "2.0.0", img, raw, sig)
	s := newSpeaker(t, o, pub(key))
	a, _ := s.boot(t, "1.0.0")
	if _, err := a.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	a2, _ := s.boot(t, "2.0.0")
	if err := a2.Confirm(); err != nil {
		t.Fatal(err)
	}
	if v, err := s.agent(t, "1.0.0").Check(context.Background()); err != nil || v != "" {
		t.Fatalf("factory binary check = %q, %v", v, err)
	}
}
