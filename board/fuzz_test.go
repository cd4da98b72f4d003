package board

import (
	"errors"
	"testing"

	"periph.io/x/conn/v3/physic"
)

// scriptBus answers reads with the fuzz input's bytes and fails the
// transfer numbered failAt (0 = never): an untrusted chip.
type scriptBus struct {
	data   []byte
	n      int
	failAt int
}

func (s *scriptBus) String() string                  { return "script" }
func (s *scriptBus) SetSpeed(physic.Frequency) error { return nil }
func (s *scriptBus) Tx(_ uint16, _, r []byte) error {
	s.n++
	if s.n == s.failAt {
		return errors.New("script: transfer failed")
	}
	for i := range r {
		if len(s.data) == 0 {
			r[i] = 0xFF // an idle bus reads all ones
			continue
		}
		r[i], s.data = s.data[0], s.data[1:]
	}
	return nil
}

// FuzzPCM5122Init feeds arbitrary register contents and transfer failures
// to the driver: it never panics, and it accepts the chip exactly when the
// identification registers hold their reset values.
func FuzzPCM5122Init(f *testing.F) {
	f.Add([]byte{0x7C, 0x30, 0x85}, uint8(0))
	f.Add([]byte{0x00, 0x30}, uint8(0))
	f.Add([]byte{0x7C, 0x30}, uint8(1))
	f.Add([]byte{}, uint8(7))
	f.Fuzz(func(t *testing.T, data []byte, failAt uint8) {
		bus := &scriptBus{data: append([]byte(nil), data...), failAt: int(failAt)}
		d := NewPCM5122(bus, PCM5122Addr)
		err := d.Init(0x30)
		ident := len(data) >= 2 && data[0] == masterModeReset && data[1] == volumeReset
		switch {
		case failAt == 1 && !errors.Is(err, ErrNoDevice):
			t.Fatalf("first transfer failed but err = %v", err)
		case failAt == 0 && ident && err != nil:
			t.Fatalf("identified chip rejected: %v", err)
		case failAt == 0 && !ident && !errors.Is(err, ErrWrongChip):
			t.Fatalf("wrong chip accepted: err = %v", err)
		}
		if err == nil {
			if _, err := d.PowerState(); err != nil && int(failAt) != bus.n {
				t.Fatal(err)
			}
		}
	})
}
