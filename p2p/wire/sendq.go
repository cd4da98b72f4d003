package wire

import "sync"

// outMsg is one outgoing message being cut into frames.
type outMsg struct {
	h       Header // Type, Flags (without More), Prio, ID
	payload []byte
	off     int  // bytes already framed
	started bool // at least one frame taken
	done    bool // last frame taken
	// cancelled: the requester gave up; if started, a Cancel frame follows
	// the last fragment, otherwise the message is dropped unsent.
	cancelled bool
	// after runs in the writer once the last frame has been written and
	// flushed (used by GoAway to close after the frame left).
	after func()
}

// sendQueue holds outgoing messages in one FIFO per priority. pop takes a
// single frame from the most urgent non-empty queue and puts a message with
// more to send back at the tail of its queue, so equal priorities share the
// link round-robin and urgent messages overtake large ones within a frame.
type sendQueue struct {
	mu   sync.Mutex
	q    [numPrio][]*outMsg
	n    int
	wake chan struct{}
}

func newSendQueue() *sendQueue { return &sendQueue{wake: make(chan struct{}, 1)} }

func (s *sendQueue) push(m *outMsg) {
	m.h.Prio = m.h.Prio.clamp()
	s.mu.Lock()
	s.q[m.h.Prio] = append(s.q[m.h.Prio], m)
	s.n++
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// frame is one frame popped from the queue.
type frame struct {
	h       Header
	payload []byte
	last    *outMsg // set when this frame completes a message
}

// pop returns the next frame to write, or ok=false if the queue is empty.
func (s *sendQueue) pop() (f frame, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for p := range s.q {
		for len(s.q[p]) > 0 {
			m := s.q[p][0]
			s.q[p][0] = nil
			s.q[p] = s.q[p][1:]
			if m.cancelled && !m.started {
				s.n--
				m.done = true
				continue
			}
			m.started = true
			end := min(m.off+MaxFramePayload, len(m.payload))
			f.h = m.h
			f.payload = m.payload[m.off:end]
			m.off = end
			if end < len(m.payload) {
				f.h.Flags |= FlagMore
				s.q[p] = append(s.q[p], m)
			} else {
				m.done = true
				s.n--
				f.last = m
			}
			if len(s.q[p]) == 0 {
				s.q[p] = nil // let the backing array go
			}
			return f, true
		}
	}
	return frame{}, false
}

// cancel marks m cancelled. It reports whether the other side may already
// have seen part of it (and so needs a Cancel frame): true if started.
func (s *sendQueue) cancel(m *outMsg) (started bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m.cancelled = true
	return m.started
}

func (s *sendQueue) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}
