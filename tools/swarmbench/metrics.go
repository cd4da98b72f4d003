package swarmbench

import (
	"math"
	"sort"
	"strconv"
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
	mLatBucket    = "starling_playback_latency_seconds_bucket"
	mLatencySum   = "starling_playback_latency_seconds_sum"
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
			strings.HasPrefix(k, "starling_playback_latency_seconds") {
			out[k] = v
		}
	}
	return out
}

type bucket struct {
	le    float64 // upper bound, seconds
	count float64 // cumulative
}

// buckets extracts the latency histogram's cumulative buckets, sorted.
func (a counters) buckets() []bucket {
	var bs []bucket
	for k, v := range a {
		if !strings.HasPrefix(k, mLatBucket+"{") {
			continue
		}
		i := strings.Index(k, `le="`)
		if i < 0 {
			continue
		}
		rest := k[i+4:]
		j := strings.IndexByte(rest, '"')
		if j < 0 {
			continue
		}
		le, err := strconv.ParseFloat(rest[:j], 64) // "+Inf" parses as +Inf
		if err != nil {
			continue
		}
		bs = append(bs, bucket{le: le, count: v})
	}
	sort.Slice(bs, func(i, j int) bool { return bs[i].le < bs[j].le })
	return bs
}

// quantile estimates the q-quantile (0..1) in seconds from cumulative
// buckets by linear interpolation inside the bucket, as Prometheus's
// histogram_quantile does; NaN without observations. A quantile in the
// +Inf bucket returns the largest finite bound.
func quantile(bs []bucket, q float64) float64 {
	if len(bs) == 0 {
		return math.NaN()
	}
	total := bs[len(bs)-1].count
	if total <= 0 {
		return math.NaN()
	}
	rank := q * total
	prevLe, prevCount := 0.0, 0.0
	for _, b := range bs {
		if b.count >= rank {
			if math.IsInf(b.le, 1) {
				return prevLe
			}
			if b.count == prevCount {
				return b.le
			}
			return prevLe + (b.le-prevLe)*(rank-prevCount)/(b.count-prevCount)
		}
		prevLe, prevCount = b.le, b.count
	}
	return prevLe
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
