package control_test

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/starling-audio/starling/firmware/control"
)

var eventTime = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func mustEvent(t *testing.T, typ string, v any) control.Event {
	t.Helper()
	ev, err := control.NewEvent(typ, eventTime, v)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// follow runs Client.Events in a goroutine, forwarding events to a channel.
// The returned function waits for Events to return and gives its error.
func follow(ctx context.Context, c *control.Client) (<-chan control.Event, func() error) {
	evs := make(chan control.Event, 16)
	done := make(chan error, 1)
	go func() {
		err := c.Events(ctx, func(ev control.Event) error {
			select {
			case evs <- ev:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		close(evs) // a receive after the end of the stream fails, not hangs
		done <- err
	}()
	return evs, func() error { return <-done }
}

func receive(t *testing.T, evs <-chan control.Event) control.Event {
	t.Helper()
	select {
	case ev, ok := <-evs:
		if !ok {
			t.Fatal("the event stream ended early")
		}
		return ev
	case <-t.Context().Done():
		t.Fatal("test ended while waiting for an event")
	}
	return control.Event{}
}

func TestEventsDeliverAndStopOnClientDisconnect(t *testing.T) {
	e := newTestEnv(t, nil)
	ctx, cancel := context.WithCancel(t.Context())
	evs, wait := follow(ctx, e.client)
	<-e.player.subscribed

	first := receive(t, evs)
	if first.Type != control.EventStatus || !strings.Contains(string(first.Data), `"state":"playing"`) {
		t.Fatalf("first event = %s %s, want the status", first.Type, first.Data)
	}
	sent := []control.Event{
		mustEvent(t, control.EventState, map[string]string{"state": control.StatePaused}),
		mustEvent(t, control.EventVolume, map[string]int{"volume": 55}),
		mustEvent(t, control.EventTrack, testTracks[1]),
		{Type: "bad\ntype", Time: eventTime, Data: []byte(`{}`)}, // dropped: would break framing
		mustEvent(t, "future.type", map[string]bool{"x": true}),
	}
	for _, ev := range sent {
		e.player.publish(ev)
	}
	for _, want := range []control.Event{sent[0], sent[1], sent[2], sent[4]} {
		got := receive(t, evs)
		if got.Type != want.Type || !got.Time.Equal(want.Time) || string(got.Data) != string(want.Data) {
			t.Errorf("event = %s %v %s, want %s %v %s", got.Type, got.Time, got.Data, want.Type, want.Time, want.Data)
		}
	}

	cancel()
	if err := wait(); !errors.Is(err, context.Canceled) {
		t.Errorf("Events returned %v, want context.Canceled", err)
	}
	// The server notices the client is gone and ends the subscription.
	<-e.player.unsubscribed
	if n := e.player.subscribers(); n != 0 {
		t.Errorf("%d subscriptions left", n)
	}
}

func TestEventsStopOnServerShutdown(t *testing.T) {
	tok, _ := control.NewToken()
	fp := newFakePlayer()
	srv, err := control.New(control.Config{Token: tok, Player: fp, Logger: testLogger(t), Version: "v9"})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveCtx, stopServe := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(serveCtx, ln) }()

	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c, err := control.NewClient(ln.Addr().String(), tok, &http.Client{Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	evs, wait := follow(t.Context(), c)
	<-fp.subscribed
	if ev := receive(t, evs); ev.Type != control.EventStatus || !strings.Contains(string(ev.Data), `"version":"v9"`) {
		t.Fatalf("first event %s %s", ev.Type, ev.Data)
	}
	fp.publish(mustEvent(t, control.EventNeighbours, map[string]int{"neighbours": 3}))
	if ev := receive(t, evs); ev.Type != control.EventNeighbours {
		t.Fatalf("event %s", ev.Type)
	}

	stopServe()
	if err := <-served; err != nil {
		t.Errorf("Serve returned %v after its context ended, want nil", err)
	}
	if err := wait(); err != nil {
		t.Errorf("Events returned %v when the server shut down, want nil", err)
	}
	<-fp.unsubscribed
	if err := srv.Close(); err != nil {
		t.Errorf("Close after Serve: %v", err)
	}
	if err := srv.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := srv.Serve(t.Context(), ln); err == nil {
		t.Error("a Server served twice")
	}
}

func TestEventsStopOnPlayerEnd(t *testing.T) {
	e := newTestEnv(t, nil)
	evs, wait := follow(t.Context(), e.client)
	<-e.player.subscribed
	receive(t, evs)
	// The player ends the subscription (shutting down): the stream ends.
	e.player.endAll()
	if err := wait(); err != nil {
		t.Errorf("Events returned %v, want nil at the end of the stream", err)
	}
}

func TestEventsCloseEndsStreams(t *testing.T) {
	e := newTestEnv(t, nil)
	evs, wait := follow(t.Context(), e.client)
	<-e.player.subscribed
	receive(t, evs)
	e.server.Close()
	if err := wait(); err != nil {
		t.Errorf("Events returned %v after Close, want nil", err)
	}
	<-e.player.unsubscribed
}

func TestEventsMaxStreams(t *testing.T) {
	e := newTestEnv(t, func(c *control.Config) { c.MaxStreams = 1 })
	ctx, cancel := context.WithCancel(t.Context())
	evs, wait := follow(ctx, e.client)
	<-e.player.subscribed
	receive(t, evs)
	err := e.client.Events(t.Context(), func(control.Event) error { return nil })
	var ae *control.APIError
	if !errors.As(err, &ae) || ae.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("second stream: %v, want 503", err)
	}
	cancel()
	wait()
	<-e.player.unsubscribed
	// The slot is free again once the handler has returned; the fake player
	// reports the end of the subscription when the request's context ends,
	// which can be just before that, so a refusal (503) is retried.
	for {
		ctx2, cancel2 := context.WithCancel(t.Context())
		evs2, wait2 := follow(ctx2, e.client)
		ev, ok := <-evs2
		if ok {
			if ev.Type != control.EventStatus {
				t.Errorf("first event %q, want status", ev.Type)
			}
			cancel2()
			wait2()
			return
		}
		err := wait2()
		cancel2()
		if !errors.As(err, &ae) || ae.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("third stream: %v", err)
		}
		select {
		case <-t.Context().Done():
			t.Fatal("the stream slot was never freed")
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func TestEventsKeepAlive(t *testing.T) {
	e := newTestEnv(t, func(c *control.Config) { c.KeepAlive = time.Millisecond })
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, e.http.URL+"/api/v1/events", nil)
	req.Header.Set("Authorization", "Bearer "+e.token)
	resp, err := e.http.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if sc.Text() == ": keep-alive" {
			return
		}
	}
	t.Fatalf("stream ended without a keep-alive: %v", sc.Err())
}

// TestEventsOutliveServerTimeouts checks that a stream lasts longer than the
// http.Server's read and write timeouts (each event write has its own
// deadline). It lets the short timeouts pass in real time; it asserts on
// delivery, not on durations.
func TestEventsOutliveServerTimeouts(t *testing.T) {
	tok, _ := control.NewToken()
	fp := newFakePlayer()
	const timeout = 50 * time.Millisecond
	srv, err := control.New(control.Config{Token: tok, Player: fp, Logger: testLogger(t),
		ReadTimeout: timeout, WriteTimeout: timeout, ReadHeaderTimeout: timeout, KeepAlive: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c, _ := control.NewClient(ln.Addr().String(), tok, &http.Client{Transport: tr})
	evs, wait := follow(t.Context(), c)
	<-fp.subscribed
	receive(t, evs)
	for i := range 3 {
		time.Sleep(2 * timeout) // past both server timeouts since the last write
		fp.publish(mustEvent(t, control.EventVolume, map[string]int{"volume": i}))
		if ev := receive(t, evs); ev.Type != control.EventVolume {
			t.Fatalf("event %d: %s", i, ev.Type)
		}
	}
	stop()
	if err := <-served; err != nil {
		t.Error(err)
	}
	if err := wait(); err != nil {
		t.Errorf("Events: %v", err)
	}
}
