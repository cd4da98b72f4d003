package firmware

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/starling-audio/starling/audio"
	"github.com/starling-audio/starling/cache"
	"github.com/starling-audio/starling/p2p/stream"
)

// metrics is the daemon's Prometheus registry (its own, never the global
// one). Counters the components already keep are read at scrape time;
// only the latency histogram is fed from player events.
type metrics struct {
	reg     *prometheus.Registry
	latency prometheus.Histogram
	stutter prometheus.Counter
}

// metricSources are read at scrape time; any may be nil.
type metricSources struct {
	player     *audio.Player
	streamer   *stream.Streamer
	cache      *cache.Cache
	neighbours func() int
	uploaded   func() int64
	loggedIn   func() bool
}

func newMetrics(src metricSources) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.latency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "starling_playback_latency_seconds",
		Help:    "Time from a play command to the first audio frame handed to the device.",
		Buckets: []float64{.005, .01, .02, .03, .05, .075, .1, .15, .2, .265, .35, .5, .75, 1, 2, 5},
	})
	m.stutter = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "starling_stutters_total", Help: "Underruns while playing (the device ran dry).",
	})
	m.reg.MustRegister(m.latency, m.stutter)

	if s := src.streamer; s != nil {
		for _, src := range []struct {
			name string
			get  func(stream.Stats) int64
		}{
			{"origin", func(st stream.Stats) int64 { return st.BytesOrigin }},
			{"peers", func(st stream.Stats) int64 { return st.BytesPeers }},
			{"cache", func(st stream.Stats) int64 { return st.BytesCache }},
		} {
			m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "starling_stream_bytes_total", Help: "Verified track bytes by source.",
				ConstLabels: prometheus.Labels{"source": src.name},
			}, func() float64 { return float64(src.get(s.Stats())) }))
		}
		for r := range stream.NumOriginReasons {
			m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "starling_stream_origin_bytes_total", Help: "Verified bytes from the origin by why it was asked (head, start, low, urgent, no_peers, prefetch).",
				ConstLabels: prometheus.Labels{"reason": r.String()},
			}, func() float64 { return float64(s.Stats().OriginBy[r]) }))
		}
		m.reg.MustRegister(
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "starling_stream_rerequests_total", Help: "Chunk requests sent again after a slow, failed or bad source."},
				func() float64 { return float64(s.Stats().ReRequests) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "starling_stream_hash_failures_total", Help: "Chunks that failed verification."},
				func() float64 { return float64(s.Stats().HashFailures) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "starling_upload_pauses_total", Help: "Times uploading stopped for a very low buffer."},
				func() float64 { return float64(s.Stats().UploadPauses) }),
		)
	}
	if p := src.player; p != nil {
		stats := func() audio.Stats {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			st, _ := p.Stats(ctx)
			return st
		}
		m.reg.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "starling_audio_buffer_seconds", Help: "Decoded audio in the ring ahead of the device."},
				func() float64 { return stats().Buffered.Seconds() }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "starling_tracks_played_total", Help: "Tracks played to the end."},
				func() float64 { return float64(stats().TracksPlayed) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "starling_tracks_failed_total", Help: "Tracks that ended with an error."},
				func() float64 { return float64(stats().TracksFailed) }),
		)
	}
	if c := src.cache; c != nil {
		m.reg.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "starling_cache_disk_bytes", Help: "Bytes the cache's files take on disk."},
				func() float64 { return float64(c.Stats().DiskBytes) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "starling_cache_capacity_bytes", Help: "The cache's bound on disk bytes."},
				func() float64 { return float64(c.Stats().CapacityBytes) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "starling_cache_complete_tracks", Help: "Complete, verified tracks in the cache."},
				func() float64 { return float64(c.Stats().CompleteTracks) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "starling_cache_evictions_total", Help: "Tracks evicted from the cache."},
				func() float64 { return float64(c.Stats().Evictions) }),
		)
	}
	if f := src.neighbours; f != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "starling_neighbours", Help: "Connected overlay neighbours."},
			func() float64 { return float64(f()) }))
	}
	if f := src.uploaded; f != nil {
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "starling_upload_bytes_total", Help: "Chunk bytes served to peers."},
			func() float64 { return float64(f()) }))
	}
	if f := src.loggedIn; f != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "starling_logged_in", Help: "1 while the session to the service is up."},
			func() float64 {
				if f() {
					return 1
				}
				return 0
			}))
	}
	return m
}

// observe feeds the histogram and stutter counter from a player event.
func (m *metrics) observe(e audio.Event) {
	switch e.Kind {
	case audio.EventStarted:
		if e.Latency > 0 {
			m.latency.Observe(e.Latency.Seconds())
		}
	case audio.EventUnderrun:
		m.stutter.Inc()
	}
}
