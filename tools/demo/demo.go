// Package demo is the body of `make demo`: it starts a fleet (tools/fleet),
// has every speaker play the same sequence of tracks, staggered, prints a
// live table and a summary, and reports the figures. The end-to-end test
// runs it too.
package demo

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/starling-audio/starling/firmware/control"
	"github.com/starling-audio/starling/tools/fleet"
)

// Options configures a demo run.
type Options struct {
	Dir, Bin       string
	Speakers       int
	Tracks         []string // files to ingest
	Copies         int
	Plays          int           // tracks each speaker plays in order
	Stagger        time.Duration // between speakers' starts
	AudibleSpeaker int           // -1: all headless
	NoPeers        bool
	Query          string  // catalogue search whose first Plays results every speaker plays
	Speed          float64 // > 1: speakers play on the virtual clock this much faster
	Out            io.Writer
	Live           bool // Out is a terminal: redraw the table every second
	Log            *slog.Logger
}

// SpeakerResult is one speaker's figures at the end.
type SpeakerResult struct {
	Name                     string
	Origin, Peers, Cache     int64
	Plays, Stutters          int
	LatencyMeanMs            float64
	PeakRssAnonKiB, VmHWMKiB int64
}

// Summary is the run's outcome.
type Summary struct {
	Speakers []SpeakerResult
	// RepeatPeerShare is the fraction of network bytes of speakers 2..N
	// (whose tracks others played first) that came from peers.
	RepeatPeerShare float64
}

// Run runs the demo until every speaker has played its sequence.
func Run(ctx context.Context, o Options) (Summary, error) {
	var sum Summary
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Plays <= 0 {
		o.Plays = 3
	}
	fmt.Fprintf(o.Out, "starting a catalogue service and %d speakers on loopback (peers %v, playing at %gx real time)...\n", o.Speakers, !o.NoPeers, max(o.Speed, 1))
	f, err := fleet.Start(ctx, fleet.Options{Dir: o.Dir, Bin: o.Bin, Speakers: o.Speakers, Tracks: o.Tracks,
		Copies: o.Copies, AudibleSpeaker: o.AudibleSpeaker, NoPeers: o.NoPeers, Speed: o.Speed, Log: o.Log})
	if err != nil {
		return sum, err
	}
	defer f.Close()

	first := f.Speakers[0].Control
	res, err := first.Search(ctx, o.Query, 0, o.Plays)
	list, total := res.Tracks, res.Total
	if err != nil {
		return sum, fmt.Errorf("searching the catalogue: %w", err)
	}
	if len(list) < o.Plays {
		return sum, fmt.Errorf("the catalogue has %d tracks, want %d", total, o.Plays)
	}
	fmt.Fprintf(o.Out, "catalogue: %d tracks; every speaker plays:", total)
	for _, t := range list {
		fmt.Fprintf(o.Out, " %q", t.Title)
	}
	fmt.Fprintf(o.Out, "\n\n")

	started := make([]bool, len(f.Speakers))
	peakAnon := make([]int64, len(f.Speakers))
	peakHWM := make([]int64, len(f.Speakers))
	begin := time.Now()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var lastTable string
	n := 0
	for {
		// Start speakers on their schedule.
		for i, s := range f.Speakers {
			if started[i] || time.Since(begin) < time.Duration(i)*o.Stagger {
				continue
			}
			if _, err := s.Control.Play(ctx, control.PlayRequest{TrackID: list[0].ID}); err != nil {
				return sum, fmt.Errorf("%s: play: %w", s.Name, err)
			}
			for _, t := range list[1:] {
				if _, err := s.Control.Queue(ctx, control.PlayRequest{TrackID: t.ID}); err != nil {
					return sum, fmt.Errorf("%s: queue: %w", s.Name, err)
				}
			}
			started[i] = true
		}
		rows, done, err := snapshot(ctx, f, started, o.Plays)
		if err != nil {
			return sum, err
		}
		for i, s := range f.Speakers {
			if a, h, err := fleet.RSS(s.PID()); err == nil {
				peakAnon[i], peakHWM[i] = max(peakAnon[i], a), max(peakHWM[i], h)
			}
		}
		lastTable = table(rows)
		if n++; o.Live || n%5 == 1 || done {
			if o.Live {
				fmt.Fprint(o.Out, "\033[H\033[2J") // redraw in place on a terminal
			}
			fmt.Fprintf(o.Out, "t=%3.0fs\n%s\n", time.Since(begin).Seconds(), lastTable)
		}
		if done {
			sum = summarise(rows, peakAnon, peakHWM)
			break
		}
		select {
		case <-ctx.Done():
			return sum, fmt.Errorf("demo did not finish: %w", ctx.Err())
		case <-tick.C:
		}
	}
	if err := f.Close(); err != nil {
		return sum, fmt.Errorf("stopping the fleet: %w", err)
	}
	printSummary(o.Out, sum)
	return sum, nil
}

type row struct {
	res   SpeakerResult
	state string
	track string
	pos   string
}

func snapshot(ctx context.Context, f *fleet.Fleet, started []bool, plays int) ([]row, bool, error) {
	rows := make([]row, len(f.Speakers))
	done := true
	for i, s := range f.Speakers {
		st, err := s.Control.Status(ctx)
		if err != nil {
			return nil, false, fmt.Errorf("%s: status: %w", s.Name, err)
		}
		m, err := s.Metrics(ctx)
		if err != nil {
			return nil, false, fmt.Errorf("%s: metrics: %w", s.Name, err)
		}
		r := row{state: st.State}
		if !started[i] {
			r.state = "waiting"
		}
		if st.Track != nil {
			r.track = st.Track.Title
			r.pos = fmt.Sprintf("%s/%s", control.FormatPosition(st.Position()), control.FormatPosition(st.Duration()))
		}
		r.res = SpeakerResult{
			Name:     s.Name,
			Origin:   int64(m[`starling_stream_bytes_total{source="origin"}`]),
			Peers:    int64(m[`starling_stream_bytes_total{source="peers"}`]),
			Cache:    int64(m[`starling_stream_bytes_total{source="cache"}`]),
			Plays:    int(m["starling_tracks_played_total"]),
			Stutters: int(m["starling_stutters_total"]),
		}
		if n := m["starling_playback_latency_seconds_count"]; n > 0 {
			r.res.LatencyMeanMs = 1000 * m["starling_playback_latency_seconds_sum"] / n
		}
		if !started[i] || r.res.Plays < plays || st.State != control.StateStopped {
			done = false
		}
		rows[i] = r
	}
	return rows, done, nil
}

func kib(b int64) string { return fmt.Sprintf("%.0f KiB", float64(b)/1024) }

func table(rows []row) string {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 2, 4, 2, ' ', 0)
	fmt.Fprintln(w, "speaker\tstate\ttrack\tposition\tlatency\tfrom origin\tfrom peers\tfrom cache\tplays\tstutters")
	for _, r := range rows {
		lat := "-"
		if r.res.LatencyMeanMs > 0 {
			lat = fmt.Sprintf("%.0f ms", r.res.LatencyMeanMs)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\n", r.res.Name, r.state, r.track, r.pos, lat,
			kib(r.res.Origin), kib(r.res.Peers), kib(r.res.Cache), r.res.Plays, r.res.Stutters)
	}
	w.Flush()
	return b.String()
}

func summarise(rows []row, anon, hwm []int64) Summary {
	var s Summary
	var peers, network int64
	for i, r := range rows {
		r.res.PeakRssAnonKiB, r.res.VmHWMKiB = anon[i], hwm[i]
		s.Speakers = append(s.Speakers, r.res)
		if i > 0 {
			peers += r.res.Peers
			network += r.res.Peers + r.res.Origin
		}
	}
	if network > 0 {
		s.RepeatPeerShare = float64(peers) / float64(network)
	}
	return s
}

func printSummary(w io.Writer, s Summary) {
	fmt.Fprintln(w, "summary")
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "speaker\tplays\tstutters\tmean latency\tfrom origin\tfrom peers\tfrom cache\tpeak RssAnon\tVmHWM")
	var origin, peers, cache int64
	for _, r := range s.Speakers {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f ms\t%s\t%s\t%s\t%.1f MiB\t%.1f MiB\n", r.Name, r.Plays, r.Stutters, r.LatencyMeanMs,
			kib(r.Origin), kib(r.Peers), kib(r.Cache), float64(r.PeakRssAnonKiB)/1024, float64(r.VmHWMKiB)/1024)
		origin, peers, cache = origin+r.Origin, peers+r.Peers, cache+r.Cache
	}
	tw.Flush()
	all := origin + peers + cache
	if all > 0 {
		fmt.Fprintf(w, "all bytes: %.0f%% origin, %.0f%% peers, %.0f%% cache; repeated plays (speakers 2..N) took %.0f%% of their network bytes from peers\n",
			100*float64(origin)/float64(all), 100*float64(peers)/float64(all), 100*float64(cache)/float64(all), 100*s.RepeatPeerShare)
	}
}

// MakeTracks writes n music-like Ogg Vorbis tracks of the given length into
// dir with sox and oggenc (vorbis-tools; `make setup` installs both): chords
// that differ per track, a little noise and a melody line, so every track
// decodes to distinct audio at about the catalogue's bit rate.
func MakeTracks(ctx context.Context, dir string, n int, seconds int) ([]string, error) {
	for _, tool := range []string{"sox", "oggenc"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("making demo tracks needs %s (run `make setup`, or apt-get install sox vorbis-tools): %w", tool, err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	roots := []float64{220, 246.94, 261.63, 293.66, 329.63, 349.23, 392, 440}
	var out []string
	for i := range n {
		root := roots[i%len(roots)] * float64(1+i/len(roots))
		wav := filepath.Join(dir, fmt.Sprintf("track-%02d.wav", i+1))
		ogg := strings.TrimSuffix(wav, ".wav") + ".ogg"
		half := seconds / 2
		synth := []string{"-q", "-n", "-r", "44100", "-c", "2", "-b", "16", wav,
			"synth", strconv.Itoa(half), "sine", ftoa(root), "sine", ftoa(root * 1.25), "sine", ftoa(root * 1.5), "pinknoise", "gain", "-9", ":",
			"synth", strconv.Itoa(seconds - half), "pluck", ftoa(root * 2), "square", ftoa(root / 2), "tremolo", "5", "30", "gain", "-12"}
		if b, err := exec.CommandContext(ctx, "sox", synth...).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("sox: %w: %s", err, b)
		}
		if b, err := exec.CommandContext(ctx, "oggenc", "-Q", "-q", "5", "-t", fmt.Sprintf("Demo Track %d", i+1),
			"-a", "Starling Demo Band", "-l", "Loopback Sessions", "-N", strconv.Itoa(i+1), "-o", ogg, wav).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("oggenc: %w: %s", err, b)
		}
		os.Remove(wav)
		out = append(out, ogg)
	}
	return out, nil
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'f', 2, 64) }
