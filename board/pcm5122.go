package board

import (
	"fmt"
	"sync"

	"periph.io/x/conn/v3/i2c"
)

// PCM5122 page-0 registers and bits used by the driver (TI SLAS764, section
// 8.6 "Register Maps").
const (
	regPage        = 0x00 // page select
	regReset       = 0x01 // RSTM bit 4 (modules), RSTR bit 0 (registers)
	regPower       = 0x02 // RQST bit 4 (standby), RQPD bit 0 (power down)
	regMute        = 0x03 // RQML bit 4 (left), RQMR bit 0 (right)
	regPLLEnable   = 0x04 // PLLE bit 0
	regBCKLRCK     = 0x09 // BCKO bit 4, LRKO bit 0: 0 = clocks are inputs (slave)
	regMasterMode  = 0x0C // reset value 0x7C: used to identify the chip
	regPLLRef      = 0x0D // SREF bits 6:4: 001 = BCK is the PLL reference
	regErrDetect   = 0x25 // IDCH bit 3: ignore clock halt (no SCK on the board)
	regI2S1        = 0x28 // AFMT bits 5:4, ALEN bits 1:0; reset value 0x02
	regVolumeLeft  = 0x3D // 0x00 = +24 dB, 0x30 = 0 dB, -0.5 dB per step, 0xFF = mute
	regVolumeRight = 0x3E
	regPowerState  = 0x76 // DSPS bits 3:0, read only

	resetAll       = 0x11
	standbyRequest = 0x10
	muteBoth       = 0x11
	pllEnable      = 0x01
	srefBCK        = 0x10
	ignoreClkHalt  = 0x08

	masterModeReset = 0x7C
	volumeReset     = 0x30

	// VolumeRegMute is the digital volume register value that mutes.
	VolumeRegMute = 0xFF
	// VolumeReg0dB is the digital volume register value for 0 dB.
	VolumeReg0dB = 0x30
)

// PCM5122 addresses: ADR1/ADR2 strapping on HiFiBerry DAC+ and clones.
const (
	PCM5122Addr    uint16 = 0x4D
	PCM5122AltAddr uint16 = 0x4C
)

// PCM5122 drives a TI PCM5122 DAC over I2C as an I2S slave with BCK as the
// PLL reference (no master clock), the way HiFiBerry DAC+ boards are wired.
// It never owns the bus. Methods are safe for concurrent use.
type PCM5122 struct {
	bus  i2c.Bus
	addr uint16

	mu      sync.Mutex
	muted   bool
	standby bool
	volReg  byte
}

// NewPCM5122 returns a driver for the chip at addr on bus. It does not
// touch the bus: call Init.
func NewPCM5122(bus i2c.Bus, addr uint16) *PCM5122 {
	return &PCM5122{bus: bus, addr: addr, muted: true, standby: true, volReg: VolumeRegMute}
}

// String names the chip and where it sits.
func (d *PCM5122) String() string {
	return fmt.Sprintf("PCM5122 at %#02x on %s", d.addr, d.bus)
}

func (d *PCM5122) write(reg, val byte) error {
	if err := d.bus.Tx(d.addr, []byte{reg, val}, nil); err != nil {
		return fmt.Errorf("writing register %d of %s: %w", reg, d, err)
	}
	return nil
}

func (d *PCM5122) read(reg byte) (byte, error) {
	var b [1]byte
	if err := d.bus.Tx(d.addr, []byte{reg}, b[:]); err != nil {
		return 0, fmt.Errorf("reading register %d of %s: %w", reg, d, err)
	}
	return b[0], nil
}

// Init resets the chip, checks that it is a PCM5122 and configures it for
// I2S slave mode with the PLL locked to BCK. It leaves the outputs muted
// and the digital volume at volReg (VolumeReg0dB = 0 dB, VolumeRegMute);
// Unmute after the amplifier is on. Errors wrap ErrNoDevice when nothing
// answers and ErrWrongChip when something else answers.
func (d *PCM5122) Init(volReg byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.bus.Tx(d.addr, []byte{regPage, 0x00}, nil); err != nil {
		return fmt.Errorf("%w: selecting page 0 of the PCM5122 at %#02x on %s: %w "+
			"(is the DAC board seated and powered, I2C enabled with dtparam=i2c_arm=on, and the address right: 0x4d or 0x4c?)",
			ErrNoDevice, d.addr, d.bus, err)
	}
	steps := []struct{ reg, val byte }{
		{regPower, standbyRequest}, // standby while the clocks are reconfigured
		{regReset, resetAll},       // reset modules and registers
		{regReset, 0x00},
	}
	for _, s := range steps {
		if err := d.write(s.reg, s.val); err != nil {
			return fmt.Errorf("initialising DAC: %w", err)
		}
	}
	if err := d.identifyLocked(); err != nil {
		return err
	}
	steps = []struct{ reg, val byte }{
		{regMute, muteBoth},           // muted until the amplifier is on
		{regBCKLRCK, 0x00},            // BCK and LRCK are inputs: I2S slave
		{regErrDetect, ignoreClkHalt}, // no SCK: do not treat its absence as a halt
		{regPLLRef, srefBCK},          // PLL reference = BCK
		{regPLLEnable, pllEnable},     // PLL on; the chip's auto clock set picks dividers
		{regVolumeLeft, volReg},
		{regVolumeRight, volReg},
		{regPower, 0x00}, // leave standby
	}
	for _, s := range steps {
		if err := d.write(s.reg, s.val); err != nil {
			return fmt.Errorf("initialising DAC: %w", err)
		}
	}
	d.muted, d.standby, d.volReg = true, false, volReg
	return nil
}

// identifyLocked reads two registers whose reset values are known; after a
// register reset a PCM512x reads 0x7C in register 12 and 0x30 in 61.
func (d *PCM5122) identifyLocked() error {
	for _, c := range []struct{ reg, want byte }{{regMasterMode, masterModeReset}, {regVolumeLeft, volumeReset}} {
		got, err := d.read(c.reg)
		if err != nil {
			return fmt.Errorf("identifying DAC: %w", err)
		}
		if got != c.want {
			return fmt.Errorf("%w: %s: register %d reads %#02x after reset, a PCM512x reads %#02x "+
				"(check the board profile's dac_addr: another chip answers there)", ErrWrongChip, d, c.reg, got, c.want)
		}
	}
	return nil
}

// SetMute mutes or unmutes both channels with the chip's soft ramp.
func (d *PCM5122) SetMute(mute bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	v := byte(0)
	if mute {
		v = muteBoth
	}
	if err := d.write(regMute, v); err != nil {
		return fmt.Errorf("setting DAC mute=%t: %w", mute, err)
	}
	d.muted = mute
	return nil
}

// Muted reports the last mute state written.
func (d *PCM5122) Muted() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.muted
}

// SetStandby puts the chip into standby (clocks and outputs stopped,
// registers kept) or brings it back.
func (d *PCM5122) SetStandby(standby bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	v := byte(0)
	if standby {
		v = standbyRequest
	}
	if err := d.write(regPower, v); err != nil {
		return fmt.Errorf("setting DAC standby=%t: %w", standby, err)
	}
	d.standby = standby
	return nil
}

// SetVolumeReg writes the digital volume of both channels: 0x30 = 0 dB,
// each step -0.5 dB, 0xFF = mute. Values below 0x30 boost (up to +24 dB at
// 0x00) and clip easily; VolumeCurve never produces them unless MaxDB > 0.
func (d *PCM5122) SetVolumeReg(v byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if v == d.volReg {
		return nil
	}
	if err := d.write(regVolumeLeft, v); err != nil {
		return fmt.Errorf("setting DAC volume: %w", err)
	}
	if err := d.write(regVolumeRight, v); err != nil {
		return fmt.Errorf("setting DAC volume: %w", err)
	}
	d.volReg = v
	return nil
}

// PowerState reads the chip's power state machine (register 118, DSPS):
// 0 power down, 1 waiting for the charge pump, 2-3 calibration, 4 volume
// ramp up, 5 run (playing), 6 line output short, 7 volume ramp down,
// 8 standby.
func (d *PCM5122) PowerState() (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	v, err := d.read(regPowerState)
	if err != nil {
		return 0, fmt.Errorf("reading DAC power state: %w", err)
	}
	return int(v & 0x0F), nil
}
