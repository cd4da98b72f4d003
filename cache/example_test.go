package cache_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/starling-audio/starling/cache"
)

func ExampleOpen() {
	dir, _ := os.MkdirTemp("", "cache-example-")
	defer os.RemoveAll(dir)
	c, err := cache.Open(context.Background(), cache.Options{Dir: dir, CapacityBytes: 64 << 20}, slog.New(slog.DiscardHandler))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	ids, _ := c.CompleteTracks()
	fmt.Println(len(ids), c.Stats().CapacityBytes)
	// Output: 0 67108864
}

func ExampleSelfCheck() {
	dir, _ := os.MkdirTemp("", "cache-selfcheck-")
	defer os.RemoveAll(dir)
	fmt.Println(cache.SelfCheck(context.Background(), dir))
	// Output: <nil>
}
