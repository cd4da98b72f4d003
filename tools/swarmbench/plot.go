package swarmbench

import (
	"errors"
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// ErrNoSeries means there are too few samples to plot.
var ErrNoSeries = errors.New("swarmbench: fewer than two samples to plot")

// Rates bins the cumulative series into at most bins intervals and returns
// each interval's end (simulated minutes) and its rate by source in MiB per
// simulated minute: origin, peers, cache.
func Rates(series []Sample, bins int) (t []float64, rates [3][]float64, err error) {
	if len(series) < 2 {
		return nil, rates, ErrNoSeries
	}
	// Drop samples much closer to their predecessor than the sampling
	// period (the final scrape after the run), which would show as spikes.
	nominal := (series[len(series)-1].SimSeconds - series[0].SimSeconds) / float64(len(series)-1)
	kept := []Sample{series[0]}
	for _, s := range series[1:] {
		if s.SimSeconds-kept[len(kept)-1].SimSeconds >= nominal/2 {
			kept = append(kept, s)
		}
	}
	series = kept
	if len(series) < 2 {
		return nil, rates, ErrNoSeries
	}
	bins = max(1, min(bins, len(series)-1))
	step := float64(len(series)-1) / float64(bins)
	prev := series[0]
	for b := 1; b <= bins; b++ {
		cur := series[int(math.Round(float64(b)*step))]
		dt := (cur.SimSeconds - prev.SimSeconds) / 60
		if dt <= 0 {
			continue
		}
		t = append(t, cur.SimSeconds/60)
		for k, d := range [3]float64{cur.Origin - prev.Origin, cur.Peers - prev.Peers, cur.Cache - prev.Cache} {
			rates[k] = append(rates[k], math.Max(d, 0)/(1<<20)/dt)
		}
		prev = cur
	}
	if len(t) == 0 {
		return nil, rates, ErrNoSeries
	}
	return t, rates, nil
}

// Plot writes a PNG of bytes per source over time, stacked (cache at the
// bottom, then peers, then origin), like Figure 2 of the Spotify paper.
func Plot(path string, series []Sample, r Result) error {
	t, rates, err := Rates(series, 60)
	if err != nil {
		return err
	}
	p := plot.New()
	mode := "Starling p2p"
	if !r.Mode.P2P {
		mode = "origin only"
	}
	p.Title.Text = fmt.Sprintf("%s: %d speakers, %d tracks, %gx; origin %.1f%% of network bytes", mode, r.Speakers, r.Tracks, r.Mode.Speed, r.OriginNet)
	p.X.Label.Text = "simulated minutes"
	p.Y.Label.Text = "MiB per simulated minute (all speakers)"
	names := [3]string{"origin", "peers", "cache"}
	colors := [3]color.RGBA{{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}, {R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}, {R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}}
	// Stack bottom-up: cache, peers, origin; draw from the top layer down
	// so each polygon covers only its band.
	order := []int{2, 1, 0}
	lower := make([]float64, len(t))
	var polys []*plotter.Polygon
	var labels []string
	for _, k := range order {
		upper := make([]float64, len(t))
		for i := range t {
			upper[i] = lower[i] + rates[k][i]
		}
		xys := make(plotter.XYs, 0, 2*len(t)+2)
		x0 := t[0] - (t[min(1, len(t)-1)] - t[0])
		if len(t) == 1 {
			x0 = 0
		}
		xys = append(xys, plotter.XY{X: x0, Y: lower[0]})
		for i := range t {
			xys = append(xys, plotter.XY{X: t[i], Y: upper[i]})
		}
		for i := len(t) - 1; i >= 0; i-- {
			xys = append(xys, plotter.XY{X: t[i], Y: lower[i]})
		}
		poly, err := plotter.NewPolygon(xys)
		if err != nil {
			return fmt.Errorf("plotting %s: %w", names[k], err)
		}
		poly.Color = colors[k]
		poly.LineStyle.Width = 0
		polys = append(polys, poly)
		labels = append(labels, names[k])
		lower = upper
	}
	for i := len(polys) - 1; i >= 0; i-- {
		p.Add(polys[i])
	}
	for i := len(polys) - 1; i >= 0; i-- {
		p.Legend.Add(labels[i], polys[i])
	}
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	if err := p.Save(10*vg.Inch, 5*vg.Inch, path); err != nil {
		return fmt.Errorf("writing plot %s: %w", path, err)
	}
	return nil
}
