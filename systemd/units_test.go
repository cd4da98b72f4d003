package systemd_test

import (
	"bufio"
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/coreos/go-systemd/v22/unit"
	"go.uber.org/goleak"

	"github.com/starling-audio/starling/systemd"
)

// options returns the values of every key in a section of a unit file.
func options(t *testing.T, name string) map[string][]string {
	t.Helper()
	b, err := fs.ReadFile(systemd.Files, name)
	if err != nil {
		t.Fatal(err)
	}
	sections, err := unit.DeserializeSections(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s does not parse: %v", name, err)
	}
	out := map[string][]string{}
	for _, s := range sections {
		for _, e := range s.Entries {
			k := s.Section + "." + e.Name
			out[k] = append(out[k], e.Value)
		}
	}
	return out
}

func TestDaemonUnitKeys(t *testing.T) {
	o := options(t, "starlingd.service")
	want := map[string]string{
		"Service.Type":                    "notify",
		"Service.NotifyAccess":            "main",
		"Service.ExecStartPre":            "/usr/local/bin/starlingd update boot --config /etc/starling/starlingd.toml",
		"Service.ExecStart":               "/var/lib/starling/update/current/starlingd run --config /etc/starling/starlingd.toml",
		"Service.Restart":                 "on-failure",
		"Service.RestartForceExitStatus":  "75",
		"Service.WatchdogSec":             "30s",
		"Service.User":                    "starling",
		"Service.SupplementaryGroups":     "audio i2c gpio",
		"Service.StateDirectory":          "starling",
		"Service.CacheDirectory":          "starling",
		"Service.MemoryMax":               "64M",
		"Service.ProtectSystem":           "strict",
		"Service.ProtectHome":             "yes",
		"Service.PrivateTmp":              "yes",
		"Service.NoNewPrivileges":         "yes",
		"Service.RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX AF_NETLINK",
		"Service.DevicePolicy":            "closed",
		"Service.CapabilityBoundingSet":   "",
		"Install.WantedBy":                "multi-user.target",
	}
	for k, v := range want {
		got := o[k]
		if len(got) != 1 || got[0] != v {
			t.Errorf("%s = %q, want exactly %q", k, got, v)
		}
	}
	allow := o["Service.DeviceAllow"]
	for _, d := range []string{"char-alsa rw", "char-i2c rw", "char-gpiochip rw"} {
		if !slices.Contains(allow, d) {
			t.Errorf("DeviceAllow lacks %q (has %q)", d, allow)
		}
	}
	if len(allow) != 3 {
		t.Errorf("DeviceAllow has %d entries %q, want only sound, i2c and gpiochip", len(allow), allow)
	}
	for _, k := range []string{"Service.PrivateDevices", "Service.DynamicUser", "Service.ProcSubset"} {
		if len(o[k]) != 0 {
			t.Errorf("%s is set (%q): it would hide the devices or /proc/cpuinfo the daemon needs", k, o[k])
		}
	}
}

func TestUpdateUnits(t *testing.T) {
	tm := options(t, "starling-update.timer")
	if len(tm["Timer.RandomizedDelaySec"]) != 1 || tm["Timer.RandomizedDelaySec"][0] == "0" {
		t.Errorf("timer RandomizedDelaySec = %q: a fleet would hit the origin at once", tm["Timer.RandomizedDelaySec"])
	}
	if len(tm["Timer.OnUnitActiveSec"]) != 1 || len(tm["Install.WantedBy"]) != 1 {
		t.Errorf("timer lacks OnUnitActiveSec or WantedBy: %v", tm)
	}
	o := options(t, "starling-update.service")
	want := map[string]string{"Service.Type": "oneshot", "Service.User": "starling", "Service.ProtectSystem": "strict",
		"Service.NoNewPrivileges": "yes", "Service.CapabilityBoundingSet": ""}
	for k, v := range want {
		if got := o[k]; len(got) != 1 || got[0] != v {
			t.Errorf("starling-update.service %s = %q, want %q", k, got, v)
		}
	}
	if got := o["Service.ExecStart"]; len(got) != 1 || !strings.Contains(got[0], "update --check") {
		t.Errorf("starling-update.service ExecStart = %q", got)
	}
}

// TestSysusers checks that the snippet creates the user and its groups.
func TestSysusers(t *testing.T) {
	b, err := fs.ReadFile(systemd.Files, "sysusers.d/starling.conf")
	if err != nil {
		t.Fatal(err)
	}
	var user bool
	var members []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch {
		case f[0] == "u" && len(f) >= 2 && f[1] == "starling":
			user = true
		case f[0] == "m" && len(f) == 3 && f[1] == "starling":
			members = append(members, f[2])
		case f[0] == "g" || f[0] == "u" || f[0] == "m":
		default:
			t.Errorf("unexpected sysusers line %q", sc.Text())
		}
	}
	slices.Sort(members)
	if !user || !slices.Equal(members, []string{"audio", "gpio", "i2c"}) {
		t.Errorf("sysusers: user starling %v, memberships %q; want the user in audio, gpio, i2c", user, members)
	}
}

// writeTree copies the embedded files into dir.
func writeTree(t *testing.T, dir string) {
	t.Helper()
	err := fs.WalkDir(systemd.Files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(systemd.Files, p)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, p), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not installed (apt-get install systemd); only the parser checks ran", name)
	}
	return p
}

func TestSystemdAnalyzeVerify(t *testing.T) {
	analyze := tool(t, "systemd-analyze")
	dir := t.TempDir()
	// verify insists that ExecStart's binary exists; stand one in with the
	// same arguments, so that every other line is verified as shipped.
	fake := filepath.Join(dir, "starlingd")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := fs.ReadFile(systemd.Files, "starlingd.service")
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.Replace(b, []byte("ExecStartPre=/usr/local/bin/starlingd "), []byte("ExecStartPre="+fake+" "), 1)
	b = bytes.Replace(b, []byte("ExecStart=/var/lib/starling/update/current/starlingd "), []byte("ExecStart="+fake+" "), 1)
	if err := os.WriteFile(filepath.Join(dir, "starlingd.service"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	ub, err := fs.ReadFile(systemd.Files, "starling-update.service")
	if err != nil {
		t.Fatal(err)
	}
	ub = bytes.Replace(ub, []byte("ExecStart=/usr/local/bin/starlingctl "), []byte("ExecStart="+fake+" "), 1)
	if err := os.WriteFile(filepath.Join(dir, "starling-update.service"), ub, 0o644); err != nil {
		t.Fatal(err)
	}
	tb, err := fs.ReadFile(systemd.Files, "starling-update.timer")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "starling-update.timer"), tb, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, unit := range []string{"starlingd.service", "starling-update.service", "starling-update.timer"} {
		out, err := exec.Command(analyze, "verify", "--man=no", filepath.Join(dir, unit)).CombinedOutput()
		if err != nil {
			t.Fatalf("systemd-analyze verify %s: %v\n%s", unit, err, out)
		}
		// verify exits 0 on unknown keys and bad values it ignores; any
		// word about our units is a mistake in them.
		for line := range strings.Lines(string(out)) {
			if strings.Contains(line, "starlingd.service") || strings.Contains(line, "starling-update.") {
				t.Errorf("systemd-analyze verify %s: %s", unit, strings.TrimSpace(line))
			}
		}
	}
}

func TestSysusersAndTmpfilesApply(t *testing.T) {
	sysusers := tool(t, "systemd-sysusers")
	src := t.TempDir()
	writeTree(t, src)
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(src, "sysusers.d", "starling.conf")
	if out, err := exec.Command(sysusers, "--root="+root, "--dry-run", conf).CombinedOutput(); err != nil {
		t.Fatalf("systemd-sysusers --dry-run: %v\n%s", err, out)
	}
	if os.Geteuid() != 0 {
		t.Skip("applying sysusers and tmpfiles into a scratch root needs root (chown)")
	}
	if out, err := exec.Command(sysusers, "--root="+root, conf).CombinedOutput(); err != nil {
		t.Fatalf("systemd-sysusers: %v\n%s", err, out)
	}
	group, err := os.ReadFile(filepath.Join(root, "etc", "group"))
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range []string{"audio", "i2c", "gpio"} {
		if !lineWith(string(group), g+":x:", ":starling") {
			t.Errorf("group %s lacks starling:\n%s", g, group)
		}
	}
	tmpfiles := tool(t, "systemd-tmpfiles")
	tconf := filepath.Join(src, "tmpfiles.d", "starling.conf")
	if out, err := exec.Command(tmpfiles, "--root="+root, "--create", tconf).CombinedOutput(); err != nil {
		t.Fatalf("systemd-tmpfiles --create: %v\n%s", err, out)
	}
	for _, d := range []struct {
		path string
		perm fs.FileMode
		root bool
	}{{"etc/starling", 0o755, true}, {"var/lib/starling", 0o700, false}, {"var/cache/starling", 0o700, false}} {
		fi, err := os.Stat(filepath.Join(root, d.path))
		if err != nil {
			t.Errorf("tmpfiles did not create /%s: %v", d.path, err)
			continue
		}
		st := fi.Sys().(*syscall.Stat_t)
		if !fi.IsDir() || fi.Mode().Perm() != d.perm || (st.Uid == 0) != d.root {
			t.Errorf("/%s: mode %v uid %d; want dir %v owned by root=%v", d.path, fi.Mode(), st.Uid, d.perm, d.root)
		}
	}
}

// lineWith reports whether a line of text starts with prefix and ends
// with suffix.
func lineWith(text, prefix, suffix string) bool {
	for line := range strings.Lines(text) {
		line = strings.TrimRight(line, "\n")
		if strings.HasPrefix(line, prefix) && strings.HasSuffix(line, suffix) {
			return true
		}
	}
	return false
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
