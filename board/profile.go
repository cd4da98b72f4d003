package board

import (
	"fmt"
	"strings"
)

// Built-in profile names.
const (
	ProfileNone       = "none"        // no hardware: software volume, no buttons
	ProfileFake       = "fake"        // periph gpiotest pins and an emulated PCM5122: laptops, CI
	ProfileRPiPCM5122 = "rpi-pcm5122" // Raspberry Pi + HiFiBerry DAC+ (or clone)
)

// Profile says which pins, which bus and which DAC a board has. It is the
// [board] table of the daemon's TOML config: `profile` picks a built-in and
// every other non-zero field overrides it (Resolve). Pin names are periph
// names as gpioreg.ByName knows them ("GPIO17"); an empty pin means absent,
// and the override "none" removes a built-in's pin.
type Profile struct {
	Name string `toml:"profile"`

	PlayPin     string `toml:"play_pin"`
	NextPin     string `toml:"next_pin"`
	PreviousPin string `toml:"previous_pin"`
	EncoderAPin string `toml:"encoder_a_pin"`
	EncoderBPin string `toml:"encoder_b_pin"`
	LEDPin      string `toml:"led_pin"`
	AmpPin      string `toml:"amp_pin"`

	// I2CBus is the periph bus name or number ("1" = /dev/i2c-1); DAC is
	// "pcm5122" or "none"; DACAddr its 7-bit address (0x4d or 0x4c).
	I2CBus  string `toml:"i2c_bus"`
	DAC     string `toml:"dac"`
	DACAddr uint16 `toml:"dac_addr"`

	Buttons ButtonConfig  `toml:"buttons"`
	Encoder EncoderConfig `toml:"encoder"`
	Amp     AmpConfig     `toml:"amp"`

	// Volume curve: RangeDB (default 60) below MaxDB (default 0) at 100;
	// VolumeStep points per encoder step (default 2); InitialVolume at
	// start (default 40).
	VolumeRangeDB float64 `toml:"volume_range_db"`
	VolumeMaxDB   float64 `toml:"volume_max_db"`
	VolumeStep    int     `toml:"volume_step"`
	InitialVolume int     `toml:"initial_volume"`
}

// Builtin returns the named built-in profile.
func Builtin(name string) (Profile, bool) {
	switch name {
	case ProfileNone:
		return Profile{Name: ProfileNone, DAC: "none"}, true
	case ProfileFake:
		return Profile{
			Name: ProfileFake, PlayPin: "FAKE_PLAY", NextPin: "FAKE_NEXT", PreviousPin: "FAKE_PREV",
			EncoderAPin: "FAKE_ENC_A", EncoderBPin: "FAKE_ENC_B", LEDPin: "FAKE_LED", AmpPin: "FAKE_AMP",
			I2CBus: "fake", DAC: "pcm5122", DACAddr: PCM5122Addr,
		}, true
	case ProfileRPiPCM5122:
		// BCM numbers clear of I2C (2, 3), I2S (18-21), the HAT ID EEPROM
		// (0, 1) and the UART (14, 15). GPIO13 can be hardware PWM1.
		return Profile{
			Name: ProfileRPiPCM5122, PlayPin: "GPIO17", NextPin: "GPIO27", PreviousPin: "GPIO22",
			EncoderAPin: "GPIO5", EncoderBPin: "GPIO6", LEDPin: "GPIO13", AmpPin: "GPIO16",
			I2CBus: "1", DAC: "pcm5122", DACAddr: PCM5122Addr,
		}, true
	}
	return Profile{}, false
}

// BuiltinNames lists the built-in profiles.
func BuiltinNames() []string { return []string{ProfileNone, ProfileFake, ProfileRPiPCM5122} }

// Resolve starts from the built-in named by p.Name (default "none") and
// applies every non-zero field of p over it, then validates the result.
func (p Profile) Resolve() (Profile, error) {
	name := p.Name
	if name == "" {
		name = ProfileNone
	}
	base, ok := Builtin(name)
	if !ok {
		return Profile{}, fmt.Errorf("%w: unknown board profile %q (choose one of %s)", ErrBadProfile, name, strings.Join(BuiltinNames(), ", "))
	}
	over := func(dst *string, v string) {
		switch v {
		case "":
		case "none":
			*dst = "" // remove the built-in's pin
		default:
			*dst = v
		}
	}
	over(&base.PlayPin, p.PlayPin)
	over(&base.NextPin, p.NextPin)
	over(&base.PreviousPin, p.PreviousPin)
	over(&base.EncoderAPin, p.EncoderAPin)
	over(&base.EncoderBPin, p.EncoderBPin)
	over(&base.LEDPin, p.LEDPin)
	over(&base.AmpPin, p.AmpPin)
	over(&base.I2CBus, p.I2CBus)
	if p.DAC != "" {
		base.DAC = p.DAC
	}
	if p.DACAddr != 0 {
		base.DACAddr = p.DACAddr
	}
	if p.Buttons != (ButtonConfig{}) {
		base.Buttons = p.Buttons
	}
	if p.Encoder != (EncoderConfig{}) {
		base.Encoder = p.Encoder
	}
	if p.Amp != (AmpConfig{}) {
		base.Amp = p.Amp
	}
	if p.VolumeRangeDB != 0 {
		base.VolumeRangeDB = p.VolumeRangeDB
	}
	if p.VolumeMaxDB != 0 {
		base.VolumeMaxDB = p.VolumeMaxDB
	}
	if p.VolumeStep != 0 {
		base.VolumeStep = p.VolumeStep
	}
	if p.InitialVolume != 0 {
		base.InitialVolume = p.InitialVolume
	}
	if err := base.Validate(); err != nil {
		return Profile{}, err
	}
	return base, nil
}

// HasDAC reports whether the profile has a DAC.
func (p Profile) HasDAC() bool { return p.DAC != "" && p.DAC != "none" }

// Curve returns the profile's volume curve with defaults applied.
func (p Profile) Curve() VolumeCurve {
	c := DefaultVolumeCurve
	if p.VolumeRangeDB != 0 {
		c.RangeDB = p.VolumeRangeDB
	}
	if p.VolumeMaxDB != 0 {
		c.MaxDB = p.VolumeMaxDB
	}
	return c
}

// Pins lists the profile's pins by role, absent ones included as "".
func (p Profile) Pins() map[string]string {
	return map[string]string{
		"play_pin": p.PlayPin, "next_pin": p.NextPin, "previous_pin": p.PreviousPin,
		"encoder_a_pin": p.EncoderAPin, "encoder_b_pin": p.EncoderBPin,
		"led_pin": p.LEDPin, "amp_pin": p.AmpPin,
	}
}

// Validate checks the profile is usable: known name and DAC, no pin used
// twice, both encoder pins or neither, a bus and an address when there is
// a DAC, a sane volume curve and timings. Errors wrap ErrBadProfile.
func (p Profile) Validate() error {
	if _, ok := Builtin(p.Name); !ok {
		return fmt.Errorf("%w: unknown board profile %q (choose one of %s)", ErrBadProfile, p.Name, strings.Join(BuiltinNames(), ", "))
	}
	seen := map[string]string{}
	for _, role := range []string{"play_pin", "next_pin", "previous_pin", "encoder_a_pin", "encoder_b_pin", "led_pin", "amp_pin"} {
		pin := p.Pins()[role]
		if pin == "" {
			continue
		}
		if other, dup := seen[pin]; dup {
			return fmt.Errorf("%w: pin %s is used by both %s and %s", ErrBadProfile, pin, other, role)
		}
		seen[pin] = role
	}
	if (p.EncoderAPin == "") != (p.EncoderBPin == "") {
		return fmt.Errorf("%w: set both encoder_a_pin and encoder_b_pin, or neither", ErrBadProfile)
	}
	switch p.DAC {
	case "", "none":
	case "pcm5122":
		if p.I2CBus == "" {
			return fmt.Errorf("%w: dac = \"pcm5122\" needs i2c_bus (e.g. \"1\" for /dev/i2c-1)", ErrBadProfile)
		}
		if p.DACAddr != PCM5122Addr && p.DACAddr != PCM5122AltAddr {
			return fmt.Errorf("%w: dac_addr %#x is not a PCM5122 address (0x4d or 0x4c)", ErrBadProfile, p.DACAddr)
		}
	default:
		return fmt.Errorf("%w: unknown dac %q (supported: pcm5122, none)", ErrBadProfile, p.DAC)
	}
	if err := p.Curve().Validate(); err != nil {
		return err
	}
	if p.VolumeStep < 0 || p.VolumeStep > 50 {
		return fmt.Errorf("%w: volume_step %d is outside 0..50", ErrBadProfile, p.VolumeStep)
	}
	if p.InitialVolume < 0 || p.InitialVolume > 100 {
		return fmt.Errorf("%w: initial_volume %d is outside 0..100", ErrBadProfile, p.InitialVolume)
	}
	if s := p.Encoder.StepsPerDetent; s != 0 && s != 1 && s != 2 && s != 4 {
		return fmt.Errorf("%w: encoder.steps_per_detent %d must be 1, 2 or 4", ErrBadProfile, s)
	}
	for name, d := range map[string]int64{
		"buttons.debounce": int64(p.Buttons.Debounce), "buttons.long_press": int64(p.Buttons.LongPress),
		"amp.idle_off": int64(p.Amp.IdleOff), "amp.settle": int64(p.Amp.Settle), "amp.mute_settle": int64(p.Amp.MuteSettle),
	} {
		if d < 0 {
			return fmt.Errorf("%w: %s must not be negative", ErrBadProfile, name)
		}
	}
	b := p.Buttons.withDefaults()
	if b.LongPress <= b.Debounce {
		return fmt.Errorf("%w: buttons.long_press (%s) must be longer than buttons.debounce (%s)", ErrBadProfile, b.LongPress, b.Debounce)
	}
	if p.Name == ProfileRPiPCM5122 {
		for pin, role := range seen {
			if reserved, why := rpiReserved(pin); reserved {
				return fmt.Errorf("%w: %s = %s clashes with %s on a Raspberry Pi with a PCM5122 DAC", ErrBadProfile, role, pin, why)
			}
		}
	}
	return nil
}

// rpiReserved reports pins a Pi + I2S DAC board already uses.
func rpiReserved(pin string) (bool, string) {
	switch strings.ToUpper(pin) {
	case "GPIO2", "GPIO3":
		return true, "the I2C bus to the DAC (SDA1/SCL1)"
	case "GPIO18", "GPIO19", "GPIO20", "GPIO21":
		return true, "the I2S audio link (BCK, LRCK, DIN, DOUT)"
	case "GPIO0", "GPIO1":
		return true, "the HAT ID EEPROM (ID_SD/ID_SC)"
	}
	return false, ""
}

// Options returns board Options for this profile (logger, clock and
// release left for the caller).
func (p Profile) Options() Options {
	return Options{
		Buttons:       p.Buttons,
		Encoder:       p.Encoder,
		Amp:           p.Amp,
		Curve:         p.Curve(),
		VolumeStep:    p.VolumeStep,
		InitialVolume: p.InitialVolume,
	}
}
