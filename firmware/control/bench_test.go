package control_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/starling-audio/starling/firmware/control"
)

// BenchmarkStatusLoopback measures one authenticated GET /api/v1/status
// round trip over loopback TCP, client decode included.
func BenchmarkStatusLoopback(b *testing.B) {
	e := newBenchEnv(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.client.Status(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEventFanout measures delivering events from the player to one
// SSE client (encode, write, flush, client decode).
func BenchmarkEventFanout(b *testing.B) {
	e := newBenchEnv(b)
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan struct{}, 1024)
	done := make(chan error, 1)
	go func() {
		done <- e.client.Events(ctx, func(control.Event) error { got <- struct{}{}; return nil })
	}()
	<-e.player.subscribed
	<-got // the initial status
	ev, _ := control.NewEvent(control.EventVolume, time.Unix(0, 0), map[string]int{"volume": 50})
	b.ReportAllocs()
	for b.Loop() {
		e.player.publish(ev)
		<-got
	}
	b.StopTimer()
	cancel()
	<-done
}

func newBenchEnv(b *testing.B) *testEnv {
	b.Helper()
	tok, _ := control.NewToken()
	fp := newFakePlayer()
	srv, err := control.New(control.Config{Token: tok, Player: fp})
	if err != nil {
		b.Fatal(err)
	}
	e := &testEnv{player: fp, server: srv, token: tok}
	e.http = httptest.NewServer(srv.Handler())
	b.Cleanup(func() { srv.Close(); e.http.Close() })
	tr := &http.Transport{MaxIdleConnsPerHost: 4}
	b.Cleanup(tr.CloseIdleConnections)
	e.client, err = control.NewClient(e.http.URL, tok, &http.Client{Transport: tr})
	if err != nil {
		b.Fatal(err)
	}
	return e
}
