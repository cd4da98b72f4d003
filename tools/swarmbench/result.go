package swarmbench

import (
	"fmt"
	"io"
	"math"
	"text/tabwriter"
	"time"
)

// Result is the JSON summary of a run. Keys follow issue 9.
type Result struct {
	Mode      Mode        `json:"mode"`
	Speakers  int         `json:"speakers"`
	Tracks    int         `json:"tracks"`
	Plays     int         `json:"plays"`
	Completed int         `json:"plays_completed"` // tracks played to the end (daemon counter)
	Skips     int         `json:"skips"`
	Latency   Percentiles `json:"latency_ms"`
	LatencyN  int         `json:"latency_observations"`
	Stutter   float64     `json:"stutter_pct"`
	Underruns int         `json:"underruns"`
	Bytes     Bytes       `json:"bytes"`
	OriginNet float64     `json:"origin_share_network_pct"`
	OriginAll float64     `json:"origin_share_all_pct"`
	// OriginNetSecondHalf is the origin's share of network bytes over the
	// second half of the run (warm caches).
	OriginNetSecondHalf float64 `json:"origin_share_network_second_half_pct"`
	PeakAnon            float64 `json:"peak_anon_mb"`
	PeakRSS             float64 `json:"peak_rss_mb"`
	OOMKills            int64   `json:"oom_kills"`
	// CgroupLimitHits is the sum of memory.failcnt (allocations that hit
	// the limit and had to reclaim); PeakCgroupMB the largest
	// memory.max_usage_in_bytes (page cache included).
	CgroupLimitHits int64    `json:"cgroup_limit_hits"`
	PeakCgroupMB    float64  `json:"peak_cgroup_mb"`
	Churn           int      `json:"churn_leaves"`
	Crashes         int      `json:"unexpected_exits"`
	ControlErrors   int      `json:"control_errors"`
	Duration        float64  `json:"duration_s"`
	SimMinutes      float64  `json:"simulated_minutes"`
	Notes           []string `json:"notes,omitempty"`

	perSpeaker []speakerRow
}

// Mode says which configuration produced the figures.
type Mode struct {
	P2P          bool       `json:"p2p"`
	Decode       string     `json:"decode"` // "full": every speaker decodes Vorbis
	Speed        float64    `json:"speed"`
	Netem        bool       `json:"netem"`
	OriginRTTms  float64    `json:"origin_rtt_ms,omitempty"`
	PeerRTTms    [2]float64 `json:"peer_rtt_ms,omitempty"`
	UploadMbit   float64    `json:"upload_mbit_s,omitempty"`
	MemoryMB     float64    `json:"memory_cgroup_mb,omitempty"`
	Tracker      string     `json:"tracker"`
	Search       string     `json:"overlay_search"`
	Seed         uint64     `json:"seed"`
	ZipfS        float64    `json:"zipf_s"`
	FollowProb   float64    `json:"follow_prob"`
	SkipProb     float64    `json:"skip_prob"`
	ChurnPerHour float64    `json:"churn_per_speaker_hour"`
	TrackSeconds int        `json:"track_seconds"`
}

// Percentiles of playback latency in milliseconds, interpolated in the
// daemons' histogram buckets (5, 10, 20, 30, 50, 75, 100, 150, 200, 265,
// 350, 500, 750 ms, 1, 2, 5 s), so they are estimates within a bucket.
type Percentiles struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
}

// Bytes by source, summed over the fleet.
type Bytes struct {
	Origin int64 `json:"origin"`
	Peers  int64 `json:"peers"`
	Cache  int64 `json:"cache"`
}

type speakerRow struct {
	name                 string
	plays, underruns     int
	origin, peers, cache int64
	anonKiB, hwmKiB      int64
	leaves               int
}

func pct(a, b float64) float64 {
	if b <= 0 {
		return 0
	}
	return math.Round(10000*a/b) / 100
}

func ms(sec float64) float64 {
	if math.IsNaN(sec) {
		return 0
	}
	return math.Round(sec*10000) / 10
}

func summarise(cfg *Config, sp []*speaker, tracks int, wall time.Duration) Result {
	r := Result{
		Mode: Mode{P2P: !cfg.NoP2P, Decode: "full", Speed: cfg.Speed, Netem: !cfg.NoNetem,
			MemoryMB: float64(cfg.MemoryLimit) / (1 << 20), Tracker: "on (daemon has no switch)",
			Search: "on (daemon has no switch)", Seed: cfg.Seed, ZipfS: cfg.ZipfS, FollowProb: cfg.FollowProb,
			SkipProb: cfg.SkipProb, ChurnPerHour: cfg.ChurnPerHour, TrackSeconds: cfg.TrackSeconds},
		Speakers: len(sp), Tracks: tracks, Duration: math.Round(wall.Seconds()*10) / 10,
		SimMinutes: cfg.Duration.Minutes(),
	}
	if cfg.NoP2P {
		r.Mode.Tracker, r.Mode.Search = "off (no p2p)", "off (no p2p)"
	}
	if !cfg.NoNetem {
		r.Mode.OriginRTTms = float64(cfg.Net.OriginRTT.Milliseconds())
		r.Mode.PeerRTTms = [2]float64{float64(cfg.Net.PeerRTTMin.Milliseconds()), float64(cfg.Net.PeerRTTMax.Milliseconds())}
		r.Mode.UploadMbit = max(cfg.Net.UploadBitsPerSec, 0) / 1e6
	}
	all := counters{}
	for _, s := range sp {
		t := s.total()
		all = all.add(t)
		s.mu.Lock()
		row := speakerRow{name: s.fs.Name, plays: s.plays, underruns: int(t[mStutters]),
			origin: int64(t[mOrigin]), peers: int64(t[mPeers]), cache: int64(t[mCache]),
			anonKiB: s.peakAnon, hwmKiB: s.peakHWM, leaves: s.leaves}
		r.Plays += s.plays
		r.Skips += s.skips
		r.Churn += s.leaves
		r.Crashes += s.unexpected
		r.ControlErrors += s.ctlErrors
		r.PeakAnon = math.Max(r.PeakAnon, float64(s.peakAnon)/1024)
		r.PeakRSS = math.Max(r.PeakRSS, float64(s.peakHWM)/1024)
		s.mu.Unlock()
		r.perSpeaker = append(r.perSpeaker, row)
		// Plays with at least one underrun: the daemon counts underruns,
		// not plays, so a speaker contributes min(underruns, plays); an
		// upper bound when one play stutters more than once.
		r.Underruns += row.underruns
		r.Stutter += float64(min(row.underruns, row.plays))
	}
	r.PeakAnon, r.PeakRSS = math.Round(r.PeakAnon*10)/10, math.Round(r.PeakRSS*10)/10
	r.Stutter = pct(r.Stutter, float64(r.Plays))
	r.Completed = int(all[mPlayed])
	bs := all.buckets()
	r.LatencyN = int(all[mLatCount])
	r.Latency = Percentiles{P50: ms(quantile(bs, .5)), P90: ms(quantile(bs, .9)), P99: ms(quantile(bs, .99))}
	r.Bytes = Bytes{Origin: int64(all[mOrigin]), Peers: int64(all[mPeers]), Cache: int64(all[mCache])}
	net := float64(r.Bytes.Origin + r.Bytes.Peers)
	r.OriginNet = pct(float64(r.Bytes.Origin), net)
	r.OriginAll = pct(float64(r.Bytes.Origin), net+float64(r.Bytes.Cache))
	if r.LatencyN < r.Plays/2 {
		r.Notes = append(r.Notes, fmt.Sprintf("only %d latency observations for %d plays (gapless follow-ons and plays cut short are not observed)", r.LatencyN, r.Plays))
	}
	return r
}

// WriteTable writes the per-speaker table and the headline figures.
func (r Result) WriteTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "speaker\tplays\tunderruns\tleaves\torigin MiB\tpeers MiB\tcache MiB\tpeak RssAnon MiB\tVmHWM MiB\t")
	mib := func(b int64) string { return fmt.Sprintf("%.1f", float64(b)/(1<<20)) }
	for _, s := range r.perSpeaker {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\t%s\t%.1f\t%.1f\t\n", s.name, s.plays, s.underruns, s.leaves,
			mib(s.origin), mib(s.peers), mib(s.cache), float64(s.anonKiB)/1024, float64(s.hwmKiB)/1024)
	}
	tw.Flush()
	mode := "p2p"
	if !r.Mode.P2P {
		mode = "origin only"
	}
	fmt.Fprintf(w, "\n%s, %d speakers, %d tracks, %.0f simulated minutes at %gx in %.0f s (decode: %s)\n",
		mode, r.Speakers, r.Tracks, r.SimMinutes, r.Mode.Speed, r.Duration, r.Mode.Decode)
	tw = tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "plays\t%d (%d skipped, %d to the end)\n", r.Plays, r.Skips, r.Completed)
	fmt.Fprintf(tw, "latency p50/p90/p99\t%.0f / %.0f / %.0f ms (%d observations)\n", r.Latency.P50, r.Latency.P90, r.Latency.P99, r.LatencyN)
	fmt.Fprintf(tw, "plays with a stutter\t%.2f%% (%d underruns)\n", r.Stutter, r.Underruns)
	fmt.Fprintf(tw, "bytes origin/peers/cache\t%.1f / %.1f / %.1f MiB\n", float64(r.Bytes.Origin)/(1<<20), float64(r.Bytes.Peers)/(1<<20), float64(r.Bytes.Cache)/(1<<20))
	fmt.Fprintf(tw, "origin share\t%.1f%% of network bytes (%.1f%% in the second half), %.1f%% of all\n", r.OriginNet, r.OriginNetSecondHalf, r.OriginAll)
	fmt.Fprintf(tw, "peak speaker memory\t%.1f MiB RssAnon, %.1f MiB VmHWM\n", r.PeakAnon, r.PeakRSS)
	if r.Mode.MemoryMB > 0 {
		fmt.Fprintf(tw, "memory cgroup %.0f MiB\t%d OOM kills, %d limit hits, peak usage %.1f MiB\n", r.Mode.MemoryMB, r.OOMKills, r.CgroupLimitHits, r.PeakCgroupMB)
	}
	fmt.Fprintf(tw, "churn\t%d leaves, %d unexpected exits, %d control errors\n", r.Churn, r.Crashes, r.ControlErrors)
	tw.Flush()
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
}
