package querycache

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

// maxPoints is Prometheus' limit of points per series of a range query
// (web/api/v1); a request over it goes to the backend whole, so that the
// caller gets the backend's own error.
const maxPoints = 11000

var errUnparsed = errors.New("parameter does not parse the way promgate can follow")

// parseTimeMs reads a start, end or time parameter exactly as Prometheus'
// web/api/v1 parseTime does, in milliseconds (the engine's resolution). The
// RFC 3339 form is taken too; the special min/max times are not (a request
// with them is passed through uncached).
func parseTimeMs(s string) (int64, error) {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1e13 {
			return 0, errUnparsed
		}
		sec, frac := math.Modf(f)
		frac = math.Round(frac*1000) / 1000
		t := time.Unix(int64(sec), int64(frac*float64(time.Second)))
		return t.UnixNano() / int64(time.Millisecond), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Year() < 1 || t.Year() > 9999 {
		return 0, errUnparsed
	}
	return t.UnixNano() / int64(time.Millisecond), nil
}

// parseStepMs reads step or lookback_delta as Prometheus' parseDuration
// does, in whole milliseconds; a duration that is not a whole number of
// milliseconds is not followed (the engine would truncate it).
func parseStepMs(s string) (int64, error) {
	var d time.Duration
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		ts := f * float64(time.Second)
		if math.IsNaN(ts) || ts >= float64(math.MaxInt64) || ts < float64(math.MinInt64) {
			return 0, errUnparsed
		}
		d = time.Duration(ts)
	} else if md, err := model.ParseDuration(s); err == nil {
		d = time.Duration(md)
	} else {
		return 0, errUnparsed
	}
	if d%time.Millisecond != 0 {
		return 0, errUnparsed
	}
	return int64(d / time.Millisecond), nil
}

// formatMs writes a millisecond timestamp as seconds the way Prometheus
// writes sample timestamps (jsonutil.MarshalTimestamp), which its
// parseTime reads back exactly.
func formatMs(t int64) string {
	return string(appendMs(nil, t))
}

func appendMs(b []byte, t int64) []byte {
	if t < 0 {
		b = append(b, '-')
		t = -t
	}
	b = strconv.AppendInt(b, t/1000, 10)
	if frac := t % 1000; frac != 0 {
		b = append(b, '.')
		if frac < 100 {
			b = append(b, '0')
		}
		if frac < 10 {
			b = append(b, '0')
		}
		b = strconv.AppendInt(b, frac, 10)
	}
	return b
}

// parseSampleTime reads a sample timestamp of an answer ("1700000000.5",
// "1700000000") into milliseconds without going through a float.
func parseSampleTime(s string) (int64, bool) {
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	whole, frac, hasFrac := strings.Cut(s, ".")
	sec, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || sec > math.MaxInt64/1000-1 {
		return 0, false
	}
	ms := sec * 1000
	if hasFrac {
		if frac == "" || len(frac) > 3 {
			return 0, false
		}
		for len(frac) < 3 {
			frac += "0"
		}
		f, err := strconv.ParseInt(frac, 10, 64)
		if err != nil || f < 0 {
			return 0, false
		}
		ms += f
	}
	if neg {
		ms = -ms
	}
	return ms, true
}

// floorDiv is the floor of a/b for b > 0.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// floorTo rounds t down to a multiple of m (m > 0).
func floorTo(t, m int64) int64 { return floorDiv(t, m) * m }

// part is the steps of a range query that fall in one split interval:
// first and last are evaluation timestamps of the query (ms).
type part struct {
	interval    int64 // the interval's start (ms)
	first, last int64
}

// splitRange cuts the evaluation timestamps start, start+step, ... <= end
// at multiples of interval (ms). Each timestamp falls in exactly one part,
// so the parts' answers concatenate to the whole one: PromQL evaluates
// every step on its own (a subquery's steps are aligned to the epoch, not
// to the query's start).
func splitRange(start, end, step, interval int64) []part {
	var out []part
	for t := start; t <= end; {
		b := floorTo(t, interval)
		next := b + interval
		// The last step before the next interval.
		last := start + floorDiv(next-1-start, step)*step
		if last > end {
			last = start + floorDiv(end-start, step)*step
		}
		out = append(out, part{interval: b, first: t, last: last})
		t = last + step
	}
	return out
}
