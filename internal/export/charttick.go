package export

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Unit says how a chart writes values on its y axis, as Grafana's units do.
type Unit string

// Chart units.
const (
	UnitNone    Unit = ""        // SI prefixes: 1.5k, 60M, 2G
	UnitBytes   Unit = "bytes"   // IEC: B, KiB, MiB, GiB, TiB
	UnitSeconds Unit = "seconds" // ns, µs, ms, s, min, h, d
	UnitPercent Unit = "percent" // values 0 to 100, written with %
)

// Units lists the units --unit accepts.
var Units = []Unit{UnitBytes, UnitSeconds, UnitPercent}

// ParseUnit accepts a unit name (and Grafana's short names bytes, s, percent).
func ParseUnit(s string) (Unit, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "none", "short":
		return UnitNone, nil
	case "bytes", "byte", "b", "decbytes":
		return UnitBytes, nil
	case "seconds", "second", "s":
		return UnitSeconds, nil
	case "percent", "%":
		return UnitPercent, nil
	}
	return "", fmt.Errorf("unknown unit %q (want bytes, seconds or percent)", s)
}

// tick is a labelled position on an axis (x: milliseconds, y: the value).
type tick struct {
	v     float64
	label string
}

// valueScale writes values in one unit of measure: v/div, then suffix.
type valueScale struct {
	div    float64
	suffix string
	// bases are the mantissas of round steps in this scale (1, 2, 5 ...).
	bases []float64
}

var (
	decimalBases = []float64{1, 2, 5}
	percentBases = []float64{1, 2, 2.5, 5}
	sixtyBases   = []float64{1, 2, 5, 10, 15, 30} // seconds and minutes
	hourBases    = []float64{1, 2, 3, 6, 12}
)

// scaleFor picks the scale that writes values up to maxAbs with the fewest
// digits before the point: Grafana's choice of prefix.
func scaleFor(u Unit, maxAbs float64) valueScale {
	switch u {
	case UnitBytes:
		suffixes := []string{" B", " KiB", " MiB", " GiB", " TiB", " PiB", " EiB"}
		k := 0
		for k+1 < len(suffixes) && maxAbs >= math.Pow(1024, float64(k+1)) {
			k++
		}
		return valueScale{div: math.Pow(1024, float64(k)), suffix: suffixes[k], bases: decimalBases}
	case UnitSeconds:
		switch {
		case maxAbs >= 86400:
			return valueScale{div: 86400, suffix: " d", bases: decimalBases}
		case maxAbs >= 3600:
			return valueScale{div: 3600, suffix: " h", bases: hourBases}
		case maxAbs >= 60:
			return valueScale{div: 60, suffix: " min", bases: sixtyBases}
		case maxAbs >= 1 || maxAbs == 0:
			return valueScale{div: 1, suffix: " s", bases: sixtyBases}
		case maxAbs >= 1e-3:
			return valueScale{div: 1e-3, suffix: " ms", bases: decimalBases}
		case maxAbs >= 1e-6:
			return valueScale{div: 1e-6, suffix: " µs", bases: decimalBases}
		}
		return valueScale{div: 1e-9, suffix: " ns", bases: decimalBases}
	case UnitPercent:
		return valueScale{div: 1, suffix: "%", bases: percentBases}
	}
	// Below 0.001 decimals get long: micro, nano, pico, femto.
	if maxAbs > 0 && maxAbs < 1e-3 {
		small := []string{"µ", "n", "p", "f"}
		k := 0
		for k+1 < len(small) && maxAbs < math.Pow(1000, -float64(k+2)) {
			k++
		}
		return valueScale{div: math.Pow(1000, -float64(k+2)), suffix: small[k], bases: decimalBases}
	}
	suffixes := []string{"", "k", "M", "G", "T", "P", "E"}
	k := 0
	for k+1 < len(suffixes) && maxAbs >= math.Pow(1000, float64(k+1)) {
		k++
	}
	return valueScale{div: math.Pow(1000, float64(k)), suffix: suffixes[k], bases: decimalBases}
}

// zeroLabel writes 0 as Grafana does: bare, or with the unit's base symbol.
func zeroLabel(u Unit) string {
	switch u {
	case UnitBytes:
		return "0 B"
	case UnitSeconds:
		return "0 s"
	case UnitPercent:
		return "0%"
	}
	return "0"
}

// roundSteps are the steps a scale's bases make, ascending, around r.
func (s valueScale) roundSteps(r float64) []float64 {
	e := math.Floor(math.Log10(r))
	var out []float64
	for k := e - 1; k <= e+3; k++ {
		for _, b := range s.bases {
			out = append(out, b*math.Pow(10, k))
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// decimals is how many decimals write every multiple of step exactly.
func decimals(step float64) int {
	for d := 0; d < 15; d++ {
		x := step * math.Pow(10, float64(d))
		if x >= 0.5 && math.Abs(x-math.Round(x)) < 1e-6*x {
			return d
		}
	}
	return 15
}

// valueTicks picks a round y domain covering [lo, hi] and its ticks, at
// most maxTicks (at least 3) of them, labelled in u's scale.
func valueTicks(lo, hi float64, maxTicks int, u Unit) (dlo, dhi float64, ticks []tick) {
	switch {
	case math.IsNaN(lo) || math.IsNaN(hi) || lo > hi:
		lo, hi = 0, 1
	case lo == hi:
		span := math.Abs(lo) * 0.1
		if span == 0 {
			span = 1
		}
		lo, hi = lo-span, hi+span
	}
	maxTicks = max(maxTicks, 3) // -s, 0, s always fits a range across zero
	sc := scaleFor(u, math.Max(math.Abs(lo), math.Abs(hi)))
	slo, shi := lo/sc.div, hi/sc.div
	raw := (shi - slo) / float64(maxTicks-1)
	var step, k0, k1 float64
	for _, st := range sc.roundSteps(raw) {
		if st < raw*(1-1e-9) {
			continue
		}
		k0, k1 = math.Floor(slo/st+1e-9), math.Ceil(shi/st-1e-9)
		if k1-k0+1 <= float64(maxTicks) {
			step = st
			break
		}
	}
	if step == 0 { // cannot happen with the steps above; stay safe
		step = raw
		k0, k1 = math.Floor(slo/step), math.Ceil(shi/step)
	}
	d := decimals(step)
	for k := k0; k <= k1; k++ {
		v := k * step
		label := strconv.FormatFloat(v, 'f', d, 64)
		if strings.Contains(label, ".") {
			label = strings.TrimRight(strings.TrimRight(label, "0"), ".")
		}
		if k == 0 {
			label = zeroLabel(u)
		} else {
			label += sc.suffix
		}
		ticks = append(ticks, tick{v: v * sc.div, label: label})
	}
	return k0 * step * sc.div, k1 * step * sc.div, ticks
}

// timeStep is a round step of a time axis: a fixed duration, or months.
type timeStep struct {
	d      time.Duration
	months int
}

// timeSteps are the round steps a time axis may use, ascending. Every step
// under a day divides a day, so midnight is always a tick.
var timeSteps = func() []timeStep {
	var out []timeStep
	for _, d := range []time.Duration{
		time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond,
		10 * time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond,
		100 * time.Millisecond, 200 * time.Millisecond, 500 * time.Millisecond,
		time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second,
		time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
		time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour,
		24 * time.Hour, 48 * time.Hour, 7 * 24 * time.Hour, 14 * 24 * time.Hour,
	} {
		out = append(out, timeStep{d: d})
	}
	for _, m := range []int{1, 2, 3, 6, 12, 24, 60, 120, 240, 600, 1200} {
		out = append(out, timeStep{months: m})
	}
	return out
}()

const day = 24 * time.Hour

// approx is the step's length, for counting ticks.
func (s timeStep) approx() time.Duration {
	if s.months > 0 {
		return time.Duration(s.months) * 30 * day
	}
	return s.d
}

// mondayOffset aligns weekly ticks on Mondays: 1970-01-05 was one.
const mondayOffset = 4 * day

// times lists the step's round times in [start, end] (milliseconds, UTC).
func (s timeStep) times(start, end int64) []int64 {
	var out []int64
	if s.months == 0 {
		st := s.d.Milliseconds()
		var off int64
		if s.d >= 7*day {
			off = mondayOffset.Milliseconds()
		}
		t := start - off
		t = t - ((t%st)+st)%st + off
		if t < start {
			t += st
		}
		for ; t <= end; t += st {
			out = append(out, t)
		}
		return out
	}
	first := time.UnixMilli(start).UTC()
	m := time.Date(first.Year(), first.Month(), 1, 0, 0, 0, 0, time.UTC)
	for months := m.Year()*12 + int(m.Month()) - 1; months%s.months != 0; months++ {
		m = m.AddDate(0, 1, 0)
	}
	for ; m.UnixMilli() <= end; m = m.AddDate(0, s.months, 0) {
		if m.UnixMilli() >= start {
			out = append(out, m.UnixMilli())
		}
	}
	return out
}

// label writes t for a tick of step s on an axis from start to end (ms):
// the time of day, the date at midnight, the date and time when the
// range is a day or more (so no two ticks read the same).
func (s timeStep) label(t, start, end int64) string {
	tm := time.UnixMilli(t).UTC()
	multiYear := time.UnixMilli(start).UTC().Year() != time.UnixMilli(end).UTC().Year()
	switch {
	case s.months >= 12:
		return tm.Format("2006")
	case s.months > 0:
		return tm.Format("Jan 2006")
	case s.d >= day && multiYear:
		return tm.Format("2006-01-02")
	case s.d >= day:
		return tm.Format("Jan 2")
	}
	var clock string
	switch {
	case s.d < time.Second:
		clock = tm.Format("15:04:05.000")
	case s.d < time.Minute:
		clock = tm.Format("15:04:05")
	default:
		clock = tm.Format("15:04")
	}
	midnight := tm.Equal(tm.Truncate(day))
	date := "Jan 2"
	if multiYear {
		date = "2006-01-02"
	}
	switch {
	case midnight:
		return tm.Format(date)
	case time.Duration(end-start)*time.Millisecond >= day:
		return tm.Format(date) + " " + clock
	}
	return clock
}

// timeTicks picks the smallest round step whose labels, as wide as measure
// says, keep at least gap between them over width, and returns its ticks.
func timeTicks(start, end int64, width float64, measure func(string) float64, gap float64) []tick {
	if end <= start || width <= 0 {
		return nil
	}
	span := float64(end - start)
	for _, s := range timeSteps {
		n := span / float64(s.approx().Milliseconds())
		if n > width/(gap+1) { // cannot fit even with tiny labels: skip without listing
			continue
		}
		times := s.times(start, end)
		if len(times) == 0 {
			continue
		}
		ticks := make([]tick, len(times))
		widest := 0.0
		seen := map[string]bool{}
		unique := true
		for i, t := range times {
			ticks[i] = tick{v: float64(t), label: s.label(t, start, end)}
			widest = math.Max(widest, measure(ticks[i].label))
			if seen[ticks[i].label] {
				unique = false
			}
			seen[ticks[i].label] = true
		}
		// Neighbouring labels are one (shortest) step apart.
		pitch := width * float64(s.approx().Milliseconds()) / span
		if s.months > 0 {
			pitch = width * float64(time.Duration(s.months)*28*day/time.Millisecond) / span
		}
		if unique && pitch >= widest+gap {
			return ticks
		}
	}
	// No round step fits (a very narrow axis): label the start alone.
	return []tick{{v: float64(start), label: time.UnixMilli(start).UTC().Format("2006-01-02 15:04")}}
}
