package server

import (
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	sessions  prometheus.Gauge
	logins    *prometheus.CounterVec
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	pushes    prometheus.Counter
	rejected  *prometheus.CounterVec
	certsIssd prometheus.Counter
}

func newMetrics(reg *prometheus.Registry, tracker *Tracker) *metrics {
	m := &metrics{
		sessions: prometheus.NewGauge(prometheus.GaugeOpts{Name: "starling_server_sessions", Help: "Live speaker sessions."}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "starling_server_logins_total",
			Help: "Login attempts by result."}, []string{"result"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "starling_server_requests_total",
			Help: "Session requests by type and result code."}, []string{"type", "result"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "starling_server_request_seconds",
			Help: "Session request handling time.", Buckets: prometheus.ExponentialBuckets(0.00005, 4, 10)}, []string{"type"}),
		pushes: prometheus.NewCounter(prometheus.CounterOpts{Name: "starling_server_pushes_total", Help: "Pushes queued to sessions."}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "starling_server_connections_rejected_total",
			Help: "Connections closed before a session started, by reason."}, []string{"reason"}),
		certsIssd: prometheus.NewCounter(prometheus.CounterOpts{Name: "starling_server_device_certs_issued_total", Help: "Device certificates signed."}),
	}
	reg.MustRegister(m.sessions, m.logins, m.requests, m.latency, m.pushes, m.rejected, m.certsIssd,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "starling_server_tracker_tracks", Help: "Tracks with announcers in the tracker."},
			func() float64 { return float64(tracker.Tracks()) }))
	return m
}
