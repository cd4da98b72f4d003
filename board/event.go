package board

import (
	"errors"
	"fmt"
)

// Exported sentinel errors. Wrapped errors say what was being done and how
// to fix it; test with errors.Is.
var (
	// ErrClosed is returned by calls on a board after Close.
	ErrClosed = errors.New("board: closed")
	// ErrNoDevice means nothing answered at the DAC's I2C address.
	ErrNoDevice = errors.New("board: no device answered on the I2C bus")
	// ErrWrongChip means a device answered but it is not the expected DAC.
	ErrWrongChip = errors.New("board: device on the I2C bus is not the expected DAC")
	// ErrBadProfile means a board profile failed validation.
	ErrBadProfile = errors.New("board: invalid board profile")
	// ErrUnknownPin means a profile names a pin the host does not have.
	ErrUnknownPin = errors.New("board: unknown pin")
	// ErrI2COpen means the I2C bus named by the profile could not be opened.
	ErrI2COpen = errors.New("board: cannot open I2C bus")
	// ErrSelfCheck means the fake board did not behave as expected.
	ErrSelfCheck = errors.New("board: self-check failed")
)

// ButtonID names a front-panel button.
type ButtonID int

// The buttons a speaker has.
const (
	PlayPause ButtonID = iota
	Next
	Previous
	numButtons
)

func (b ButtonID) String() string {
	switch b {
	case PlayPause:
		return "play-pause"
	case Next:
		return "next"
	case Previous:
		return "previous"
	}
	return fmt.Sprintf("button(%d)", int(b))
}

// Event is what the board reports to its consumer: Button or VolumeDelta.
// Consumers type-switch on it.
type Event interface {
	isEvent()
}

// Button is a debounced button press. A short press is reported on
// release; a long press is reported once, as soon as the button has been
// held for the long-press time (the release that follows is silent).
// Suggested meanings: long play-pause = stop, long next = skip album.
type Button struct {
	Which ButtonID
	Long  bool
}

// VolumeDelta is a turn of the rotary encoder: positive is clockwise (up).
// Steps already include acceleration: a fast spin yields more steps per
// detent.
type VolumeDelta struct {
	Steps int
}

func (Button) isEvent()      {}
func (VolumeDelta) isEvent() {}

func (b Button) String() string {
	if b.Long {
		return b.Which.String() + " (long)"
	}
	return b.Which.String()
}

// Status selects the status LED's pattern.
type Status int

// Status values, in the order a speaker usually goes through them.
const (
	StatusOff Status = iota
	StatusBooting
	StatusIdle
	StatusPlaying
	StatusUpdating
	StatusError
)

func (s Status) String() string {
	switch s {
	case StatusOff:
		return "off"
	case StatusBooting:
		return "booting"
	case StatusIdle:
		return "idle"
	case StatusPlaying:
		return "playing"
	case StatusUpdating:
		return "updating"
	case StatusError:
		return "error"
	}
	return fmt.Sprintf("status(%d)", int(s))
}
