package swarmbench

import (
	"strings"
)

// Metric names read from the daemons (firmware/metrics.go).
const (
	mOrigin   = `starling_stream_bytes_total{source="origin"}`
	mPeers    = `starling_stream_bytes_total{source="peers"}`
	mCache    = `starling_stream_bytes_total{source="cache"}`
	mStutters = "starling_stutters_total"
	// mOriginReason{reason="..."}: origin bytes by why they were asked.
	mOriginReason = "starling_stream_origin_bytes_total"
	mPlayed       = "starling_tracks_played_total"
	mLatCount     = "starling_playback_latency_seconds_count"
)

// counters is a set of monotone counters scraped from one daemon process
// (they restart at zero when the process does).
type counters map[string]float64

// add returns a+b over every key.
func (a counters) add(b counters) counters {
	out := counters{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] += v
	}
	return out
}

// keep drops the metrics the benchmark does not use (gauges such as the
// buffer level must not be summed across restarts).
func keep(m map[string]float64) counters {
	out := counters{}
	for k, v := range m {
		if strings.HasPrefix(k, "starling_stream_bytes_total{") || strings.HasPrefix(k, mOriginReason+"{") || k == mStutters || k == mPlayed ||
			k == mLatCount {
			out[k] = v
		}
	}
	return out
}

// originByReason sums the origin bytes by reason label ("head", "start", ...).
func (a counters) originByReason() map[string]int64 {
	out := map[string]int64{}
	for k, v := range a {
		rest, ok := strings.CutPrefix(k, mOriginReason+`{reason="`)
		if !ok {
			continue
		}
		if r, _, ok := strings.Cut(rest, `"`); ok {
			out[r] += int64(v)
		}
	}
	return out
}
