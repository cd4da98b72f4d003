// Package board drives a speaker's front panel and output stage through
// periph.io: three debounced buttons with long press, a quadrature rotary
// encoder for volume, a status LED, an amplifier-enable pin and a TI PCM5122
// DAC with hardware volume and mute over I2C; board profiles that name the
// pins; and a fake board for machines without pins.
//
// # Ownership
//
// Drivers take periph interfaces (gpio.PinIn, gpio.PinOut, i2c.Bus) and never
// own them. Only firmware calls host.Init and opens pins and buses by name;
// Open receives those registries as a Host so the diagnosis of a bad setup
// (unknown pin, not in group gpio or i2c, no /dev/i2c-1) is tested here with
// fakes. A Board's Close runs Options.Release, which is how firmware hands
// back the bus it opened.
//
// # One actor, pure state machines
//
// New configures the pins and starts nothing. Run starts one watcher per
// input pin, which does nothing but block in WaitForEdge (with a bounded
// timeout, so cancellation is noticed) and forward "pin i moved" to the
// actor. The actor is the only goroutine that holds state: per-button
// debouncers, the quadrature decoder, the LED pattern, the amplifier state.
// Those are plain state machines fed with times and levels (debouncer,
// quadDecoder, ledPattern) and are table-tested on their own. Every timed
// thing is a deadline; the actor arms a single Clock timer for the earliest
// one and, on waking, handles every deadline due in order at its own time.
// With a ManualClock this makes tests exact and sleep-free: advancing the
// clock by a second replays what a second would have done. Debounce samples
// the pin once the edges have been quiet for the debounce time, so any
// bounce pattern collapses to one transition; a long press is reported while
// still held, and its release is silent.
//
// # Pop-free power
//
// The amplifier comes on (DAC taken out of standby first) while the DAC is
// muted, and the DAC unmutes only after the amplifier's settle time; going
// idle mutes the DAC, waits for its soft-mute ramp, and only then switches
// the amplifier off and puts the DAC in standby. Close does the same
// (waiting the mute ramp in real time, since the loops have stopped).
// Volume is separate from that mute: Volume writes the PCM5122 digital
// volume registers (0.5 dB steps) along a dB-linear VolumeCurve, and a board
// without a DAC has no Volume, telling the consumer to scale in software
// with the same curve's Gain.
//
// # Events
//
// Events is a buffered channel of Button and VolumeDelta; a consumer that
// falls behind loses events (counted by Dropped) rather than stalling the
// panel. Firmware maps them to player commands (e.g. long play-pause =
// stop, long next = skip album).
//
// Imports: the standard library and periph.io/x/conn (gpio, i2c, gpiotest and
// i2ctest for the fake board). Never periph.io/x/host (firmware's job),
// audio, p2p or cache.
package board
