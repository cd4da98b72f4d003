//go:build unix

package audio

import (
	"syscall"
	"testing"
	"time"

	"github.com/starling-audio/starling/tools/fixtures"
)

// cpuTime is the process's user+system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkDecodeMode plays the 12 s chord fixture through the whole player
// (fetcher, demuxer, synthesizer, converter, ring, callback) on a
// VirtualOutput as fast as it fills, in each decode mode, and reports the
// process CPU time per second of audio played (all goroutines; the cost a
// speaker adds to a fleet benchmark's machine). The ratio of the two
// cpu-ms/audio-s figures is what bitrate mode saves.
func BenchmarkDecodeMode(b *testing.B) {
	data, err := fixtures.Read(fixtures.Chord44kStereo)
	if err != nil {
		b.Fatal(err)
	}
	for _, m := range []DecodeMode{DecodeFull, DecodeBitrate} {
		b.Run(m.String(), func(b *testing.B) {
			var frames uint64
			b.ReportAllocs()
			cpu0 := cpuTime(b)
			for b.Loop() {
				frames += playThrough(b, PlayerConfig{Decode: m}, data)
			}
			cpu := cpuTime(b) - cpu0
			audio := float64(frames) / 44100
			b.ReportMetric(cpu.Seconds()*1e3/audio, "cpu-ms/audio-s")
			b.ReportMetric(audio/b.Elapsed().Seconds(), "x-realtime")
		})
	}
}
