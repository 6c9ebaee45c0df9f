package export

import (
	"errors"
	"fmt"
	"image/color"
	"io"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// ErrChartNeedsRange is returned for a chart of anything but a range result.
var ErrChartNeedsRange = errors.New("png and svg charts need a range query (query-range)")

// Chart size limits in pixels: below the minimum the labels leave no room
// for data; above the maximum a PNG would take hundreds of megabytes.
const (
	MinChartWidth, MinChartHeight = 300, 200
	MaxChartSide                  = 10000
)

// chartDPI maps the pixels of --width and --height to the points gonum draws in.
const chartDPI = 96

// px is n CSS pixels as a gonum length.
func px(n float64) vg.Length { return vg.Length(n * 72 / chartDPI) }

// chartPalette is modelled on Grafana's classic palette: its first eight
// colours, then the ones of it that stay farthest (CIELAB) from those
// already taken and readable on white. Any two differ by ΔE76 > 25.
var chartPalette = []color.RGBA{
	{0x7e, 0xb2, 0x6d, 0xff}, {0xea, 0xb8, 0x39, 0xff}, {0x6e, 0xd0, 0xe0, 0xff}, {0xef, 0x84, 0x3c, 0xff},
	{0xe2, 0x4d, 0x42, 0xff}, {0x1f, 0x78, 0xc1, 0xff}, {0xba, 0x43, 0xa9, 0xff}, {0x70, 0x5d, 0xa0, 0xff},
	{0x58, 0x14, 0x0c, 0xff}, {0x2f, 0x57, 0x5e, 0xff}, {0xe5, 0xa8, 0xe2, 0xff}, {0xf2, 0x91, 0x91, 0xff},
	{0x51, 0x17, 0x49, 0xff}, {0x05, 0x2b, 0x51, 0xff}, {0x96, 0x73, 0x02, 0xff}, {0x3f, 0x68, 0x33, 0xff},
}

var (
	chartBackground = color.White
	chartGrid       = color.RGBA{0xe4, 0xe6, 0xea, 0xff}
	chartText       = color.RGBA{0x24, 0x29, 0x2e, 0xff}
	chartMuted      = color.RGBA{0x5a, 0x60, 0x68, 0xff}
)

// chartTypeface is Go's sans-serif font (golang.org/x/image/font/gofont),
// parsed once; the SVG embeds it so every viewer draws the same glyphs.
var chartTypeface = sync.OnceValues(func() (*opentype.Font, error) {
	return opentype.Parse(goregular.TTF)
})

// chartFace is the chart font at size pixels.
func chartFace(size float64) (font.Face, error) {
	f, err := chartTypeface()
	if err != nil {
		return font.Face{}, fmt.Errorf("chart font: %w", err)
	}
	return font.Face{Font: font.Font{Typeface: "Go", Size: px(size)}, Face: f}, nil
}

// textStyle draws single lines at a baseline; widths and extents come from
// the font itself, so layout and drawing agree to the point.
type textStyle struct {
	face  font.Face
	color color.Color
}

func (s textStyle) width(str string) vg.Length { return s.face.Width(str) }
func (s textStyle) ascent() vg.Length          { return s.face.Extents().Ascent }
func (s textStyle) descent() vg.Length         { return s.face.Extents().Descent }
func (s textStyle) height() vg.Length          { return s.ascent() + s.descent() }

func (s textStyle) draw(c vg.Canvas, x, baseline vg.Length, str string) {
	c.SetColor(s.color)
	c.FillString(s.face, vg.Point{X: x, Y: baseline}, str)
}

// fit shortens str with an ellipsis until it is at most w wide.
func (s textStyle) fit(str string, w vg.Length) string {
	if s.width(str) <= w {
		return str
	}
	r := []rune(str)
	lo, hi := 0, len(r) // the longest prefix that fits is in [lo, hi)
	for lo+1 < hi {
		mid := (lo + hi) / 2
		if s.width(string(r[:mid])+"…") <= w {
			lo = mid
		} else {
			hi = mid
		}
	}
	if lo == 0 {
		return "…"
	}
	return strings.TrimRight(string(r[:lo]), " ") + "…"
}

// chartLayout is where everything went, for tests and for drawing.
type chartLayout struct {
	canvas, data, legend vg.Rectangle
	xMin, xMax           float64 // ms: the x domain
	yMin, yMax           float64
	xTicks, yTicks       []tick
	legendEntries        []string // as drawn, "+N more" last when some did not fit
}

// Layout sizes in pixels.
const (
	chartPad        = 12.0
	chartTitleSize  = 15.0
	chartTickSize   = 12.0
	chartLegendSize = 12.0
	chartTitleGap   = 12.0 // title row to plot
	chartXLabelGap  = 8.0  // plot to x tick labels
	chartYLabelGap  = 8.0  // y tick labels to plot
	chartLegendGap  = 14.0 // x tick labels to legend
	chartTickGap    = 36.0 // least space between x tick labels
	chartRowHeight  = 20.0 // a legend row
	chartSwatch     = 14.0 // a legend colour mark
	chartSwatchGap  = 6.0
	chartEntryGap   = 18.0
)

// writeChart draws a line per float series of a matrix over the requested
// range. Lines break at gaps (missing steps) and at NaN or infinite values;
// native histograms are not drawn.
func writeChart(w io.Writer, opt Options, r *Result) error {
	if r.Type != TypeMatrix && !(r.Type == "" && len(r.Series) == 0) {
		return ErrChartNeedsRange
	}
	width, height := opt.Width, opt.Height
	if width <= 0 {
		width = 1200
	}
	if height <= 0 {
		height = 600
	}
	if width < MinChartWidth || height < MinChartHeight || width > MaxChartSide || height > MaxChartSide {
		return fmt.Errorf("chart size %dx%d: width and height must be %dx%d to %d pixels", width, height, MinChartWidth, MinChartHeight, MaxChartSide)
	}
	wl, hl := px(float64(width)), px(float64(height))
	switch opt.Format {
	case PNG:
		c := vgimg.NewWith(vgimg.UseWH(wl, hl), vgimg.UseDPI(chartDPI))
		if _, err := drawChart(c, wl, hl, opt, r); err != nil {
			return err
		}
		if _, err := (vgimg.PngCanvas{Canvas: c}).WriteTo(w); err != nil {
			return fmt.Errorf("writing png: %w", err)
		}
	case SVG:
		c := vgsvg.NewWith(vgsvg.UseWH(wl, hl), vgsvg.EmbedFonts(true))
		if _, err := drawChart(c, wl, hl, opt, r); err != nil {
			return err
		}
		if _, err := c.WriteTo(w); err != nil {
			return fmt.Errorf("writing svg: %w", err)
		}
	default:
		return fmt.Errorf("%s is not a chart format", opt.Format)
	}
	return nil
}

// drawChart lays the chart out on a w×h canvas and draws it: the title and
// the range on top, the plot, x tick labels under it, the legend below
// them (never over the plot).
func drawChart(c vg.Canvas, w, h vg.Length, opt Options, r *Result) (chartLayout, error) {
	var lay chartLayout
	lay.canvas = vg.Rectangle{Max: vg.Point{X: w, Y: h}}
	titleFace, err := chartFace(chartTitleSize)
	if err != nil {
		return lay, err
	}
	tickFace, _ := chartFace(chartTickSize)
	legendFace, _ := chartFace(chartLegendSize)
	titleSt := textStyle{titleFace, chartText}
	tickSt := textStyle{tickFace, chartMuted}
	legendSt := textStyle{legendFace, chartText}
	pad := px(chartPad)

	// The series as runs of finite points, and the data's extent.
	runs := make([][][][2]float64, len(r.Series))
	ylo, yhi := math.Inf(1), math.Inf(-1)
	tlo, thi := int64(math.MaxInt64), int64(math.MinInt64)
	for i, s := range r.Series {
		runs[i] = segments(s)
		for _, run := range runs[i] {
			for _, p := range run {
				ylo, yhi = math.Min(ylo, p[1]), math.Max(yhi, p[1])
			}
		}
		if len(s.T) > 0 {
			tlo, thi = min(tlo, s.T[0]), max(thi, s.T[len(s.T)-1])
		}
	}
	noData := math.IsInf(ylo, 0)
	if noData {
		ylo, yhi = 0, 1
	}

	// The x domain is the range asked for, whatever the data covers.
	if !opt.Start.IsZero() && !opt.End.IsZero() {
		tlo, thi = opt.Start.UnixMilli(), opt.End.UnixMilli()
	}
	if tlo > thi {
		tlo, thi = 0, 0
	}
	if thi == tlo {
		tlo, thi = tlo-30_000, thi+30_000
	}
	lay.xMin, lay.xMax = float64(tlo), float64(thi)

	// Top row: the title on the left, the range on the right.
	titleBase := h - pad - titleSt.ascent()
	rangeText := rangeLabel(tlo, thi)
	if opt.Start.IsZero() || opt.End.IsZero() {
		rangeText = ""
	}
	avail := w - 2*pad
	title := opt.Title
	if rangeText != "" {
		rw := tickSt.width(rangeText)
		if avail-rw-px(24) < avail*0.4 {
			rangeText = ""
		} else {
			title = titleSt.fit(title, avail-rw-px(24))
		}
	}
	if rangeText == "" {
		title = titleSt.fit(title, avail)
	}
	dataTop := h - pad - titleSt.height() - px(chartTitleGap)

	// The legend: as many rows as fit in 30% of the height, below everything.
	names, short := legendNames(r.Series, opt.Title)
	fixed := pad + titleSt.height() + px(chartTitleGap) + px(chartXLabelGap) + tickSt.height() + pad
	maxLegend := min(h*0.3, h-fixed-px(80))
	maxRows := int(maxLegend / px(chartRowHeight))
	var entries []legendEntry
	rows := 0
	if len(names) > 0 && maxRows >= 1 {
		entries, rows = layoutLegend(names, short, avail, maxRows, legendSt)
	}
	legendH := vg.Length(rows) * px(chartRowHeight)
	legendTop := pad + legendH
	dataBottom := pad + tickSt.height() + px(chartXLabelGap)
	if rows > 0 {
		dataBottom += legendH + px(chartLegendGap)
	}
	if dataTop-dataBottom < px(40) {
		return lay, fmt.Errorf("chart of %gx%g pixels leaves no room for the plot", float64(w)*chartDPI/72, float64(h)*chartDPI/72)
	}

	// The y axis: round ticks at least 3.5 label heights apart.
	maxY := int((dataTop-dataBottom)/(tickSt.height()*3.5)) + 1
	lay.yMin, lay.yMax, lay.yTicks = valueTicks(ylo, yhi, maxY, opt.Unit)
	var yLabelW vg.Length
	for _, t := range lay.yTicks {
		yLabelW = max(yLabelW, tickSt.width(t.label))
	}
	dataLeft := pad + yLabelW + px(chartYLabelGap)
	dataRight := w - pad

	// The x axis: round ticks; make room on the right for the last label.
	measure := func(s string) float64 { return float64(tickSt.width(s)) }
	xTicks := func(right vg.Length) []tick {
		return timeTicks(tlo, thi, float64(right-dataLeft), measure, float64(px(chartTickGap)))
	}
	xPos := func(right vg.Length, v float64) vg.Length {
		return dataLeft + (right-dataLeft)*vg.Length((v-lay.xMin)/(lay.xMax-lay.xMin))
	}
	lay.xTicks = xTicks(dataRight)
	if n := len(lay.xTicks); n > 0 {
		last := lay.xTicks[n-1]
		if over := xPos(dataRight, last.v) + tickSt.width(last.label)/2 - (w - pad); over > 0 {
			dataRight -= over
			lay.xTicks = xTicks(dataRight)
		}
	}
	lay.data = vg.Rectangle{Min: vg.Point{X: dataLeft, Y: dataBottom}, Max: vg.Point{X: dataRight, Y: dataTop}}
	lay.legend = vg.Rectangle{Min: vg.Point{X: pad, Y: pad}, Max: vg.Point{X: w - pad, Y: legendTop}}
	dc := draw.Canvas{Canvas: c, Rectangle: lay.data}
	X := func(v float64) vg.Length { return xPos(dataRight, v) }
	Y := func(v float64) vg.Length {
		return dataBottom + (dataTop-dataBottom)*vg.Length((v-lay.yMin)/(lay.yMax-lay.yMin))
	}

	// Background and grid.
	c.SetColor(chartBackground)
	c.Fill(lay.canvas.Path())
	grid := draw.LineStyle{Color: chartGrid, Width: px(1)}
	for _, t := range lay.yTicks {
		y := Y(t.v)
		dc.StrokeLine2(grid, dataLeft, y, dataRight, y)
	}
	for _, t := range lay.xTicks {
		x := X(t.v)
		dc.StrokeLine2(grid, x, dataBottom, x, dataTop)
	}

	// The series, first at the bottom.
	for i, rs := range runs {
		col := chartPalette[i%len(chartPalette)]
		line := draw.LineStyle{Color: col, Width: px(1.5)}
		for _, run := range rs {
			pts := make([]vg.Point, len(run))
			for j, p := range run {
				pts[j] = vg.Point{X: X(p[0]), Y: Y(p[1])}
			}
			if len(pts) == 1 {
				dc.DrawGlyph(draw.GlyphStyle{Color: col, Radius: px(2), Shape: draw.CircleGlyph{}}, pts[0])
				continue
			}
			dc.StrokeLines(line, dc.ClipLinesXY(pts)...)
		}
	}
	if noData {
		msg := "No data"
		tickSt.draw(c, (dataLeft+dataRight)/2-tickSt.width(msg)/2, (dataBottom+dataTop)/2-tickSt.ascent()/2, msg)
	}

	// Tick labels: y right-aligned and centred on their line, x centred
	// under theirs; a label that would leave the canvas is left out.
	for _, t := range lay.yTicks {
		tickSt.draw(c, dataLeft-px(chartYLabelGap)-tickSt.width(t.label), Y(t.v)-(tickSt.ascent()-tickSt.descent())/2, t.label)
	}
	xBase := dataBottom - px(chartXLabelGap) - tickSt.ascent()
	for _, t := range lay.xTicks {
		lw := tickSt.width(t.label)
		x := X(t.v) - lw/2
		if x < pad || x+lw > w-pad {
			continue
		}
		tickSt.draw(c, x, xBase, t.label)
	}

	// Title and range.
	titleSt.draw(c, pad, titleBase, title)
	if rangeText != "" {
		tickSt.draw(c, w-pad-tickSt.width(rangeText), titleBase, rangeText)
	}

	// Legend.
	for _, e := range entries {
		top := legendTop - vg.Length(e.row)*px(chartRowHeight)
		base := top - (px(chartRowHeight)+legendSt.ascent()-legendSt.descent())/2
		x := pad + e.x
		if e.color >= 0 {
			col := chartPalette[e.color%len(chartPalette)]
			mid := base + (legendSt.ascent()-legendSt.descent())/2
			c.SetColor(col)
			c.Fill(vg.Rectangle{Min: vg.Point{X: x, Y: mid - px(2)}, Max: vg.Point{X: x + px(chartSwatch), Y: mid + px(2)}}.Path())
			x += px(chartSwatch + chartSwatchGap)
			legendSt.draw(c, x, base, e.text)
		} else {
			(textStyle{legendSt.face, chartMuted}).draw(c, x, base, e.text)
		}
		lay.legendEntries = append(lay.legendEntries, e.text)
	}
	return lay, nil
}

// rangeLabel writes the x domain as people read it, in UTC.
func rangeLabel(start, end int64) string {
	s, e := time.UnixMilli(start).UTC(), time.UnixMilli(end).UTC()
	layout := "2006-01-02 15:04"
	if s.Second() != 0 || e.Second() != 0 {
		layout = "2006-01-02 15:04:05"
	}
	endLayout := layout
	if s.Format("2006-01-02") == e.Format("2006-01-02") {
		endLayout = layout[len("2006-01-02 "):]
	}
	return s.Format(layout) + " to " + e.Format(endLayout) + " UTC"
}

// legendNames names each series by its metric name and the labels that
// tell it from the others (labels every series shares say nothing); a
// series without any is named by the query. short leaves out a metric name
// all series share, for when the full name does not fit.
func legendNames(series []*Series, query string) (full, short []string) {
	common := map[string]string{}
	if len(series) > 1 {
		for i, s := range series {
			if i == 0 {
				for _, l := range s.Metric {
					common[l.Name] = l.Value
				}
				continue
			}
			for name, v := range common {
				if !hasLabel(s.Metric, name) || s.Metric.Get(name) != v {
					delete(common, name)
				}
			}
		}
	}
	name := func(m Metric) string {
		switch {
		case len(m) == 0 && query != "":
			return query
		case len(m) == 1 && m[0].Name == metricNameLabel:
			return m[0].Value
		}
		return m.String()
	}
	full, short = make([]string, len(series)), make([]string, len(series))
	for i, s := range series {
		var m, ms Metric
		for _, l := range s.Metric {
			if _, shared := common[l.Name]; !shared {
				m, ms = append(m, l), append(ms, l)
			} else if l.Name == metricNameLabel {
				m = append(m, l)
			}
		}
		full[i], short[i] = name(m), name(ms)
	}
	return full, short
}

func hasLabel(m Metric, name string) bool {
	for _, l := range m {
		if l.Name == name {
			return true
		}
	}
	return false
}

// legendEntry is one placed legend item: a series (color >= 0) or "+N more".
type legendEntry struct {
	text  string
	color int
	row   int
	x     vg.Length // from the legend's left edge
}

// layoutLegend flows names into at most maxRows rows of width w. When they
// do not all fit, the last entry says how many were left out.
func layoutLegend(names, short []string, w vg.Length, maxRows int, st textStyle) ([]legendEntry, int) {
	mark := px(chartSwatch + chartSwatchGap)
	texts := make([]string, len(names))
	maxW := min(w-mark, w*0.6)
	for i, n := range names {
		if st.width(n) > maxW {
			n = st.fit(short[i], maxW)
		}
		texts[i] = n
	}
	// place flows items after the given ones; ok is false past maxRows.
	place := func(placed []legendEntry, text string, color int) (legendEntry, bool) {
		iw := st.width(text)
		if color >= 0 {
			iw += mark
		}
		e := legendEntry{text: text, color: color}
		if n := len(placed); n > 0 {
			last := placed[n-1]
			lw := st.width(last.text)
			if last.color >= 0 {
				lw += mark
			}
			e.row, e.x = last.row, last.x+lw+px(chartEntryGap)
			if e.x+iw > w {
				e.row, e.x = last.row+1, 0
			}
		}
		return e, e.row < maxRows
	}
	var out []legendEntry
	for i, t := range texts {
		e, ok := place(out, t, i)
		if !ok {
			break
		}
		out = append(out, e)
	}
	if len(out) < len(texts) {
		for {
			more := fmt.Sprintf("+%d more", len(texts)-len(out))
			if e, ok := place(out, more, -1); ok || len(out) == 0 {
				out = append(out, e)
				break
			}
			out = out[:len(out)-1]
		}
	}
	rows := 0
	if len(out) > 0 {
		rows = out[len(out)-1].row + 1
	}
	return out, rows
}

// segments splits a series into runs of finite (ms, value) points without
// gaps, a gap being more than 1.5 times the usual distance between samples.
func segments(s *Series) [][][2]float64 {
	if len(s.T) == 0 {
		return nil
	}
	var step int64 = math.MaxInt64
	for i := 1; i < len(s.T); i++ {
		step = min(step, s.T[i]-s.T[i-1])
	}
	var out [][][2]float64
	var cur [][2]float64
	for i, t := range s.T {
		v := s.V[i]
		broken := math.IsNaN(v) || math.IsInf(v, 0)
		if len(cur) > 0 && (broken || float64(t-s.T[i-1]) > 1.5*float64(step)) {
			out = append(out, cur)
			cur = nil
		}
		if !broken {
			cur = append(cur, [2]float64{float64(t), v})
		}
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i][0][0] < out[j][0][0] })
	return out
}
