package swarmbench

import (
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Result is the JSON summary of a run. Keys follow issue 9.
type Result struct {
	Mode      Mode `json:"mode"`
	Speakers  int  `json:"speakers"`
	Tracks    int  `json:"tracks"`
	Plays     int  `json:"plays"`
	Completed int  `json:"plays_completed"` // tracks played to the end (daemon counter)
	Skips     int  `json:"skips"`
	// Distinct is the number of tracks played at least once.
	Distinct int `json:"distinct_tracks"`
	// Latency percentiles are exact, over LatencySamples latency_ms values
	// of command-started plays from the event streams; LatencyN is the
	// daemons' own histogram count, for cross-checking.
	Latency        Percentiles `json:"latency_ms"`
	LatencySamples int         `json:"latency_samples"`
	LatencyN       int         `json:"latency_observations"`
	// Stutter is plays with at least one underrun event ÷ plays.
	Stutter       float64 `json:"stutter_pct"`
	StutterPlays  int     `json:"plays_with_underrun"`
	Underruns     int     `json:"underruns"`
	UnderrunsDmon int     `json:"underruns_daemon_counter"`
	Bytes         Bytes   `json:"bytes"`
	OriginNet     float64 `json:"origin_share_network_pct"`
	OriginAll     float64 `json:"origin_share_all_pct"`
	// OriginFloor estimates the share of network bytes the origin must
	// carry whatever the system does, because no speaker had the track
	// yet: Σ over distinct tracks of size × the fraction of the track its
	// first play in the fleet reached (end, skip or cut ÷ duration, at
	// most 1), ÷ network bytes. An estimate: it ignores prefetch before a
	// play, a first copy lost to churn, and peers that had only part.
	OriginFloor float64 `json:"origin_floor_network_pct"`
	// OriginBy splits bytes.origin by why the daemons asked the origin
	// (starling_stream_origin_bytes_total{reason}: head, start, low,
	// urgent, no_peers, prefetch).
	OriginBy map[string]int64 `json:"origin_bytes_by_reason"`
	// OriginNetSecondHalf is the origin's share of network bytes over the
	// second half of the run (warm caches).
	OriginNetSecondHalf float64 `json:"origin_share_network_second_half_pct"`
	PeakAnon            float64 `json:"peak_anon_mb"`
	PeakRSS             float64 `json:"peak_rss_mb"`
	OOMKills            int64   `json:"oom_kills"`
	// CgroupLimitHits is the sum of memory.failcnt (allocations that hit
	// the limit and had to reclaim); PeakCgroupMB the largest
	// memory.max_usage_in_bytes (page cache included).
	CgroupLimitHits int64   `json:"cgroup_limit_hits"`
	PeakCgroupMB    float64 `json:"peak_cgroup_mb"`
	Churn           int     `json:"churn_leaves"`
	Crashes         int     `json:"unexpected_exits"`
	ControlErrors   int     `json:"control_errors"`
	Duration        float64 `json:"duration_s"`
	// BenchCPU is the CPU time of the bench process itself (emulated
	// network, agents, scrapes), BenchCPUPct that as a percentage of one
	// core over the measured part of the run.
	BenchCPU    float64  `json:"bench_cpu_s"`
	BenchCPUPct float64  `json:"bench_cpu_pct"`
	SimMinutes  float64  `json:"simulated_minutes"`
	Notes       []string `json:"notes,omitempty"`

	perSpeaker []speakerRow
}

// Mode says which configuration produced the figures.
type Mode struct {
	// Audio is "decode" (Vorbis decoded) or "bitrate" (encoded bytes
	// consumed at the track's bitrate); Decode is the daemon's value of
	// [audio] decode ("full" or "bitrate").
	Audio        string     `json:"audio"`
	P2P          bool       `json:"p2p"`
	Decode       string     `json:"decode"`
	Speed        float64    `json:"speed"`
	Netem        bool       `json:"netem"`
	OriginRTTms  float64    `json:"origin_rtt_ms,omitempty"`
	PeerRTTms    [2]float64 `json:"peer_rtt_ms,omitempty"`
	UploadMbit   float64    `json:"upload_mbit_s,omitempty"`
	MemoryMB     float64    `json:"memory_cgroup_mb,omitempty"`
	Tracker      bool       `json:"tracker"`
	Search       bool       `json:"overlay_search"`
	Seed         uint64     `json:"seed"`
	ZipfS        float64    `json:"zipf_s"`
	FollowProb   float64    `json:"follow_prob"`
	SkipProb     float64    `json:"skip_prob"`
	ChurnPerHour float64    `json:"churn_per_speaker_hour"`
	TrackSeconds int        `json:"track_seconds"`
}

// Percentiles of playback latency in milliseconds (nearest rank over the
// exact samples).
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

// percentile is the nearest-rank q-quantile of sorted values; 0 if none.
func percentile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	k := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(k, 0), len(sorted)-1)]
}

// originFloor is Σ over distinct tracks of size × the fraction of the
// track its first play in the fleet reached, in bytes. A play still open
// is taken to runEnd; speed converts wall time to playing time.
func originFloor(plays []*play, infos []trackInfo, speed float64, runEnd time.Time) float64 {
	first := map[int]*play{}
	for _, p := range plays {
		if f, ok := first[p.track]; !ok || p.start.Before(f.start) {
			first[p.track] = p
		}
	}
	var sum float64
	for t, p := range first {
		if t < 0 || t >= len(infos) {
			continue
		}
		end := p.end
		if end.IsZero() {
			end = runEnd
		}
		frac := end.Sub(p.start).Seconds() * speed / infos[t].duration.Seconds()
		sum += float64(infos[t].size) * min(max(frac, 0), 1)
	}
	return sum
}

func summarise(cfg *Config, sp []*speaker, infos []trackInfo, wall time.Duration, runEnd time.Time) Result {
	r := Result{
		Mode: Mode{Audio: cfg.Audio, P2P: !cfg.NoP2P, Decode: map[string]string{"decode": "full", "bitrate": "bitrate"}[cfg.Audio],
			Speed: cfg.Speed, Netem: !cfg.NoNetem, MemoryMB: float64(cfg.MemoryLimit) / (1 << 20),
			Tracker: !cfg.NoP2P && !cfg.NoTracker, Search: !cfg.NoP2P && !cfg.NoSearch, Seed: cfg.Seed, ZipfS: cfg.ZipfS,
			FollowProb: cfg.FollowProb, SkipProb: cfg.SkipProb, ChurnPerHour: cfg.ChurnPerHour, TrackSeconds: cfg.TrackSeconds},
		Speakers: len(sp), Tracks: len(infos), Duration: math.Round(wall.Seconds()*10) / 10,
		SimMinutes: cfg.Duration.Minutes(),
	}
	if !cfg.NoNetem {
		r.Mode.OriginRTTms = float64(cfg.Net.OriginRTT.Milliseconds())
		r.Mode.PeerRTTms = [2]float64{float64(cfg.Net.PeerRTTMin.Milliseconds()), float64(cfg.Net.PeerRTTMax.Milliseconds())}
		r.Mode.UploadMbit = max(cfg.Net.UploadBitsPerSec, 0) / 1e6
	}
	all := counters{}
	var plays []*play
	var lat []float64
	var bad, unexpectedTracks, resets, lost int
	for _, s := range sp {
		t := s.total()
		all = all.add(t)
		s.mu.Lock()
		row := speakerRow{name: s.fs.Name, plays: len(s.plays), underruns: s.underrunEvents,
			origin: int64(t[mOrigin]), peers: int64(t[mPeers]), cache: int64(t[mCache]),
			anonKiB: s.peakAnon, hwmKiB: s.peakHWM, leaves: s.leaves}
		for _, p := range s.plays {
			cp := *p
			plays = append(plays, &cp)
			if p.latencyMs > 0 {
				lat = append(lat, p.latencyMs)
			}
			if p.underrun {
				r.StutterPlays++
			}
		}
		r.Skips += s.skips
		r.Churn += s.leaves
		r.Crashes += s.unexpected
		r.ControlErrors += s.ctlErrors
		r.Underruns += s.underrunEvents
		bad, unexpectedTracks, resets = bad+s.badEvents, unexpectedTracks+s.unexpectedTracks, resets+s.watchdogResets
		if s.lost {
			lost++
		}
		r.PeakAnon = math.Max(r.PeakAnon, float64(s.peakAnon)/1024)
		r.PeakRSS = math.Max(r.PeakRSS, float64(s.peakHWM)/1024)
		s.mu.Unlock()
		r.perSpeaker = append(r.perSpeaker, row)
	}
	r.Plays = len(plays)
	r.PeakAnon, r.PeakRSS = math.Round(r.PeakAnon*10)/10, math.Round(r.PeakRSS*10)/10
	r.Stutter = pct(float64(r.StutterPlays), float64(r.Plays))
	r.Completed = int(all[mPlayed])
	r.UnderrunsDmon = int(all[mStutters])
	r.LatencyN = int(all[mLatCount])
	sort.Float64s(lat)
	r.LatencySamples = len(lat)
	rnd := func(v float64) float64 { return math.Round(v*10) / 10 }
	r.Latency = Percentiles{P50: rnd(percentile(lat, .5)), P90: rnd(percentile(lat, .9)), P99: rnd(percentile(lat, .99))}
	distinct := map[int]bool{}
	for _, p := range plays {
		distinct[p.track] = true
	}
	r.Distinct = len(distinct)
	r.Bytes = Bytes{Origin: int64(all[mOrigin]), Peers: int64(all[mPeers]), Cache: int64(all[mCache])}
	net := float64(r.Bytes.Origin + r.Bytes.Peers)
	r.OriginNet = pct(float64(r.Bytes.Origin), net)
	r.OriginAll = pct(float64(r.Bytes.Origin), net+float64(r.Bytes.Cache))
	r.OriginFloor = pct(originFloor(plays, infos, cfg.Speed, runEnd), net)
	r.OriginBy = all.originByReason()
	if r.UnderrunsDmon != r.Underruns {
		r.Notes = append(r.Notes, fmt.Sprintf("the daemons counted %d underruns, the event streams showed %d (a busy daemon drops events for a slow subscriber)", r.UnderrunsDmon, r.Underruns))
	}
	if bad > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("%d malformed events ignored", bad))
	}
	if unexpectedTracks > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("%d follow-on plays were not the queued track", unexpectedTracks))
	}
	if resets > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("%d sessions ended by the watchdog (their end was not seen on the event stream)", resets))
	}
	if lost > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("%d speakers could not be restarted and left the run early", lost))
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
	if r.Mode.P2P && !r.Mode.Tracker {
		mode += " without tracker"
	}
	if r.Mode.P2P && !r.Mode.Search {
		mode += " without overlay search"
	}
	fmt.Fprintf(w, "\n%s, %d speakers, %d tracks, %.0f simulated minutes at %gx in %.0f s (audio: %s)\n",
		mode, r.Speakers, r.Tracks, r.SimMinutes, r.Mode.Speed, r.Duration, r.Mode.Audio)
	tw = tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "plays\t%d (%d skipped, %d to the end)\n", r.Plays, r.Skips, r.Completed)
	fmt.Fprintf(tw, "distinct tracks played\t%d\n", r.Distinct)
	fmt.Fprintf(tw, "latency p50/p90/p99\t%.0f / %.0f / %.0f ms (%d command-started plays)\n", r.Latency.P50, r.Latency.P90, r.Latency.P99, r.LatencySamples)
	fmt.Fprintf(tw, "plays with a stutter\t%.2f%% (%d plays, %d underruns)\n", r.Stutter, r.StutterPlays, r.Underruns)
	fmt.Fprintf(tw, "bytes origin/peers/cache\t%.1f / %.1f / %.1f MiB\n", float64(r.Bytes.Origin)/(1<<20), float64(r.Bytes.Peers)/(1<<20), float64(r.Bytes.Cache)/(1<<20))
	fmt.Fprintf(tw, "origin share\t%.1f%% of network bytes (%.1f%% in the second half), %.1f%% of all\n", r.OriginNet, r.OriginNetSecondHalf, r.OriginAll)
	fmt.Fprintf(tw, "origin floor (estimate)\t%.1f%% of network bytes: first plays of each track\n", r.OriginFloor)
	if r.Bytes.Origin > 0 {
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(r.OriginBy)) {
			parts = append(parts, fmt.Sprintf("%s %.1f%%", k, pct(float64(r.OriginBy[k]), float64(r.Bytes.Origin))))
		}
		fmt.Fprintf(tw, "origin bytes by reason\t%s\n", strings.Join(parts, ", "))
	}
	fmt.Fprintf(tw, "peak speaker memory\t%.1f MiB RssAnon, %.1f MiB VmHWM\n", r.PeakAnon, r.PeakRSS)
	if r.Mode.MemoryMB > 0 {
		fmt.Fprintf(tw, "memory cgroup %.0f MiB\t%d OOM kills, %d limit hits, peak usage %.1f MiB\n", r.Mode.MemoryMB, r.OOMKills, r.CgroupLimitHits, r.PeakCgroupMB)
	}
	fmt.Fprintf(tw, "bench process\t%.1f s CPU, %.0f%% of one core\n", r.BenchCPU, r.BenchCPUPct)
	fmt.Fprintf(tw, "churn\t%d leaves, %d unexpected exits, %d control errors\n", r.Churn, r.Crashes, r.ControlErrors)
	tw.Flush()
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
}
