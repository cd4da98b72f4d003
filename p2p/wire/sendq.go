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
	mu    sync.Mutex
	q     [numPrio][]*outMsg
	n     int
	bytes int // payload bytes not yet framed
	limit int // soft bound on bytes for pushWait and waitSpace
	wake  chan struct{}
	space chan struct{} // signalled when bytes drops below limit
}

func newSendQueue(limit int) *sendQueue {
	return &sendQueue{wake: make(chan struct{}, 1), space: make(chan struct{}, 1), limit: limit}
}

// push queues m regardless of the byte bound (small control messages).
func (s *sendQueue) push(m *outMsg) {
	s.mu.Lock()
	s.pushLocked(m)
	s.mu.Unlock()
	signal(s.wake)
}

func (s *sendQueue) pushLocked(m *outMsg) {
	m.h.Prio = m.h.Prio.clamp()
	s.q[m.h.Prio] = append(s.q[m.h.Prio], m)
	s.n++
	s.bytes += len(m.payload)
}

// pushWait queues m once fewer than limit bytes are queued, or gives up
// when done or stop closes (false; either may be nil). At most one message
// overshoots the bound.
func (s *sendQueue) pushWait(m *outMsg, done, stop <-chan struct{}) bool {
	for {
		s.mu.Lock()
		if s.bytes < s.limit {
			s.pushLocked(m)
			more := s.bytes < s.limit
			s.mu.Unlock()
			signal(s.wake)
			if more {
				signal(s.space) // let the next waiter in too
			}
			return true
		}
		s.mu.Unlock()
		select {
		case <-s.space:
		case <-done:
			return false
		case <-stop:
			return false
		}
	}
}

// waitSpace blocks while limit or more bytes are queued (false if done).
func (s *sendQueue) waitSpace(done <-chan struct{}) bool {
	for {
		s.mu.Lock()
		ok := s.bytes < s.limit
		s.mu.Unlock()
		if ok {
			signal(s.space)
			return true
		}
		select {
		case <-s.space:
		case <-done:
			return false
		}
	}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// queued returns the payload bytes not yet framed.
func (s *sendQueue) queued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bytes
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
	before := s.bytes
	defer func() {
		if before >= s.limit && s.bytes < s.limit {
			signal(s.space)
		}
	}()
	for p := range s.q {
		for len(s.q[p]) > 0 {
			m := s.q[p][0]
			s.q[p][0] = nil
			s.q[p] = s.q[p][1:]
			if m.cancelled && !m.started {
				s.n--
				s.bytes -= len(m.payload)
				m.done = true
				continue
			}
			m.started = true
			end := min(m.off+MaxFramePayload, len(m.payload))
			f.h = m.h
			f.payload = m.payload[m.off:end]
			s.bytes -= end - m.off
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
