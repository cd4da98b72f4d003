package session_test

import (
	"fmt"
	"strings"

	"github.com/starling-audio/starling/p2p/session"
)

func ExampleParseCredentials() {
	blob := `{"device_id":"dev-0123456789abcdef","secret":"` + strings.Repeat("ab", 32) +
		`","service_addr":"127.0.0.1:7440","service_pin":"` + strings.Repeat("cd", 32) + `"}`
	creds, err := session.ParseCredentials([]byte(blob))
	if err != nil {
		fmt.Println(err)
		return
	}
	var cfg session.Config
	if err := creds.Apply(&cfg); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg.DeviceID, cfg.Addr, len(cfg.Secret))
	// then: c, err := session.Dial(ctx, cfg); defer c.Close()
	// Output: dev-0123456789abcdef 127.0.0.1:7440 32
}
