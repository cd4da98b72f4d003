package firmware_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/starling-audio/starling/firmware"
	"github.com/starling-audio/starling/tools/fixtures"
	"github.com/starling-audio/starling/tools/fleet"
)

// TestUpdateEndToEnd runs a real starling-server and two real starlingd
// processes (1.0.0). The operator's path is the real one: starling-release
// keygen, sign, publish --push. The only stand-in is the restart: instead of
// exiting for systemd, the daemons run with [update] restart = "exec" and
// re-exec the current slot's binary themselves.
//
// 2.0.0 is published: both speakers update and report 2.0.0 healthy.
// 3.0.0 is a real starlingd stamped with buildFault=dead-service (it dials a
// service address nothing listens on, so it never logs in): both speakers
// install it, fail the health gate, roll back to 2.0.0 by themselves and
// mark 3.0.0 bad.
func TestUpdateEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs real processes; skipped with -short")
	}
	if os.Getenv("STARLING_TEST_EXEC") != "" {
		t.Skip("runs host processes and re-execs host binaries; under qemu-user the update logic is covered by firmware/update's tests")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not on PATH")
	}
	dir := t.TempDir()
	bin, images := filepath.Join(dir, "bin"), filepath.Join(dir, "images")
	build := func(out, ldflags string, pkgs ...string) {
		t.Helper()
		args := append([]string{"build", "-o", out, "-ldflags", ldflags}, pkgs...)
		cmd := exec.Command(gobin, args...)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, b)
		}
	}
	const mod = "github.com/starling-audio/starling/"
	build(bin+"/", "", mod+"tools/starling-server", mod+"tools/starling-ingest", mod+"tools/starling-release")
	build(filepath.Join(bin, "starlingd"), "-X main.version=1.0.0", mod+"firmware/cmd/starlingd")
	build(filepath.Join(images, "v2"), "-X main.version=2.0.0", mod+"firmware/cmd/starlingd")
	build(filepath.Join(images, "v3"), "-X main.version=3.0.0 -X main.buildFault=dead-service", mod+"firmware/cmd/starlingd")

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	release := func(args ...string) string {
		t.Helper()
		out, err := exec.CommandContext(ctx, filepath.Join(bin, "starling-release"), args...).CombinedOutput()
		if err != nil {
			t.Fatalf("starling-release %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	release("keygen", filepath.Join(dir, "release"))
	pub, err := os.ReadFile(filepath.Join(dir, "release.pub"))
	if err != nil {
		t.Fatal(err)
	}

	b, err := fixtures.Read(fixtures.Chord44kStereo)
	if err != nil {
		t.Fatal(err)
	}
	track := filepath.Join(dir, "track.ogg")
	if err := os.WriteFile(track, b, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := fleet.Start(ctx, fleet.Options{Dir: filepath.Join(dir, "fleet"), Bin: bin, Speakers: 2, Tracks: []string{track}, Speed: 2, AudibleSpeaker: -1,
		ExtraConfig: fmt.Sprintf("[update]\nenabled = true\nkeys = [%q]\nchannel = \"stable\"\ncheck_interval = \"0\"\nhealth_timeout = \"5s\"\nrestart = \"exec\"\n",
			strings.TrimSpace(string(pub)))})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := f.Close(); err != nil {
			t.Error(err)
		}
	}()
	catalogDir := filepath.Join(dir, "fleet", "catalog")

	// wait polls every speaker's GET /update until ok says yes.
	wait := func(what string, ok func(firmware.UpdateStatus) bool) {
		t.Helper()
		for _, s := range f.Speakers {
			var last firmware.UpdateStatus
			var lerr error
			for {
				last = firmware.UpdateStatus{}
				lerr = s.Control.UpdateStatus(ctx, &last)
				if lerr == nil && ok(last) {
					break
				}
				select {
				case <-ctx.Done():
					log, _ := os.ReadFile(s.LogPath())
					t.Fatalf("%s: %s: last status %+v (err %v)\nlog:\n%s", s.Name, what, last, lerr, tail(string(log), 40))
				case <-time.After(100 * time.Millisecond):
				}
			}
			t.Logf("%s: %s: running %s, good %s in slot %s, bad %v", s.Name, what, last.Running, last.State.Good, last.State.GoodSlot, last.State.Bad)
		}
	}
	wait("slots seeded with 1.0.0", func(u firmware.UpdateStatus) bool {
		return u.Running == "1.0.0" && u.State.Good == "1.0.0" && u.State.GoodSlot == "a"
	})

	publish := func(version, image string) {
		out := filepath.Join(dir, "rel-"+version)
		release("sign", "--key", filepath.Join(dir, "release.key"), "--image", image, "--release", version,
			"--arch", runtime.GOARCH, "--channel", "stable", "--min-version", "1.0.0", "--out", out)
		t.Log(strings.TrimSpace(release("publish", out, "--catalog", catalogDir, "--push", f.MetricsAddr)))
	}

	start := time.Now()
	publish("2.0.0", filepath.Join(images, "v2"))
	wait("updated to 2.0.0 and healthy", func(u firmware.UpdateStatus) bool {
		return u.Running == "2.0.0" && u.State.Good == "2.0.0" && u.State.Pending == nil && u.State.GoodSlot == "b"
	})
	t.Logf("2.0.0 rolled out in %v", time.Since(start).Round(time.Millisecond))
	for _, s := range f.Speakers {
		v, err := s.Control.Health(ctx)
		if err != nil || v != "2.0.0" {
			t.Fatalf("%s health: version %q, %v", s.Name, v, err)
		}
	}

	start = time.Now()
	publish("3.0.0", filepath.Join(images, "v3"))
	wait("3.0.0 rolled back to 2.0.0 and marked bad", func(u firmware.UpdateStatus) bool {
		return u.Running == "2.0.0" && u.State.Good == "2.0.0" && u.State.Pending == nil && slices.Contains(u.State.Bad, "3.0.0")
	})
	t.Logf("3.0.0 installed, failed its health gate and was rolled back in %v", time.Since(start).Round(time.Millisecond))
	for _, s := range f.Speakers {
		log, _ := os.ReadFile(s.LogPath())
		if !strings.Contains(string(log), "rolling back") || !strings.Contains(string(log), "not logged in") {
			t.Errorf("%s: log lacks the rollback and its reason", s.Name)
		}
		m, err := s.Metrics(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if m["starling_update_bad_versions"] != 1 {
			t.Errorf("%s: starling_update_bad_versions = %v, want 1", s.Name, m["starling_update_bad_versions"])
		}
	}
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
