package firmware

import (
	"context"
	"fmt"
	"os/exec"
	"strings"

	"github.com/starling-audio/starling/firmware/update"
)

// SystemdRestarter restarts a unit with systemctl, for the `starlingd
// update` commands that run outside the daemon (the timer's oneshot, an
// operator's rollback). --no-block: the caller may be that unit's child.
type SystemdRestarter struct {
	Unit string // default starlingd.service
}

var _ update.Restarter = SystemdRestarter{}

// Restart runs `systemctl restart --no-block UNIT`.
func (s SystemdRestarter) Restart(ctx context.Context) error {
	unit := s.Unit
	if unit == "" {
		unit = "starlingd.service"
	}
	out, err := exec.CommandContext(ctx, "systemctl", "restart", "--no-block", unit).CombinedOutput()
	if err != nil {
		return fmt.Errorf("systemctl restart %s: %w: %s (restart it by hand)", unit, err, strings.TrimSpace(string(out)))
	}
	return nil
}
