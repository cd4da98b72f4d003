// Package board drives a speaker's hardware through periph.io: debounced
// buttons, a rotary encoder for volume, a status LED, an amplifier-enable pin
// and an I2C DAC (TI PCM5122) with hardware volume and mute; board profiles
// that name the pins; and a fake board for machines without pins.
//
// Drivers take periph interfaces (gpio.PinIn, gpio.PinOut, gpio.PinIO,
// i2c.Bus) and never own them: only firmware calls host.Init, opens buses
// and pins by name, and closes them.
//
// Imports: the standard library and periph.io. Never audio, p2p or cache.
package board
