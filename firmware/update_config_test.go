package firmware

import (
	"strings"
	"testing"
	"time"
)

func TestUpdateConfig(t *testing.T) {
	const key = "starling-release-pub-v1:c4X2lW95o5ec9fJabk5gWqxKdH9pu1shqMlvwdFJIGY="
	c, err := LoadConfig(writeConfig(t, "[device]\nstate_dir = \"/tmp/s\"\n[update]\nenabled = true\nkeys = [\""+key+"\"]\nhealth_timeout = \"30s\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Update.Dir != "/tmp/s/update" || c.Update.Channel != "stable" || c.Update.Restart != "systemd" || c.Update.MaxAttempts != 3 {
		t.Fatalf("update defaults: %+v", c.Update)
	}
	if check, health, err := c.Update.Durations(); err != nil || check != 6*time.Hour || health != 30*time.Second {
		t.Fatalf("durations %v %v %v", check, health, err)
	}
	a, err := NewUpdateAgent(c, "1.0.0", nil, nil)
	if err != nil || a.CurrentBinary() != "/tmp/s/update/current/starlingd" {
		t.Fatalf("agent: %v", err)
	}
	for _, tc := range []struct{ body, want string }{
		{"[update]\nenabled = true", "update.keys"},
		{"[update]\nkeys = [\"ssh-ed25519 AAAA\"]", "update.keys[0]"},
		{"[update]\ncheck_interval = \"1s\"", "update.check_interval"},
		{"[update]\nhealth_timeout = \"soon\"", "update.health_timeout"},
		{"[update]\nrestart = \"reboot\"", "update.restart"},
		{"[update]\nchannel = \"../x\"", "update.channel"},
		{"[update]\nmax_attempts = 0", "update.max_attempts"},
	} {
		_, err := LoadConfig(writeConfig(t, tc.body))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("config %q: error %v, want mention of %q", tc.body, err, tc.want)
		}
	}
}
