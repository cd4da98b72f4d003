package server_test

import (
	"fmt"

	"github.com/starling-audio/starling/p2p/track"
	"github.com/starling-audio/starling/p2p/wire"
	"github.com/starling-audio/starling/tools/server"
)

func ExampleTracker() {
	tr := server.NewTracker()
	var id track.ID
	a, b, asker := wire.PeerID{1}, wire.PeerID{2}, wire.PeerID{3}
	tr.Announce(id, a, "192.0.2.1:7450")
	tr.Announce(id, b, "192.0.2.2:7450")
	tr.Announce(id, asker, "192.0.2.3:7450")
	online := func(p wire.PeerID) bool { return p != b } // b's session is gone
	for _, p := range tr.Query(id, asker, online) {
		fmt.Println(p.Addr)
	}
	// Output: 192.0.2.1:7450
}
