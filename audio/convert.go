package audio

// converter maps a track's PCM to the device format: channel count (mono is
// duplicated, stereo is averaged down) and sample rate (linear
// interpolation, stateful across calls so block edges do not click). It does
// not allocate.
type converter struct {
	in, out Format
	step    float64    // input frames per output frame
	frac    float64    // position of the next output frame after prev, in input frames
	prev    [2]float32 // last input frame (device channel layout)
	primed  bool
}

func newConverter(in, out Format) converter {
	return converter{in: in, out: out, step: float64(in.SampleRate) / float64(out.SampleRate)}
}

// frame reads input frame i of src in the device's channel layout.
func (c *converter) frame(src []float32, i int) (l, r float32) {
	switch {
	case c.in.Channels == 1:
		v := src[i]
		return v, v
	case c.out.Channels == 1:
		v := (src[2*i] + src[2*i+1]) / 2
		return v, v
	default:
		return src[2*i], src[2*i+1]
	}
}

// process converts from src into dst and returns the input frames consumed
// and the output frames produced.
func (c *converter) process(src, dst []float32) (consumed, produced int) {
	inFrames := len(src) / c.in.Channels
	outCh := c.out.Channels
	maxOut := len(dst) / outCh
	if c.in.SampleRate == c.out.SampleRate {
		n := min(inFrames, maxOut)
		if c.in.Channels == outCh {
			copy(dst, src[:n*outCh])
			return n, n
		}
		for i := 0; i < n; i++ {
			l, r := c.frame(src, i)
			dst[i*outCh] = l
			if outCh == 2 {
				dst[i*outCh+1] = r
			}
		}
		return n, n
	}
	i := 0 // next input frame to load
	if !c.primed {
		if inFrames == 0 {
			return 0, 0
		}
		c.prev[0], c.prev[1] = c.frame(src, 0)
		c.primed, i, c.frac = true, 1, 0
	}
	o := 0
	for o < maxOut {
		// Output frame lies at frac between prev (input i-1) and input i.
		for c.frac >= 1 {
			if i >= inFrames {
				return i, o
			}
			c.prev[0], c.prev[1] = c.frame(src, i)
			i++
			c.frac--
		}
		if i >= inFrames {
			return i, o
		}
		nl, nr := c.frame(src, i)
		t := float32(c.frac)
		dst[o*outCh] = c.prev[0] + (nl-c.prev[0])*t
		if outCh == 2 {
			dst[o*outCh+1] = c.prev[1] + (nr-c.prev[1])*t
		}
		o++
		c.frac += c.step
	}
	return i, o
}
