package update

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/starling-audio/starling/firmware/internal/atomicfile"
)

// Layout of the update directory:
//
//	DIR/state.json          State, replaced atomically
//	DIR/current -> slots/a  the slot starlingd.service runs, switched by rename
//	DIR/slots/{a,b}/        starlingd, release.json, release.json.sig
//	DIR/download/           partial images (<sha256>.part), resumable
//	DIR/lock                flock: one installer at a time
const (
	stateFile   = "state.json"
	currentLink = "current"
	slotsDir    = "slots"
	downloadDir = "download"
	lockFile    = "lock"
	// BinaryName is the executable inside a slot.
	BinaryName    = "starlingd"
	slotManifest  = "release.json"
	slotSignature = "release.json.sig"
	maxStateBytes = 64 << 10
	maxBad        = 64
)

// Slots are the two install targets.
var Slots = [2]string{"a", "b"}

// Step names what the agent is doing; it is in the state, the metrics and
// the control API's status.
type Step string

// Steps, in order of an update.
const (
	StepIdle        Step = "idle"
	StepChecking    Step = "checking"
	StepDownloading Step = "downloading"
	StepInstalling  Step = "installing"
	StepSwitching   Step = "switching"
	StepRestarting  Step = "restarting"
	StepVerifying   Step = "verifying" // new version running, waiting for health
	StepRollingBack Step = "rolling-back"
)

// Pending is an installed, switched-to version that has not proved healthy.
type Pending struct {
	Version     string    `json:"version"`
	Slot        string    `json:"slot"`
	FromSlot    string    `json:"from_slot"`
	FromVersion string    `json:"from_version"`
	Attempts    int       `json:"attempts"`     // starts of the new version so far
	Invocation  string    `json:"invocation"`   // systemd INVOCATION_ID of the last counted start
	RollingBack bool      `json:"rolling_back"` // decided: this version is bad
	Since       time.Time `json:"since"`
}

// State is the persistent record in DIR/state.json.
type State struct {
	Step      Step      `json:"step"`
	Good      string    `json:"good"`      // last version that proved healthy
	GoodSlot  string    `json:"good_slot"` // where it is
	Pending   *Pending  `json:"pending,omitempty"`
	Bad       []string  `json:"bad,omitempty"` // versions never to install again
	LastError string    `json:"last_error,omitempty"`
	LastCheck time.Time `json:"last_check"`
	Offered   string    `json:"offered,omitempty"` // newest verified version seen
}

// IsBad reports whether v was marked bad.
func (s *State) IsBad(v string) bool { return slices.Contains(s.Bad, v) }

func (s *State) markBad(v string) {
	if !s.IsBad(v) {
		s.Bad = append(s.Bad, v)
		if len(s.Bad) > maxBad {
			s.Bad = s.Bad[len(s.Bad)-maxBad:]
		}
	}
}

func validSlot(s string) bool { return s == Slots[0] || s == Slots[1] }

func otherSlot(s string) string {
	if s == Slots[0] {
		return Slots[1]
	}
	return Slots[0]
}

// decodeState parses and checks a state file's bytes.
func decodeState(b []byte) (State, error) {
	var s State
	if len(b) > maxStateBytes {
		return s, fmt.Errorf("%w: state file larger than %d bytes", ErrMalformed, maxStateBytes)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("%w: state file: %v", ErrMalformed, err)
	}
	if s.GoodSlot != "" && !validSlot(s.GoodSlot) {
		return s, fmt.Errorf("%w: state file: good_slot %q", ErrMalformed, s.GoodSlot)
	}
	if p := s.Pending; p != nil {
		if !validSlot(p.Slot) || !validSlot(p.FromSlot) || p.Slot == p.FromSlot || p.Attempts < 0 {
			return s, fmt.Errorf("%w: state file: pending slots %q/%q", ErrMalformed, p.Slot, p.FromSlot)
		}
	}
	if len(s.Bad) > maxBad {
		return s, fmt.Errorf("%w: state file: %d bad versions", ErrMalformed, len(s.Bad))
	}
	if s.Step == "" {
		s.Step = StepIdle
	}
	return s, nil
}

func (a *Agent) loadState() (State, error) {
	f, err := os.Open(filepath.Join(a.cfg.Dir, stateFile))
	if errors.Is(err, os.ErrNotExist) {
		return State{Step: StepIdle}, nil
	}
	if err != nil {
		return State{}, fmt.Errorf("reading update state: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxStateBytes+1))
	if err != nil {
		return State{}, fmt.Errorf("reading update state: %w", err)
	}
	return decodeState(b)
}

func (a *Agent) saveState(s State) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(a.cfg.Dir, stateFile), append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("saving update state: %w", err)
	}
	a.publish(s)
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// readCurrent returns the slot the current link points to, "" if none.
func (a *Agent) readCurrent() (string, error) {
	t, err := os.Readlink(filepath.Join(a.cfg.Dir, currentLink))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading the current slot link: %w", err)
	}
	dir, slot := filepath.Split(t)
	if filepath.Clean(dir) != slotsDir || !validSlot(slot) {
		return "", fmt.Errorf("%w: current link points to %q, want slots/a or slots/b", ErrMalformed, t)
	}
	return slot, nil
}

// switchCurrent points the current link at slot: symlink, rename, fsync.
func (a *Agent) switchCurrent(slot string) error {
	link := filepath.Join(a.cfg.Dir, currentLink)
	tmp := link + ".tmp"
	os.Remove(tmp)
	if err := os.Symlink(filepath.Join(slotsDir, slot), tmp); err != nil {
		return fmt.Errorf("switching to slot %s: %w", slot, err)
	}
	if err := os.Rename(tmp, link); err != nil {
		return fmt.Errorf("switching to slot %s: %w", slot, err)
	}
	if err := syncDir(a.cfg.Dir); err != nil {
		return fmt.Errorf("switching to slot %s: syncing: %w", slot, err)
	}
	return nil
}

func (a *Agent) slotPath(slot string, name ...string) string {
	return filepath.Join(append([]string{a.cfg.Dir, slotsDir, slot}, name...)...)
}
