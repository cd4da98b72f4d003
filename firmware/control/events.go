package control

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// Limits of the event stream decoder (bytes from the network).
const (
	maxSSELine      = 64 << 10
	maxSSEEventData = 256 << 10
	maxEventType    = 64
)

// validEventType reports whether typ is safe to put on an SSE "event:" line
// and sensible as a type name: 1 to 64 of [a-z0-9._-].
func validEventType(typ string) bool {
	if len(typ) == 0 || len(typ) > maxEventType {
		return false
	}
	for i := 0; i < len(typ); i++ {
		c := typ[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// encodeSSE frames one event. The data line is the JSON encoding of the
// whole Event, which json.Marshal keeps on one line.
func encodeSSE(id uint64, ev Event) ([]byte, error) {
	if !validEventType(ev.Type) {
		return nil, fmt.Errorf("event type %q: want 1 to 64 of [a-z0-9._-]", ev.Type)
	}
	data, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("encoding %s event: %w", ev.Type, err)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "id: %d\nevent: %s\ndata: %s\n\n", id, ev.Type, data)
	return b.Bytes(), nil
}

func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	select {
	case s.streams <- struct{}{}:
	default:
		writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("too many event streams (at most %d); close one and retry", s.cfg.MaxStreams))
		return
	}
	ctx := r.Context()
	ch, cancel := s.player.Subscribe(ctx)
	// Free the stream slot before ending the subscription, so that a client
	// that sees its stream end can open a new one at once.
	defer func() {
		<-s.streams
		cancel()
	}()
	st, err := s.player.Status(ctx)
	if err != nil {
		s.playerError(w, r, "events", err)
		return
	}
	if st.Version == "" {
		st.Version = s.cfg.Version
	}
	first, err := NewEvent(EventStatus, time.Now(), st)
	if err != nil {
		s.playerError(w, r, "events", err)
		return
	}

	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)

	var id uint64
	// write sends b with its own deadline: the server's WriteTimeout would
	// otherwise cut every stream after a fixed time.
	write := func(b []byte) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	send := func(ev Event) bool {
		id++
		b, err := encodeSSE(id, ev)
		if err != nil {
			s.log.Debug("dropping event that cannot be sent", "err", err)
			return true
		}
		return write(b)
	}
	s.log.Debug("event stream opened", "remote", r.RemoteAddr)
	defer s.log.Debug("event stream closed", "remote", r.RemoteAddr)
	if !send(first) {
		return
	}
	keepAlive := time.NewTicker(s.cfg.KeepAlive)
	defer keepAlive.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.quit:
			return
		case ev, ok := <-ch:
			if !ok {
				return
			}
			if !send(ev) {
				return
			}
		case <-keepAlive.C:
			if !write([]byte(": keep-alive\n\n")) {
				return
			}
		}
	}
}

// ErrStreamFormat reports a malformed event stream.
var ErrStreamFormat = errors.New("control: malformed event stream")

// sseDecoder reads server-sent events with bounded memory.
type sseDecoder struct {
	r *bufio.Reader
}

func newSSEDecoder(r io.Reader) *sseDecoder {
	return &sseDecoder{r: bufio.NewReaderSize(r, 4096)}
}

// readLine returns one line without its terminator (LF, CRLF or CR-less),
// refusing lines longer than maxSSELine.
func (d *sseDecoder) readLine() ([]byte, error) {
	var line []byte
	for {
		frag, err := d.r.ReadSlice('\n')
		if len(line)+len(frag) > maxSSELine+2 {
			return nil, fmt.Errorf("%w: line longer than %d bytes", ErrStreamFormat, maxSSELine)
		}
		line = append(line, frag...)
		if err == nil {
			break
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if errors.Is(err, io.EOF) && len(line) > 0 {
			// A final line without a newline is discarded per the SSE
			// spec (an incomplete event); report the end of stream.
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	line = bytes.TrimSuffix(line, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	return line, nil
}

// next returns the next event, skipping comments and events whose data is
// not an Event. It returns io.EOF at a clean end of stream.
func (d *sseDecoder) next() (Event, uint64, error) {
	var (
		typ  string
		data []byte
		id   uint64
		seen bool
	)
	for {
		line, err := d.readLine()
		if err != nil {
			return Event{}, 0, err
		}
		if len(line) == 0 {
			if !seen {
				continue
			}
			ev, ok, err := parseEventData(typ, data)
			if err != nil {
				return Event{}, 0, err
			}
			if ok {
				return ev, id, nil
			}
			typ, data, id, seen = "", nil, 0, false
			continue
		}
		if line[0] == ':' {
			continue // comment (keep-alive)
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		switch string(field) {
		case "event":
			typ = string(value)
			seen = true
		case "data":
			if len(data)+len(value)+1 > maxSSEEventData {
				return Event{}, 0, fmt.Errorf("%w: event data larger than %d bytes", ErrStreamFormat, maxSSEEventData)
			}
			if data != nil {
				data = append(data, '\n')
			}
			data = append(data, value...)
			if data == nil {
				data = []byte{}
			}
			seen = true
		case "id":
			if n, err := strconv.ParseUint(string(value), 10, 64); err == nil {
				id = n
			}
			seen = true
		default:
			// "retry" and unknown fields are ignored, as the spec says.
		}
	}
}

// parseEventData turns one SSE event into an Event. ok is false for an
// event without data (nothing to deliver).
func parseEventData(typ string, data []byte) (Event, bool, error) {
	if len(data) == 0 {
		return Event{}, false, nil
	}
	var ev Event
	if err := json.Unmarshal(data, &ev); err != nil {
		return Event{}, false, fmt.Errorf("%w: event data is not JSON: %v", ErrStreamFormat, err)
	}
	if ev.Type == "" {
		ev.Type = typ
	}
	if !validEventType(ev.Type) {
		return Event{}, false, fmt.Errorf("%w: event type %q", ErrStreamFormat, ev.Type)
	}
	return ev, true, nil
}
