package audio

import (
	"errors"
	"fmt"

	"github.com/jfreymuth/vorbis"
)

// DecodeMode says what the player does with a track's audio packets.
type DecodeMode int

const (
	// DecodeFull runs the Vorbis decoder: the speaker plays the music. The
	// zero value.
	DecodeFull DecodeMode = iota
	// DecodeBitrate skips Vorbis synthesis and plays silence of the exact
	// length the decoder would have produced, so the track's bytes are read
	// at its bitrate through the same fetcher, ring and device clock at a
	// fraction of the CPU. For benchmarks that run hundreds of speakers on
	// one machine; never for listening.
	DecodeBitrate
)

// ParseDecodeMode parses "full" or "bitrate" (the config key
// [audio] decode).
func ParseDecodeMode(s string) (DecodeMode, error) {
	switch s {
	case "full":
		return DecodeFull, nil
	case "bitrate":
		return DecodeBitrate, nil
	}
	return DecodeFull, fmt.Errorf("%w: decode mode %q (want \"full\" or \"bitrate\")", ErrConfig, s)
}

func (m DecodeMode) String() string {
	switch m {
	case DecodeFull:
		return "full"
	case DecodeBitrate:
		return "bitrate"
	}
	return fmt.Sprintf("decode(%d)", int(m))
}

// MarshalText writes the mode's name, so configuration encoders and JSON
// show "full" or "bitrate".
func (m DecodeMode) MarshalText() ([]byte, error) {
	if m != DecodeFull && m != DecodeBitrate {
		return nil, fmt.Errorf("%w: decode mode %d", ErrConfig, int(m))
	}
	return []byte(m.String()), nil
}

// UnmarshalText parses a mode with ParseDecodeMode, so a TOML or JSON
// decoder can fill a DecodeMode field directly.
func (m *DecodeMode) UnmarshalText(b []byte) error {
	v, err := ParseDecodeMode(string(b))
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// synthesizer is the one step of the pipeline that DecodeFull and
// DecodeBitrate do differently: turning a Vorbis packet into samples.
// pcmStage owns everything around it (header checks, granule rules, seeks).
type synthesizer interface {
	// header reads header packet n (0, 1, 2) after pcmStage checked it; f
	// is the format from the identification header.
	header(n int, p []byte, f Format) error
	// bufferSize is the scratch size (samples) decode needs, after the
	// headers.
	bufferSize() int
	// decode returns the packet's interleaved samples, a slice of buf or of
	// memory the synthesizer owns, valid until the next call.
	decode(p []byte, buf []float32) ([]float32, error)
	// clear forgets the previous packet (before non-consecutive packets).
	clear()
}

var (
	_ synthesizer = (*vorbisSynth)(nil)
	_ synthesizer = (*silentSynth)(nil)
)

func newSynthesizer(m DecodeMode) synthesizer {
	if m == DecodeBitrate {
		return &silentSynth{}
	}
	return &vorbisSynth{}
}

// vorbisSynth runs the third-party decoder and turns its panics into errors.
type vorbisSynth struct {
	vd vorbis.Decoder
}

func (v *vorbisSynth) header(n int, p []byte, f Format) error {
	if err := safely("reading a header", func() error { return v.vd.ReadHeader(p) }); err != nil {
		if errors.Is(err, ErrCorrupt) {
			return err
		}
		return fmt.Errorf("%w: header %d: %v", ErrCorrupt, n+1, err)
	}
	if n == 2 && (v.vd.SampleRate() != f.SampleRate || v.vd.Channels() != f.Channels) {
		return fmt.Errorf("%w: header format disagrees with decoder", ErrCorrupt)
	}
	return nil
}

func (v *vorbisSynth) bufferSize() int { return v.vd.BufferSize() }

func (v *vorbisSynth) decode(p []byte, buf []float32) ([]float32, error) {
	var dec []float32
	err := safely("decoding a packet", func() error {
		var e error
		dec, e = v.vd.DecodeInto(p, buf)
		return e
	})
	return dec, err
}

func (v *vorbisSynth) clear() { v.vd.Clear() }

// silentSynth is DecodeBitrate's synthesizer: it reads only the first bits
// of each audio packet (packet type, mode, and for a long block the
// previous-window flag) and returns zeros in the number of frames the
// decoder would return for it, by the Vorbis I specification's overlap
// rule (section 1.3.2) as jfreymuth/vorbis applies it: nothing for the
// first packet after a reset, then a quarter of the previous block plus a
// quarter of the current one. So a track's silent frames line up with its
// real ones frame for frame, and pcmStage's granule rules (start offset,
// end trim, seek) apply unchanged.
type silentSynth struct {
	ch        int
	block     [2]int  // short and long block sizes
	modes     []uint8 // block flag per mode
	modeBits  uint
	zeros     []float32 // one packet of silence, never written
	overlap   bool      // a previous packet's right half is pending
	prevShort bool      // that packet was a short block
}

func (s *silentSynth) header(n int, p []byte, f Format) error {
	switch n {
	case 0:
		// checkIdentification accepted p: 30 bytes at least, sizes in range.
		s.ch = f.Channels
		s.block = [2]int{1 << (p[28] & 0x0f), 1 << (p[28] >> 4)}
	case 1:
		if len(p) < 7 || p[0] != 3 || string(p[1:7]) != "vorbis" {
			return fmt.Errorf("%w: second packet is not a Vorbis comment header", ErrCorrupt)
		}
	case 2:
		modes, err := setupModes(p, s.ch)
		if err != nil {
			return err
		}
		s.modes = modes
		s.modeBits = ilog(uint32(len(modes) - 1))
		s.zeros = make([]float32, s.block[1]/2*s.ch)
	}
	return nil
}

func (s *silentSynth) bufferSize() int { return 0 }

func (s *silentSynth) decode(p []byte, _ []float32) ([]float32, error) {
	r := bits{b: p}
	if r.get(1) != 0 {
		return nil, fmt.Errorf("%w: audio packet has the header type bit set", ErrCorrupt)
	}
	mode := r.get(s.modeBits)
	if int(mode) >= len(s.modes) {
		return nil, fmt.Errorf("%w: audio packet mode %d of %d", ErrCorrupt, mode, len(s.modes))
	}
	long := s.modes[mode] == 1
	size := s.block[s.modes[mode]]
	n := 0
	if s.overlap {
		n = size / 2
		offset := s.block[1]/4 - s.block[0]/4
		switch {
		case long && r.get(1) == 0: // previous window short
			n -= offset
		case !long && !s.prevShort:
			n += offset
		}
	}
	s.overlap, s.prevShort = true, !long
	return s.zeros[:n*s.ch], nil
}

func (s *silentSynth) clear() { s.overlap = false }
