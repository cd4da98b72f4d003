package board

import (
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

// The [board] table of the daemon's config decodes straight into Profile.
func TestProfileFromTOML(t *testing.T) {
	const cfg = `
[board]
profile = "rpi-pcm5122"
led_pin = "GPIO12"
encoder_a_pin = "none"
encoder_b_pin = "none"
dac_addr = 0x4c
volume_range_db = 50.0

[board.buttons]
long_press = "1.2s"

[board.amp]
idle_off = "10m"
active_low = true
`
	var c struct {
		Board Profile `toml:"board"`
	}
	md, err := toml.Decode(cfg, &c)
	if err != nil {
		t.Fatal(err)
	}
	if u := md.Undecoded(); len(u) != 0 {
		t.Fatalf("undecoded keys %v", u)
	}
	p, err := c.Board.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	if p.LEDPin != "GPIO12" || p.PlayPin != "GPIO17" || p.EncoderAPin != "" || p.DACAddr != 0x4c ||
		p.Buttons.LongPress != 1200*time.Millisecond || p.Amp.IdleOff != 10*time.Minute || !p.Amp.ActiveLow ||
		p.Curve().RangeDB != 50 {
		t.Fatalf("decoded %+v", p)
	}
}
