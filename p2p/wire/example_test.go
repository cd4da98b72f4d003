package wire_test

import (
	"context"
	"fmt"
	"net"

	"github.com/starling-audio/starling/p2p/wire"
)

func Example() {
	const typeUpper wire.Type = 0xF010 // experimental range
	a, b := net.Pipe()
	server := wire.Router{typeUpper: func(ctx context.Context, c *wire.Conn, m *wire.Message) ([]byte, error) {
		out := []byte(string(m.Payload))
		for i, ch := range out {
			if 'a' <= ch && ch <= 'z' {
				out[i] = ch - 32
			}
		}
		return out, nil
	}}
	done := make(chan *wire.Conn)
	go func() {
		c, err := wire.Open(context.Background(), b, wire.Config{Role: "service", Handler: server, KeepaliveInterval: -1})
		if err != nil {
			panic(err)
		}
		done <- c
	}()
	client, err := wire.Open(context.Background(), a, wire.Config{Role: "speaker", KeepaliveInterval: -1})
	if err != nil {
		panic(err)
	}
	srv := <-done
	defer srv.Close()
	defer client.Close()

	resp, err := client.Request(context.Background(), typeUpper, []byte("hello"), wire.PrioUrgent)
	fmt.Println(string(resp), err, client.Peer().Role)
	_, err = client.Request(context.Background(), 0xF0FF, nil, wire.PrioBulk)
	fmt.Println(err)
	// Output:
	// HELLO <nil> service
	// remote: unknown type: unknown message type 0xf0ff
}
