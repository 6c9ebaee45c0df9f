package export

import (
	"fmt"
	"math"
)

// Result is a whole query result held in memory, for the formats that need
// all of it (table, wide, charts, merged json).
type Result struct {
	Type   string
	Series []*Series
	index  map[string]*Series
	n      int
	max    int
	cur    *Series
}

// Series is one series of a Result.
type Series struct {
	Metric Metric
	T      []int64   // milliseconds
	V      []float64 // float samples, parallel to T
	Text   []string  // string results only, parallel to T
	H      []HistSample
}

// HistSample is a native histogram sample kept as the API's JSON for it.
type HistSample struct {
	T    int64
	JSON string
}

func newResult(max int) *Result {
	return &Result{index: map[string]*Series{}, max: max}
}

// TooManySamplesError is returned when a whole-result format would exceed its bound.
type TooManySamplesError struct {
	Max    int
	Format Format
}

func (e *TooManySamplesError) Error() string {
	return fmt.Sprintf("the result has more than %d samples, and %s output holds the whole result in memory: "+
		"narrow the query or range, raise --max-samples, or use --format csv, which streams", e.Max, e.Format)
}

func (r *Result) begin(rt string) error {
	if r.Type == "" {
		r.Type = rt
	}
	return nil
}

func (r *Result) series(m Metric) error {
	key := m.Key()
	s := r.index[key]
	if s == nil {
		s = &Series{Metric: append(Metric(nil), m...)}
		r.index[key] = s
		r.Series = append(r.Series, s)
	}
	r.cur = s
	return nil
}

func (r *Result) count() error {
	r.n++
	if r.n > r.max {
		return &TooManySamplesError{Max: r.max}
	}
	return nil
}

func (r *Result) sample(ts, v []byte) error {
	if err := r.count(); err != nil {
		return err
	}
	t, err := parseTimestampMs(ts)
	if err != nil {
		return fmt.Errorf("decoding response: timestamp %q: %w", ts, err)
	}
	s := r.cur
	s.T = append(s.T, t)
	if r.Type == TypeString {
		s.Text = append(s.Text, string(v))
		s.V = append(s.V, math.NaN())
		return nil
	}
	f, err := parseValue(v)
	if err != nil {
		return fmt.Errorf("decoding response: value %q: %w", v, err)
	}
	s.V = append(s.V, f)
	return nil
}

func (r *Result) histogram(ts, h []byte) error {
	if err := r.count(); err != nil {
		return err
	}
	t, err := parseTimestampMs(ts)
	if err != nil {
		return fmt.Errorf("decoding response: timestamp %q: %w", ts, err)
	}
	r.cur.H = append(r.cur.H, HistSample{T: t, JSON: string(h)})
	return nil
}

func (r *Result) end() error { return nil }

// Samples is the number of samples held.
func (r *Result) Samples() int { return r.n }
