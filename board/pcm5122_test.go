package board

import (
	"errors"
	"testing"

	"periph.io/x/conn/v3/i2c/i2ctest"
)

const a = PCM5122Addr

func w(reg, val byte) i2ctest.IO { return i2ctest.IO{Addr: a, W: []byte{reg, val}} }
func r(reg, val byte) i2ctest.IO { return i2ctest.IO{Addr: a, W: []byte{reg}, R: []byte{val}} }

// initOps is the exact I2C traffic of Init(volReg).
func initOps(volReg byte) []i2ctest.IO {
	return []i2ctest.IO{
		w(0x00, 0x00), // page 0
		w(0x02, 0x10), // standby
		w(0x01, 0x11), // reset modules + registers
		w(0x01, 0x00),
		r(0x0C, 0x7C), // identify: master mode reset value
		r(0x3D, 0x30), // identify: volume reset value
		w(0x03, 0x11), // mute
		w(0x09, 0x00), // slave
		w(0x25, 0x08), // ignore clock halt (no SCK)
		w(0x0D, 0x10), // PLL ref = BCK
		w(0x04, 0x01), // PLL on
		w(0x3D, volReg),
		w(0x3E, volReg),
		w(0x02, 0x00), // leave standby
	}
}

func playback(t *testing.T, ops ...[]i2ctest.IO) *i2ctest.Playback {
	t.Helper()
	var all []i2ctest.IO
	for _, o := range ops {
		all = append(all, o...)
	}
	bus := &i2ctest.Playback{Ops: all, DontPanic: true}
	t.Cleanup(func() {
		if err := bus.Close(); err != nil {
			t.Errorf("playback not fully consumed: %v", err)
		}
	})
	return bus
}

func TestPCM5122Operations(t *testing.T) {
	tests := []struct {
		name string
		ops  []i2ctest.IO
		run  func(d *PCM5122) error
	}{
		{"init at 0 dB", initOps(0x30), func(d *PCM5122) error { return d.Init(0x30) }},
		{"init muted volume", initOps(0xFF), func(d *PCM5122) error { return d.Init(0xFF) }},
		{"unmute", []i2ctest.IO{w(0x03, 0x00)}, func(d *PCM5122) error { return d.SetMute(false) }},
		{"mute", []i2ctest.IO{w(0x03, 0x11)}, func(d *PCM5122) error { return d.SetMute(true) }},
		{"standby", []i2ctest.IO{w(0x02, 0x10)}, func(d *PCM5122) error { return d.SetStandby(true) }},
		{"wake", []i2ctest.IO{w(0x02, 0x00)}, func(d *PCM5122) error { return d.SetStandby(false) }},
		{"volume -10 dB", []i2ctest.IO{w(0x3D, 0x44), w(0x3E, 0x44)}, func(d *PCM5122) error { return d.SetVolumeReg(0x44) }},
		{"volume unchanged writes nothing", []i2ctest.IO{w(0x3D, 0x44), w(0x3E, 0x44)}, func(d *PCM5122) error {
			if err := d.SetVolumeReg(0x44); err != nil {
				return err
			}
			return d.SetVolumeReg(0x44)
		}},
		{"power state", []i2ctest.IO{r(0x76, 0x85)}, func(d *PCM5122) error {
			st, err := d.PowerState()
			if err == nil && st != 5 {
				return errors.New("power state not decoded from the low nibble")
			}
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bus := playback(t, tt.ops)
			if err := tt.run(NewPCM5122(bus, a)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestPCM5122InitState(t *testing.T) {
	d := NewPCM5122(playback(t, initOps(0x50), []i2ctest.IO{w(0x03, 0x00)}), a)
	if !d.Muted() {
		t.Fatal("a new driver must assume muted")
	}
	if err := d.Init(0x50); err != nil {
		t.Fatal(err)
	}
	if !d.Muted() {
		t.Fatal("Init must leave the outputs muted")
	}
	if err := d.SetMute(false); err != nil {
		t.Fatal(err)
	}
	if d.Muted() {
		t.Fatal("SetMute(false) not recorded")
	}
}

func TestPCM5122NoDevice(t *testing.T) {
	// Nothing on the bus: the very first transfer fails, as a missing ACK does.
	bus := playback(t, nil)
	err := NewPCM5122(bus, a).Init(0x30)
	if !errors.Is(err, ErrNoDevice) {
		t.Fatalf("err = %v, want ErrNoDevice", err)
	}
	// The fake chip does not answer at the other address either.
	err = NewPCM5122(NewFakePCM5122(PCM5122AltAddr), a).Init(0x30)
	if !errors.Is(err, ErrNoDevice) {
		t.Fatalf("wrong address: err = %v, want ErrNoDevice", err)
	}
}

func TestPCM5122WrongChip(t *testing.T) {
	ops := initOps(0x30)[:5]
	ops[4] = r(0x0C, 0x00) // something else answers at 0x4d
	err := NewPCM5122(playback(t, ops), a).Init(0x30)
	if !errors.Is(err, ErrWrongChip) {
		t.Fatalf("err = %v, want ErrWrongChip", err)
	}
	ops = initOps(0x30)[:6]
	ops[5] = r(0x3D, 0x31)
	err = NewPCM5122(playback(t, ops), a).Init(0x30)
	if !errors.Is(err, ErrWrongChip) {
		t.Fatalf("err = %v, want ErrWrongChip", err)
	}
}

func TestPCM5122WriteFailureMidInit(t *testing.T) {
	// The bus fails after the page select: the error names the register.
	bus := playback(t, initOps(0x30)[:1])
	err := NewPCM5122(bus, a).Init(0x30)
	if err == nil || errors.Is(err, ErrNoDevice) {
		t.Fatalf("err = %v, want a write error that is not ErrNoDevice", err)
	}
}

func TestFakePCM5122MatchesPlayback(t *testing.T) {
	// Record the driver against the emulated chip and check it produced
	// exactly the traffic the Playback table expects.
	rec := &i2ctest.Record{Bus: NewFakePCM5122(a)}
	if err := NewPCM5122(rec, a).Init(0x40); err != nil {
		t.Fatal(err)
	}
	want := initOps(0x40)
	if len(rec.Ops) != len(want) {
		t.Fatalf("recorded %d ops, want %d", len(rec.Ops), len(want))
	}
	for i := range want {
		if string(rec.Ops[i].W) != string(want[i].W) || string(rec.Ops[i].R) != string(want[i].R) {
			t.Errorf("op %d: got %+v want %+v", i, rec.Ops[i], want[i])
		}
	}
}
