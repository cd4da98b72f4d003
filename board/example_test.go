package board_test

import (
	"context"
	"fmt"
	"time"

	"github.com/starling-audio/starling/board"
)

// A fake board on a manual clock: press play, spin the knob, apply the
// volume to the (emulated) DAC.
func Example() {
	ctx := context.Background()
	f, err := board.NewFake(board.Profile{Name: board.ProfileFake}, board.Options{Clock: board.NewManualClock(time.Unix(0, 0))})
	if err != nil {
		fmt.Println(err)
		return
	}
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()

	_ = f.Press(ctx, board.PlayPause, 100*time.Millisecond)
	_ = f.Turn(ctx, 2, time.Second)
	for range 3 {
		switch e := (<-f.Events()).(type) {
		case board.Button:
			fmt.Println("button:", e)
		case board.VolumeDelta:
			v, _ := f.Volume().Adjust(e.Steps)
			fmt.Println("volume:", v)
		}
	}
	_ = f.Close()
	<-done
	// Output:
	// button: play-pause
	// volume: 42
	// volume: 44
}

func ExampleVolumeCurve() {
	c := board.DefaultVolumeCurve
	for _, v := range []int{0, 1, 50, 100} {
		db, mute := c.DB(v)
		fmt.Printf("%3d: mute=%t %.1f dB reg=%#02x\n", v, mute, db, c.Reg(v))
	}
	// Output:
	//   0: mute=true -Inf dB reg=0xff
	//   1: mute=false -59.4 dB reg=0xa7
	//  50: mute=false -30.0 dB reg=0x6c
	// 100: mute=false 0.0 dB reg=0x30
}
