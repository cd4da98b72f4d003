package audio_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/starling-audio/starling/audio"
)

// A daemon opens the device named in its configuration ("null" on a
// headless machine), builds the player on it and queues tracks whose
// sources p2p provides.
func ExampleNewPlayer() {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	out, err := audio.OpenDevice(audio.DeviceConfig{Backend: audio.BackendNull}, log)
	if err != nil {
		fmt.Println("no device:", err)
		return
	}
	defer out.Close()
	p, err := audio.NewPlayer(audio.PlayerConfig{}, out, log)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := p.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close()
	events, stop := p.Subscribe(64)
	defer stop()
	_ = events // started, position, ended, underrun, error
	s, _ := p.Stats(ctx)
	fmt.Println(s.State, s.DeviceFormat)
}

func ExampleSelfCheck() {
	err := audio.SelfCheck(context.Background(), nil)
	fmt.Println(err == nil)
}
