package export

import (
	"bytes"
	"fmt"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/recorder"
)

// chartSeries builds a matrix of n series sampled every step over
// [from, to] (value func of series index and time), named like
// node_memory{instance="host-i:9100", job="node"}.
func chartSeries(n int, from, to time.Time, step time.Duration, value func(i int, t time.Time) float64) *Result {
	r := &Result{Type: TypeMatrix}
	for i := range n {
		s := &Series{Metric: Metric{
			{Name: "__name__", Value: "node_memory_used_bytes"},
			{Name: "instance", Value: fmt.Sprintf("host-%02d.example.org:9100", i)},
			{Name: "job", Value: "node"},
		}}
		for t := from; !t.After(to); t = t.Add(step) {
			s.T = append(s.T, t.UnixMilli())
			s.V = append(s.V, value(i, t))
		}
		r.Series = append(r.Series, s)
	}
	return r
}

// drawn is a string the chart drew and the box its glyphs occupy.
type drawn struct {
	text string
	box  vg.Rectangle
}

// recordChart draws the chart on gonum's recording canvas and returns the
// layout and every string drawn, boxed with the font's own metrics.
func recordChart(t *testing.T, wpx, hpx int, opt Options, r *Result) (chartLayout, []drawn, *recorder.Canvas) {
	t.Helper()
	rec := &recorder.Canvas{}
	lay, err := drawChart(rec, px(float64(wpx)), px(float64(hpx)), opt, r)
	if err != nil {
		t.Fatalf("drawChart: %v", err)
	}
	tf, err := chartTypeface()
	if err != nil {
		t.Fatal(err)
	}
	var texts []drawn
	for _, a := range rec.Actions {
		switch a := a.(type) {
		case *recorder.FillString:
			if a.Font.Typeface != "Go" {
				t.Fatalf("text %q drawn in %q, not Go's sans-serif font", a.String, a.Font.Typeface)
			}
			f := font.Face{Font: a.Font, Face: tf}
			ext := f.Extents()
			texts = append(texts, drawn{a.String, vg.Rectangle{
				Min: vg.Point{X: a.Point.X, Y: a.Point.Y - ext.Descent},
				Max: vg.Point{X: a.Point.X + f.Width(a.String), Y: a.Point.Y + ext.Ascent},
			}})
		case *recorder.Rotate, *recorder.Translate, *recorder.Scale:
			t.Fatalf("the chart transforms the canvas (%s): text boxes would be wrong", a.Call())
		}
	}
	return lay, texts, rec
}

func overlaps(a, b vg.Rectangle) bool {
	return a.Min.X < b.Max.X && b.Min.X < a.Max.X && a.Min.Y < b.Max.Y && b.Min.Y < a.Max.Y
}

func inside(inner, outer vg.Rectangle) bool {
	return inner.Min.X >= outer.Min.X && inner.Max.X <= outer.Max.X && inner.Min.Y >= outer.Min.Y && inner.Max.Y <= outer.Max.Y
}

func shrink(r vg.Rectangle, by vg.Length) vg.Rectangle {
	return vg.Rectangle{Min: vg.Point{X: r.Min.X + by, Y: r.Min.Y + by}, Max: vg.Point{X: r.Max.X - by, Y: r.Max.Y - by}}
}

// textsIn returns the strings drawn inside area.
func textsIn(texts []drawn, area vg.Rectangle) []drawn {
	var out []drawn
	for _, d := range texts {
		if inside(d.box, area) {
			out = append(out, d)
		}
	}
	return out
}

var (
	chartStart = time.Date(2026, 11, 25, 22, 0, 0, 0, time.UTC)
	chartEnd   = chartStart.Add(4 * time.Hour) // crosses midnight
)

// TestChartLayoutProperties: over sizes, series counts and long titles,
// every label stays inside the canvas with a margin, the legend never
// covers the plot, tick labels never overlap, and the legend names every
// series or says how many it left out.
func TestChartLayoutProperties(t *testing.T) {
	long := `sum by (instance, job, mode) (rate(node_cpu_seconds_total{job="node", mode!="idle", instance=~"host-.*"}[5m])) / on (instance) group_left count by (instance) (node_cpu_seconds_total{mode="idle"})`
	sizes := [][2]int{{MinChartWidth, MinChartHeight}, {640, 360}, {1200, 600}, {1920, 1080}}
	for _, size := range sizes {
		for _, n := range []int{0, 1, 7, 13, 40, 300} {
			for _, title := range []string{"up", long} {
				name := fmt.Sprintf("%dx%d/%d series/title %d", size[0], size[1], n, len(title))
				t.Run(name, func(t *testing.T) {
					r := chartSeries(n, chartStart, chartEnd, time.Minute, func(i int, tm time.Time) float64 {
						return float64(i+1) * 1e7 * (1 + math.Sin(float64(tm.Unix())/900+float64(i)))
					})
					lay, texts, _ := recordChart(t, size[0], size[1], Options{Title: title, Start: chartStart, End: chartEnd, Unit: UnitBytes}, r)
					canvas := shrink(lay.canvas, px(chartPad)/2)
					for _, d := range texts {
						if !inside(d.box, canvas) {
							t.Errorf("%q at %v leaves the canvas %v (less than %.0fpx from the edge)", d.text, d.box, lay.canvas, chartPad/2)
						}
						if overlaps(d.box, lay.data) && d.text != "No data" {
							t.Errorf("%q at %v is drawn over the plot %v", d.text, d.box, lay.data)
						}
					}
					if overlaps(lay.legend, lay.data) {
						t.Errorf("legend %v overlaps plot %v", lay.legend, lay.data)
					}
					// Tick labels do not overlap one another.
					for i := range texts {
						for j := i + 1; j < len(texts); j++ {
							if overlaps(texts[i].box, texts[j].box) {
								t.Errorf("%q and %q overlap", texts[i].text, texts[j].text)
							}
						}
					}
					// The legend names series in order; "+N more" counts the rest.
					names, short := legendNames(r.Series, title)
					entries := lay.legendEntries
					if n == 0 {
						if len(entries) != 0 {
							t.Fatalf("legend without series: %q", entries)
						}
						return
					}
					shown := len(entries)
					if m := regexp.MustCompile(`^\+(\d+) more$`).FindStringSubmatch(entries[len(entries)-1]); m != nil {
						shown--
						if k, _ := strconv.Atoi(m[1]); k != n-shown || k == 0 {
							t.Errorf("legend shows %d of %d series and says %q", shown, n, entries[len(entries)-1])
						}
					} else if shown != n {
						t.Errorf("legend shows %d of %d series and says nothing of the rest", shown, n)
					}
					for i := range shown {
						e := entries[i]
						cut := strings.TrimSuffix(e, "…")
						if e != names[i] && !(strings.HasSuffix(e, "…") && strings.HasPrefix(short[i], cut)) {
							t.Errorf("legend entry %d is %q, want %q or the start of %q", i, e, names[i], short[i])
						}
					}
					legendTexts := textsIn(texts, lay.legend)
					if len(legendTexts) != len(entries) {
						t.Errorf("%d texts drawn in the legend area, %d entries", len(legendTexts), len(entries))
					}
				})
			}
		}
	}
}

// TestChartLegendNamesThirteen: the case seen (13 series got no legend at all).
func TestChartLegendNamesThirteen(t *testing.T) {
	r := chartSeries(13, chartStart, chartEnd, time.Minute, func(i int, _ time.Time) float64 { return float64(i) })
	lay, texts, _ := recordChart(t, 1200, 600, Options{Title: "node_memory_used_bytes", Start: chartStart, End: chartEnd}, r)
	if len(lay.legendEntries) != 13 {
		t.Fatalf("legend entries %q, want 13", lay.legendEntries)
	}
	for i, e := range lay.legendEntries {
		want := fmt.Sprintf(`node_memory_used_bytes{instance="host-%02d.example.org:9100"}`, i)
		if e != want {
			t.Errorf("entry %d = %q, want %q (the labels every series shares left out)", i, e, want)
		}
	}
	if got := textsIn(texts, lay.legend); len(got) != 13 {
		t.Fatalf("%d legend texts drawn", len(got))
	}
}

// TestChartSeriesColours: 13 series get 13 different colours, and the palette
// has at least 10 colours far apart in CIELAB and readable on white.
func TestChartSeriesColours(t *testing.T) {
	if len(chartPalette) < 10 {
		t.Fatalf("palette of %d colours", len(chartPalette))
	}
	for i := range chartPalette {
		if l, _, _ := cieLab(chartPalette[i]); l > 85 {
			t.Errorf("colour %d (%v) is too light on white: L*=%.0f", i, chartPalette[i], l)
		}
		for j := i + 1; j < len(chartPalette); j++ {
			if d := deltaE(chartPalette[i], chartPalette[j]); d < 20 {
				t.Errorf("colours %d and %d differ by ΔE %.1f only", i, j, d)
			}
		}
	}
	r := chartSeries(13, chartStart, chartEnd, time.Minute, func(i int, _ time.Time) float64 { return float64(i) })
	_, _, rec := recordChart(t, 1200, 600, Options{Start: chartStart, End: chartEnd}, r)
	var cur color.Color
	var width vg.Length
	used := map[color.RGBA]bool{}
	for _, a := range rec.Actions {
		switch a := a.(type) {
		case *recorder.SetColor:
			cur = a.Color
		case *recorder.SetLineWidth:
			width = a.Width
		case *recorder.Stroke:
			if width == px(1.5) {
				used[color.RGBAModel.Convert(cur).(color.RGBA)] = true
			}
		}
	}
	if len(used) != 13 {
		t.Fatalf("13 series drawn in %d colours", len(used))
	}
}

// TestChartXDomainIsTheRange: data over the middle half of the range is
// drawn in the middle half of the plot.
func TestChartXDomainIsTheRange(t *testing.T) {
	from, to := chartStart.Add(time.Hour), chartEnd.Add(-time.Hour)
	r := chartSeries(1, from, to, time.Minute, func(int, time.Time) float64 { return 5 })
	lay, _, rec := recordChart(t, 1200, 600, Options{Start: chartStart, End: chartEnd}, r)
	if lay.xMin != float64(chartStart.UnixMilli()) || lay.xMax != float64(chartEnd.UnixMilli()) {
		t.Fatalf("x domain %v to %v, want the range asked for", time.UnixMilli(int64(lay.xMin)), time.UnixMilli(int64(lay.xMax)))
	}
	lo, hi := vg.Length(math.Inf(1)), vg.Length(math.Inf(-1))
	var width vg.Length
	for _, a := range rec.Actions {
		switch a := a.(type) {
		case *recorder.SetLineWidth:
			width = a.Width
		case *recorder.Stroke:
			if width != px(1.5) {
				continue
			}
			for _, c := range a.Path {
				lo, hi = min(lo, c.Pos.X), max(hi, c.Pos.X)
			}
		}
	}
	w := lay.data.Max.X - lay.data.Min.X
	if math.Abs(float64((lo-lay.data.Min.X)/w-0.25)) > 0.001 || math.Abs(float64((hi-lay.data.Min.X)/w-0.75)) > 0.001 {
		t.Fatalf("the line spans %.3f to %.3f of the plot's width, want 0.25 to 0.75",
			(lo-lay.data.Min.X)/w, (hi-lay.data.Min.X)/w)
	}
	// Without a range (a result converted on its own) the data decides.
	lay, _, _ = recordChart(t, 1200, 600, Options{}, r)
	if lay.xMin != float64(from.UnixMilli()) || lay.xMax != float64(to.UnixMilli()) {
		t.Fatalf("x domain without a range: %v to %v", lay.xMin, lay.xMax)
	}
}

// TestChartTickLabels: what the reader sees on the axes, as drawn.
func TestChartTickLabels(t *testing.T) {
	r := chartSeries(2, chartStart, chartEnd, 15*time.Second, func(i int, tm time.Time) float64 {
		return 6e7 + float64(i)*1e7 + 1e7*math.Sin(float64(tm.Unix())/600)
	})
	lay, texts, _ := recordChart(t, 1200, 600, Options{Title: "q", Start: chartStart, End: chartEnd}, r)
	below := vg.Rectangle{Min: vg.Point{X: 0, Y: lay.legend.Max.Y}, Max: vg.Point{X: lay.canvas.Max.X, Y: lay.data.Min.Y}}
	left := vg.Rectangle{Min: vg.Point{X: 0, Y: lay.data.Min.Y - px(10)}, Max: vg.Point{X: lay.data.Min.X, Y: lay.data.Max.Y + px(10)}}
	var xs, ys []string
	for _, d := range textsIn(texts, below) {
		xs = append(xs, d.text)
	}
	for _, d := range textsIn(texts, left) {
		ys = append(ys, d.text)
	}
	wantX := []string{"22:00", "22:30", "23:00", "23:30", "Nov 26", "00:30", "01:00", "01:30", "02:00"}
	if !slices.Equal(xs, wantX) {
		t.Errorf("x labels %q, want %q", xs, wantX)
	}
	for _, y := range ys {
		if !regexp.MustCompile(`^\d+M$`).MatchString(y) {
			t.Errorf("y label %q is not a round number of M", y)
		}
	}
	if len(ys) < 4 {
		t.Errorf("y labels %q", ys)
	}
	var got []string
	for _, tk := range lay.yTicks {
		got = append(got, tk.label)
	}
	if !slices.Equal(got, ys) {
		t.Errorf("y labels drawn %q, ticks %q", ys, got)
	}
}

// TestTimeTicks: round steps, no duplicates, the date across midnight, and
// labels that fit the width, over chosen and random ranges.
func TestTimeTicks(t *testing.T) {
	st := textStyle{face: mustFace(t, chartTickSize)}
	measure := func(s string) float64 { return float64(st.width(s)) }
	gap := float64(px(chartTickGap))
	at := func(s string) int64 {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm.UnixMilli()
	}
	tests := []struct {
		name       string
		start, end string
		widthPx    float64
		want       []string
	}{
		{"one hour", "2026-11-25T10:00:00Z", "2026-11-25T11:00:00Z", 1100, []string{"10:00", "10:05", "10:10", "10:15", "10:20", "10:25", "10:30", "10:35", "10:40", "10:45", "10:50", "10:55", "11:00"}},
		{"one hour, unaligned", "2026-11-25T10:02:13Z", "2026-11-25T11:02:13Z", 600, []string{"10:10", "10:20", "10:30", "10:40", "10:50", "11:00"}},
		{"across midnight", "2026-11-25T21:00:00Z", "2026-11-26T03:00:00Z", 1100, []string{"21:00", "21:30", "22:00", "22:30", "23:00", "23:30", "Nov 26", "00:30", "01:00", "01:30", "02:00", "02:30", "03:00"}},
		{"a few minutes", "2026-11-25T10:00:00Z", "2026-11-25T10:03:00Z", 1100, []string{"10:00:00", "10:00:15", "10:00:30", "10:00:45", "10:01:00", "10:01:15", "10:01:30", "10:01:45", "10:02:00", "10:02:15", "10:02:30", "10:02:45", "10:03:00"}},
		{"two days", "2026-11-25T00:00:00Z", "2026-11-27T00:00:00Z", 1100, []string{"Nov 25", "Nov 25 06:00", "Nov 25 12:00", "Nov 25 18:00", "Nov 26", "Nov 26 06:00", "Nov 26 12:00", "Nov 26 18:00", "Nov 27"}},
		{"a month: weeks start on Mondays", "2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z", 1100, []string{"Nov 2", "Nov 9", "Nov 16", "Nov 23", "Nov 30"}},
		{"a week", "2026-11-20T00:00:00Z", "2026-11-27T00:00:00Z", 1100, []string{"Nov 20", "Nov 21", "Nov 22", "Nov 23", "Nov 24", "Nov 25", "Nov 26", "Nov 27"}},
		{"two years", "2025-06-15T00:00:00Z", "2027-06-15T00:00:00Z", 1100, []string{"Jul 2025", "Oct 2025", "Jan 2026", "Apr 2026", "Jul 2026", "Oct 2026", "Jan 2027", "Apr 2027"}},
		{"across new year", "2026-12-30T00:00:00Z", "2027-01-03T00:00:00Z", 1100, []string{"2026-12-30", "2026-12-30 12:00", "2026-12-31", "2026-12-31 12:00", "2027-01-01", "2027-01-01 12:00", "2027-01-02", "2027-01-02 12:00", "2027-01-03"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ticks := timeTicks(at(tc.start), at(tc.end), float64(px(tc.widthPx)), measure, gap)
			var got []string
			for _, tk := range ticks {
				got = append(got, tk.label)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("labels\n%q\nwant\n%q", got, tc.want)
			}
		})
	}

	rng := rand.New(rand.NewPCG(1, 2))
	spans := []time.Duration{5 * time.Second, time.Minute, 10 * time.Minute, time.Hour, 6 * time.Hour, 23 * time.Hour, 24 * time.Hour, 25 * time.Hour, 3 * day, 9 * day, 40 * day, 200 * day, 800 * day}
	for range 2000 {
		span := spans[rng.IntN(len(spans))]
		span += time.Duration(rng.Int64N(int64(span / 3)))
		start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(rng.Int64N(int64(365 * day)))).Truncate(time.Millisecond)
		widthPx := 200 + rng.Float64()*1800
		s, e := start.UnixMilli(), start.Add(span).UnixMilli()
		width := float64(px(widthPx))
		ticks := timeTicks(s, e, width, measure, gap)
		name := fmt.Sprintf("%s + %s over %.0fpx", start.Format(time.RFC3339Nano), span, widthPx)
		if len(ticks) < 1 {
			t.Fatalf("%s: no tick", name)
		}
		seen := map[string]bool{}
		step := 0.0
		if len(ticks) > 1 {
			step = ticks[1].v - ticks[0].v
		}
		crossesMidnight := time.UnixMilli(s).UTC().YearDay() != time.UnixMilli(e).UTC().YearDay()
		dated := false
		for i, tk := range ticks {
			if tk.v < float64(s) || tk.v > float64(e) {
				t.Fatalf("%s: tick %q outside the range", name, tk.label)
			}
			if seen[tk.label] {
				t.Fatalf("%s: label %q twice", name, tk.label)
			}
			seen[tk.label] = true
			if regexp.MustCompile(`[A-Z][a-z][a-z]|\d{4}`).MatchString(tk.label) {
				dated = true
			}
			if i > 0 {
				if d := tk.v - ticks[i-1].v; d <= 0 {
					t.Fatalf("%s: ticks not ascending", name)
				} else if step < float64(28*day/time.Millisecond) && d != step {
					t.Fatalf("%s: uneven steps %v and %v", name, step, d)
				}
				if pitch := (tk.v - ticks[i-1].v) / float64(e-s) * width; pitch < measure(tk.label)/2+measure(ticks[i-1].label)/2+gap {
					t.Fatalf("%s: labels %q and %q too close", name, ticks[i-1].label, tk.label)
				}
			}
		}
		if len(ticks) > 1 && step < float64(28*day/time.Millisecond) {
			if !slices.ContainsFunc(timeSteps, func(ts timeStep) bool { return float64(ts.d.Milliseconds()) == step }) {
				t.Fatalf("%s: step %vms is not a round step", name, step)
			}
			if off := int64(ticks[0].v) % int64(step); off != 0 && step < float64(7*day/time.Millisecond) {
				t.Fatalf("%s: ticks not on multiples of the step", name)
			}
		}
		if crossesMidnight && !dated {
			t.Fatalf("%s: the range crosses midnight but no label has the date: %v", name, ticks)
		}
	}
}

// TestValueTicks: SI prefixes and Grafana's units on round ticks.
func TestValueTicks(t *testing.T) {
	tests := []struct {
		name   string
		lo, hi float64
		unit   Unit
		want   []string
	}{
		{"the 6e+07 seen", 0, 6e7, UnitNone, []string{"0", "10M", "20M", "30M", "40M", "50M", "60M"}},
		{"thousands", 1200, 4800, UnitNone, []string{"1k", "1.5k", "2k", "2.5k", "3k", "3.5k", "4k", "4.5k", "5k"}},
		{"small", 0.0013, 0.0061, UnitNone, []string{"0.001", "0.002", "0.003", "0.004", "0.005", "0.006", "0.007"}},
		{"negative", -3e9, 2e9, UnitNone, []string{"-3G", "-2G", "-1G", "0", "1G", "2G"}},
		{"bytes", 0, 3.2 * (1 << 30), UnitBytes, []string{"0 B", "0.5 GiB", "1 GiB", "1.5 GiB", "2 GiB", "2.5 GiB", "3 GiB", "3.5 GiB"}},
		{"bytes small", 100, 900, UnitBytes, []string{"100 B", "200 B", "300 B", "400 B", "500 B", "600 B", "700 B", "800 B", "900 B"}},
		{"MiB", 200 << 20, 700 << 20, UnitBytes, []string{"200 MiB", "300 MiB", "400 MiB", "500 MiB", "600 MiB", "700 MiB"}},
		{"latency", 0.004, 0.25, UnitSeconds, []string{"0 s", "50 ms", "100 ms", "150 ms", "200 ms", "250 ms"}},
		{"seconds", 0, 45, UnitSeconds, []string{"0 s", "5 s", "10 s", "15 s", "20 s", "25 s", "30 s", "35 s", "40 s", "45 s"}},
		{"minutes", 0, 3000, UnitSeconds, []string{"0 s", "10 min", "20 min", "30 min", "40 min", "50 min"}},
		{"hours", 0, 20 * 3600, UnitSeconds, []string{"0 s", "3 h", "6 h", "9 h", "12 h", "15 h", "18 h", "21 h"}},
		{"percent", 0, 100, UnitPercent, []string{"0%", "25%", "50%", "75%", "100%"}},
		{"percent narrow", 97.2, 99.9, UnitPercent, []string{"97%", "97.5%", "98%", "98.5%", "99%", "99.5%", "100%"}},
		{"constant", 5, 5, UnitNone, []string{"4.5", "5", "5.5"}},
		{"all zero", 0, 0, UnitNone, []string{"-1", "-0.5", "0", "0.5", "1"}},
		{"micro", 2e-6, 9e-6, UnitNone, []string{"2µ", "3µ", "4µ", "5µ", "6µ", "7µ", "8µ", "9µ"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			maxTicks := 10
			if tc.name == "percent" || tc.name == "constant" || tc.name == "all zero" {
				maxTicks = 5
			}
			lo, hi, ticks := valueTicks(tc.lo, tc.hi, maxTicks, tc.unit)
			var got []string
			for _, tk := range ticks {
				got = append(got, tk.label)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("labels %q, want %q", got, tc.want)
			}
			if lo > tc.lo || hi < tc.hi {
				t.Errorf("domain %v..%v does not cover %v..%v", lo, hi, tc.lo, tc.hi)
			}
		})
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 5000 {
		mag := math.Pow(10, float64(rng.IntN(30)-12))
		a, b := (rng.Float64()*2-0.5)*mag, (rng.Float64()*2-0.5)*mag
		lo, hi := min(a, b), max(a, b)
		u := []Unit{UnitNone, UnitBytes, UnitSeconds, UnitPercent}[rng.IntN(4)]
		n := 3 + rng.IntN(12)
		dlo, dhi, ticks := valueTicks(lo, hi, n, u)
		name := fmt.Sprintf("%g..%g in %d ticks (%q)", lo, hi, n, u)
		if dlo > lo || dhi < hi || len(ticks) < 2 || len(ticks) > n {
			t.Fatalf("%s: domain %g..%g, %d ticks", name, dlo, dhi, len(ticks))
		}
		seen := map[string]bool{}
		for _, tk := range ticks {
			if seen[tk.label] || strings.Contains(tk.label, "e+") || strings.Contains(tk.label, "e-") {
				t.Fatalf("%s: label %q (repeated or in e-notation): %v", name, tk.label, ticks)
			}
			seen[tk.label] = true
		}
	}
}

func TestParseUnit(t *testing.T) {
	for in, want := range map[string]Unit{"bytes": UnitBytes, "Seconds": UnitSeconds, "s": UnitSeconds, "percent": UnitPercent, "": UnitNone} {
		if got, err := ParseUnit(in); err != nil || got != want {
			t.Errorf("ParseUnit(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseUnit("furlongs"); err == nil {
		t.Error("unknown unit accepted")
	}
}

// TestChartFiles: the PNG has the size asked for; the SVG carries the font
// it was laid out with. With PROMGATE_CHART_SAMPLES=dir the charts are kept
// there to be looked at.
func TestChartFiles(t *testing.T) {
	dir := os.Getenv("PROMGATE_CHART_SAMPLES")
	samples := []struct {
		name string
		n    int
		unit Unit
		opt  Options
	}{
		{"13-series-bytes", 13, UnitBytes, Options{Width: 1200, Height: 600}},
		{"300-series", 300, UnitNone, Options{Width: 1200, Height: 600}},
		{"small", 3, UnitSeconds, Options{Width: MinChartWidth, Height: MinChartHeight}},
		{"no-data", 0, UnitNone, Options{Width: 800, Height: 400}},
	}
	for _, s := range samples {
		for _, f := range []Format{PNG, SVG} {
			opt := s.opt
			opt.Format, opt.Unit, opt.Start, opt.End = f, s.unit, chartStart, chartEnd
			opt.Title = `sum by (instance) (node_memory_MemTotal_bytes - node_memory_MemAvailable_bytes)`
			r := chartSeries(s.n, chartStart.Add(20*time.Minute), chartEnd, time.Minute, func(i int, tm time.Time) float64 {
				v := float64(i+2) * (1 << 28) * (1.2 + math.Sin(float64(tm.Unix())/1200+float64(i)))
				if s.unit == UnitSeconds {
					v /= 1 << 36
				}
				return v
			})
			var out bytes.Buffer
			if err := writeChart(&out, opt, r); err != nil {
				t.Fatalf("%s.%s: %v", s.name, f, err)
			}
			if f == PNG {
				img, err := png.Decode(bytes.NewReader(out.Bytes()))
				if err != nil {
					t.Fatalf("%s: not a PNG: %v", s.name, err)
				}
				if b := img.Bounds(); b.Dx() != opt.Width || b.Dy() != opt.Height {
					t.Fatalf("%s: %v, want %dx%d", s.name, b, opt.Width, opt.Height)
				}
			} else if !bytes.Contains(out.Bytes(), []byte("@font-face")) || !bytes.Contains(out.Bytes(), []byte("font-family:Go;")) {
				t.Fatalf("%s: the SVG does not embed the Go font", s.name)
			}
			if dir != "" {
				if err := os.WriteFile(filepath.Join(dir, s.name+"."+string(f)), out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	for _, size := range [][2]int{{MinChartWidth - 1, 600}, {1200, MinChartHeight - 1}, {MaxChartSide + 1, 600}} {
		err := writeChart(&bytes.Buffer{}, Options{Format: PNG, Width: size[0], Height: size[1]}, &Result{Type: TypeMatrix})
		if err == nil || !strings.Contains(err.Error(), "width and height must be") {
			t.Errorf("size %v: %v", size, err)
		}
	}
}

func mustFace(t *testing.T, size float64) font.Face {
	t.Helper()
	f, err := chartFace(size)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// cieLab converts sRGB to CIELAB (D65).
func cieLab(c color.RGBA) (l, a, b float64) {
	lin := func(v uint8) float64 {
		x := float64(v) / 255
		if x <= 0.04045 {
			return x / 12.92
		}
		return math.Pow((x+0.055)/1.055, 2.4)
	}
	r, g, bl := lin(c.R), lin(c.G), lin(c.B)
	x := (0.4124*r + 0.3576*g + 0.1805*bl) / 0.95047
	y := 0.2126*r + 0.7152*g + 0.0722*bl
	z := (0.0193*r + 0.1192*g + 0.9505*bl) / 1.08883
	f := func(t float64) float64 {
		if t > 0.008856 {
			return math.Cbrt(t)
		}
		return 7.787*t + 16.0/116
	}
	fx, fy, fz := f(x), f(y), f(z)
	return 116*fy - 16, 500 * (fx - fy), 200 * (fy - fz)
}

func deltaE(p, q color.RGBA) float64 {
	l1, a1, b1 := cieLab(p)
	l2, a2, b2 := cieLab(q)
	return math.Sqrt((l1-l2)*(l1-l2) + (a1-a2)*(a1-a2) + (b1-b2)*(b1-b2))
}
