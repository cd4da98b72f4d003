package audio

import (
	"errors"
	"fmt"
	"io"
	"time"
)

// maxHoldSamples bounds the audio held back while the first granule position
// of a stream (or after a seek) is unknown: one Ogg page of audio.
const maxHoldSamples = 1 << 20

// pcmStage turns Vorbis packets into interleaved float32 PCM. It checks the
// headers, applies the Ogg granule rules (trim the start and the end of the
// stream, skip to a seek target) and leaves the packet-to-samples step to a
// synthesizer chosen by mode: the Vorbis decoder (DecodeFull) or silence of
// the same length (DecodeBitrate). It never reads bytes itself: packets come
// from a demuxer in the same goroutine (Decoder) or from a fetcher goroutine
// (Player).
type pcmStage struct {
	mode    DecodeMode  // set before the first feed
	syn     synthesizer // made at the first feed
	format  Format
	headers int
	scratch []float32 // one packet of output

	out []float32 // decoded samples not yet handed out (slice of scratch or hold)

	holding bool      // granule of the first page not seen yet: keep output in hold
	hold    []float32 // samples decoded while holding
	pos     int64     // granule position (frames) just after the samples in out
	skipTo  int64     // drop frames before this position
	eos     bool
}

// safely runs f and turns a panic into ErrCorrupt.
func safely(what string, f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: vorbis decoder panicked %s: %v", ErrCorrupt, what, r)
		}
	}()
	return f()
}

// feed consumes one packet. After it returns, out may hold samples.
func (s *pcmStage) feed(p packet) error {
	if s.headers < 3 {
		if s.syn == nil {
			s.syn = newSynthesizer(s.mode)
		}
		switch s.headers {
		case 0:
			f, err := checkIdentification(p.data)
			if err != nil {
				return err
			}
			s.format = f
		case 2:
			if err := checkSetup(p.data); err != nil {
				return err
			}
		}
		if err := s.syn.header(s.headers, p.data, s.format); err != nil {
			return err
		}
		s.headers++
		if s.headers == 3 {
			s.scratch = make([]float32, s.syn.bufferSize())
			s.holding = true
		}
		return nil
	}
	if len(p.data) == 0 {
		return nil // empty packets carry no audio
	}
	dec, err := s.syn.decode(p.data, s.scratch)
	if err != nil {
		if errors.Is(err, ErrCorrupt) {
			return err
		}
		return fmt.Errorf("%w: audio packet: %v", ErrCorrupt, err)
	}
	ch := s.format.Channels
	if len(dec)%ch != 0 {
		return fmt.Errorf("%w: decoder returned a partial frame", ErrCorrupt)
	}
	if s.holding {
		if len(s.hold)+len(dec) > maxHoldSamples {
			return fmt.Errorf("%w: no granule position in the first %d samples", ErrCorrupt, maxHoldSamples)
		}
		s.hold = append(s.hold, dec...)
		if p.granule < 0 {
			return nil
		}
		s.holding = false
		held := int64(len(s.hold) / ch)
		if p.eos {
			// A stream of one audio page: the granule is its length.
			s.pos = held
			if held > p.granule && p.granule >= 0 {
				s.hold = s.hold[:p.granule*int64(ch)]
				s.pos = p.granule
			}
		} else {
			start := p.granule - held
			if start < 0 { // the spec's start trim: drop the excess at the front
				s.hold = s.hold[-start*int64(ch):]
				start = 0
			}
			s.pos = p.granule
			_ = start
		}
		s.out = s.hold
		s.applySkip()
		s.eos = p.eos
		return nil
	}
	s.out = dec
	s.pos += int64(len(dec) / ch)
	if p.eos && p.granule >= 0 && s.pos > p.granule {
		cut := min(s.pos-p.granule, int64(len(dec)/ch))
		s.out = dec[:len(dec)-int(cut)*ch]
		s.pos -= cut
	}
	s.applySkip()
	s.eos = p.eos
	return nil
}

// applySkip drops frames of out that lie before skipTo.
func (s *pcmStage) applySkip() {
	ch := s.format.Channels
	first := s.pos - int64(len(s.out)/ch)
	if s.skipTo > first {
		drop := min(s.skipTo-first, int64(len(s.out)/ch))
		s.out = s.out[drop*int64(ch):]
	}
}

// reset prepares for packets starting at a page chosen by demuxer.seekPage,
// dropping everything before frame target.
func (s *pcmStage) reset(target int64) {
	if s.syn != nil {
		s.syn.clear()
	}
	s.out = nil
	s.hold = s.hold[:0]
	s.holding = true
	s.skipTo = target
	s.eos = false
}

// take copies up to len(p)/channels frames of decoded audio into p.
func (s *pcmStage) take(p []float32) int {
	n := copy(p, s.out)
	n -= n % s.format.Channels
	s.out = s.out[n:]
	return n / s.format.Channels
}

// position is the granule (frame) position of the next frame take returns.
func (s *pcmStage) position() int64 {
	if s.format.Channels == 0 {
		return 0
	}
	return s.pos - int64(len(s.out)/s.format.Channels)
}

// Decoder decodes an Ogg Vorbis byte stream synchronously in the caller's
// goroutine. The Player uses the same stages split over two goroutines.
type Decoder struct {
	dmx *demuxer
	pcm pcmStage
	err error
}

// NewDecoder reads the three Vorbis headers from r and returns a decoder
// positioned at the first frame. If r implements io.Seeker, SeekFrame and
// SeekTime work; the stream is never read ahead of need otherwise.
func NewDecoder(r io.Reader) (*Decoder, error) {
	return newDecoder(r, DecodeFull)
}

// newDecoder is NewDecoder in either mode (DecodeBitrate: silence of the
// decoded length, for tests and fuzzing of that path).
func newDecoder(r io.Reader, mode DecodeMode) (*Decoder, error) {
	d := &Decoder{dmx: newDemuxer(r), pcm: pcmStage{mode: mode}}
	for d.pcm.headers < 3 {
		p, err := d.dmx.nextPacket()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = fmt.Errorf("%w: stream ended inside the headers", ErrTruncated)
			}
			return nil, fmt.Errorf("reading vorbis headers: %w", err)
		}
		if err := d.pcm.feed(p); err != nil {
			return nil, fmt.Errorf("reading vorbis headers: %w", err)
		}
	}
	return d, nil
}

// Format is the stream's sample rate and channel count.
func (d *Decoder) Format() Format { return d.pcm.format }

// Position is the frame index of the next frame Decode returns.
func (d *Decoder) Position() int64 { return d.pcm.position() }

// Decode fills p with interleaved float32 samples in [-1, 1] and returns the
// number of whole frames written. At the end of the stream it returns 0 and
// io.EOF; a corrupt or truncated stream returns an error wrapping ErrCorrupt
// or ErrTruncated (frames decoded before the damage are still returned
// first). Steady-state decoding does not allocate.
func (d *Decoder) Decode(p []float32) (int, error) {
	ch := d.pcm.format.Channels
	for {
		if len(d.pcm.out) > 0 {
			n := d.pcm.take(p)
			clampSamples(p[:n*ch])
			return n, nil
		}
		if d.err != nil {
			return 0, d.err
		}
		if d.pcm.eos {
			d.err = io.EOF
			continue
		}
		pk, err := d.dmx.nextPacket()
		if err != nil {
			if errors.Is(err, io.EOF) {
				d.err = io.EOF
			} else {
				d.err = fmt.Errorf("decoding ogg vorbis: %w", err)
			}
			continue
		}
		if err := d.pcm.feed(pk); err != nil {
			d.err = fmt.Errorf("decoding ogg vorbis: %w", err)
		}
	}
}

// SeekFrame positions the decoder so the next Decode starts at frame. It needs
// the source to implement io.Seeker. Seeking past the end leaves the decoder
// at the end.
func (d *Decoder) SeekFrame(frame int64) error {
	if frame < 0 {
		frame = 0
	}
	if err := d.dmx.seekPage(frame); err != nil {
		return fmt.Errorf("seeking to frame %d: %w", frame, err)
	}
	d.pcm.reset(frame)
	d.err = nil
	return nil
}

// SeekTime seeks to a time offset from the start of the track.
func (d *Decoder) SeekTime(t time.Duration) error {
	return d.SeekFrame(int64(t / time.Microsecond * time.Duration(d.pcm.format.SampleRate) / 1e6))
}

// clampSamples bounds samples to [-1, 1] and turns NaN into silence, so a
// decoder bug can never send a burst of full-scale noise to the amplifier.
func clampSamples(p []float32) {
	for i, v := range p {
		switch {
		case v > 1:
			p[i] = 1
		case v < -1:
			p[i] = -1
		case v != v:
			p[i] = 0
		}
	}
}
