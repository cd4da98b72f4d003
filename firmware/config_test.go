package firmware

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "starlingd.toml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaultConfigValid(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	if c.Control.TokenFile != "/var/lib/starling/control.token" {
		t.Fatalf("token file default = %q", c.Control.TokenFile)
	}
}

func TestLoadConfig(t *testing.T) {
	p := writeConfig(t, `
[device]
name = "kitchen"
state_dir = "/tmp/s"
[cache]
capacity = "2GB"
[audio]
backend = "null"
[runtime]
memory_limit = "48MiB"
log_level = "debug"
`)
	c, err := LoadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.Device.Name != "kitchen" || c.Audio.Backend != "null" || c.Peer.MaxNeighbours != 60 {
		t.Fatalf("unexpected config %+v", c)
	}
	if b, pct, err := c.Cache.CapacitySpec(); err != nil || b != 2_000_000_000 || pct != 0 {
		t.Fatalf("capacity = %d, %g, %v", b, pct, err)
	}
	if m, _ := c.Runtime.MemoryLimitBytes(); m != 48<<20 {
		t.Fatalf("memory limit = %d", m)
	}
	if c.Service.Credentials != "/tmp/s/credentials.json" {
		t.Fatalf("credentials path = %q", c.Service.Credentials)
	}
}

func TestLoadConfigErrors(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{"[audio]\nbackend = \"jack\"", "audio.backend"},
		{"[cache]\ncapacity = \"95%\"", "cache.capacity"},
		{"[cache]\ncapacity = \"lots\"", "cache.capacity"},
		{"[peer]\nmax_neighbours = 0", "peer.max_neighbours"},
		{"[stream]\nlow_seconds = 1.0", "very_low_seconds"},
		{"[service]\norigin = \"ftp://x\"", "service.origin"},
		{"[runtime]\nlog_level = \"loud\"", "runtime.log_level"},
		{"[audio]\nbakend = \"null\"", "unknown keys audio.bakend"},
		{"not toml = = =", "reading config"},
		{"[board]\nprofile = \"toaster\"", "board"},
		{"[audio]\ndecode = \"fast\"", "audio.decode"},
		{"[audio]\nbackend = \"null\"\ndecode = \"bitrate\"", "only for the virtual backend"},
		{"[peer]\ntracker = false\noverlay_search = false", "no way to find peers"},
	} {
		_, err := LoadConfig(writeConfig(t, tc.body))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("config %q: error %v, want mention of %q", tc.body, err, tc.want)
		}
	}
}

func TestLoadConfigBoard(t *testing.T) {
	c, err := LoadConfig(writeConfig(t, "[board]\nprofile = \"rpi-pcm5122\"\nled_pin = \"GPIO12\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	rp, err := c.Board.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	if rp.LEDPin != "GPIO12" || !rp.HasDAC() {
		t.Fatalf("board override not applied: %+v", rp)
	}
}
