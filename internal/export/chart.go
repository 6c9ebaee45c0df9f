package export

import (
	"errors"
	"fmt"
	"io"
	"math"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// maxLegend is the most series named in a chart's legend; beyond it a legend
// would cover the lines and say nothing readable.
const maxLegend = 12

// ErrChartNeedsRange is returned for a chart of anything but a range result.
var ErrChartNeedsRange = errors.New("png and svg charts need a range query (query-range)")

// writeChart draws a line per float series of a matrix. Lines break at gaps
// (missing steps) and at NaN or infinite values; native histograms are not drawn.
func writeChart(w io.Writer, opt Options, r *Result) error {
	if r.Type != TypeMatrix && !(r.Type == "" && len(r.Series) == 0) {
		return ErrChartNeedsRange
	}
	p := plot.New()
	p.Title.Text = opt.Title
	p.X.Label.Text = "time (UTC)"
	p.Legend.Top = true
	p.Legend.Left = true
	p.Add(plotter.NewGrid())

	minT, maxT := int64(math.MaxInt64), int64(math.MinInt64)
	for _, s := range r.Series {
		if len(s.T) > 0 {
			minT, maxT = min(minT, s.T[0]), max(maxT, s.T[len(s.T)-1])
		}
	}
	format := "15:04"
	if maxT-minT > 2*24*3600*1000 {
		format = "01-02 15:04"
	}
	p.X.Tick.Marker = plot.TimeTicks{Format: format}
	if minT > maxT {
		p.Title.Text += " (no data)"
	}

	for i, s := range r.Series {
		segs := segments(s)
		c := plotutil.Color(i)
		for j, seg := range segs {
			var line plot.Plotter
			if len(seg) == 1 {
				sc, err := plotter.NewScatter(seg)
				if err != nil {
					return fmt.Errorf("drawing chart: %w", err)
				}
				sc.Color = c
				sc.Radius = vg.Points(1.5)
				line = sc
			} else {
				l, err := plotter.NewLine(seg)
				if err != nil {
					return fmt.Errorf("drawing chart: %w", err)
				}
				l.Color = c
				l.Width = vg.Points(1)
				line = l
			}
			p.Add(line)
			if j == 0 && len(r.Series) <= maxLegend {
				if th, ok := line.(plot.Thumbnailer); ok {
					p.Legend.Add(s.Metric.String(), th)
				}
			}
		}
	}

	width, height := opt.Width, opt.Height
	if width <= 0 {
		width = 1200
	}
	if height <= 0 {
		height = 600
	}
	const dpi = 96
	wl, hl := vg.Length(width)*vg.Inch/dpi, vg.Length(height)*vg.Inch/dpi
	switch opt.Format {
	case PNG:
		c := vgimg.NewWith(vgimg.UseWH(wl, hl), vgimg.UseDPI(dpi))
		p.Draw(draw.New(c))
		if _, err := (vgimg.PngCanvas{Canvas: c}).WriteTo(w); err != nil {
			return fmt.Errorf("writing png: %w", err)
		}
	case SVG:
		c := vgsvg.New(wl, hl)
		p.Draw(draw.New(c))
		if _, err := c.WriteTo(w); err != nil {
			return fmt.Errorf("writing svg: %w", err)
		}
	default:
		return fmt.Errorf("%s is not a chart format", opt.Format)
	}
	return nil
}

// segments splits a series into runs of finite values without gaps, a gap
// being more than 1.5 times the usual distance between samples.
func segments(s *Series) []plotter.XYs {
	if len(s.T) == 0 {
		return nil
	}
	var step int64 = math.MaxInt64
	for i := 1; i < len(s.T); i++ {
		step = min(step, s.T[i]-s.T[i-1])
	}
	var out []plotter.XYs
	var cur plotter.XYs
	for i, t := range s.T {
		v := s.V[i]
		broken := math.IsNaN(v) || math.IsInf(v, 0)
		if len(cur) > 0 && (broken || float64(t-s.T[i-1]) > 1.5*float64(step)) {
			out = append(out, cur)
			cur = nil
		}
		if !broken {
			cur = append(cur, plotter.XY{X: float64(t) / 1000, Y: v})
		}
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i][0].X < out[j][0].X })
	return out
}
