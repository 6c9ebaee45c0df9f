package export

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// Result types as the API names them.
const (
	TypeVector = "vector"
	TypeMatrix = "matrix"
	TypeScalar = "scalar"
	TypeString = "string"
)

// Label is one label of a series.
type Label struct{ Name, Value string }

// Metric is a series' label set, sorted by name, __name__ included.
type Metric []Label

// Get returns the value of a label, or "".
func (m Metric) Get(name string) string {
	for _, l := range m {
		if l.Name == name {
			return l.Value
		}
	}
	return ""
}

// Key is a canonical string for the label set, used to merge a series across chunks.
func (m Metric) Key() string {
	var b strings.Builder
	for _, l := range m {
		b.WriteString(l.Name)
		b.WriteByte(0)
		b.WriteString(l.Value)
		b.WriteByte(0)
	}
	return b.String()
}

// String formats the label set the PromQL way, e.g. up{job="api"}.
func (m Metric) String() string {
	var b strings.Builder
	b.WriteString(m.Get(metricNameLabel))
	b.WriteByte('{')
	n := 0
	for _, l := range m {
		if l.Name == metricNameLabel {
			continue
		}
		if n > 0 {
			b.WriteByte(',')
		}
		n++
		fmt.Fprintf(&b, "%s=%q", l.Name, l.Value)
	}
	b.WriteByte('}')
	return b.String()
}

const metricNameLabel = "__name__"

// sink receives a decoded result as a stream of events. Byte slices are only
// valid during the call.
type sink interface {
	begin(resultType string) error
	// series starts a new series; samples until the next call belong to it.
	series(m Metric) error
	// sample is one float (or, for string results, text) sample: ts is the raw
	// JSON number (seconds), v the decoded string value.
	sample(ts, v []byte) error
	// histogram is one native histogram sample: h is its compact API JSON.
	histogram(ts, h []byte) error
	end() error
}

// decodeOptions tunes a decode pass.
type decodeOptions struct {
	labelsOnly bool                   // skip samples: for the header pass
	warn       func(kind, msg string) // API warnings and infos
}

// decodeResponse decodes a Prometheus API query response from r into s.
func decodeResponse(r io.Reader, s sink, opt decodeOptions) error {
	d := &respDecoder{j: newJReader(r), s: s, opt: opt}
	return d.response()
}

type respDecoder struct {
	j           *jreader
	s           sink
	opt         decodeOptions
	key, name   []byte // reused buffers of member names
	ts, v       []byte
	resultType  string
	sawData     bool
	status      string
	errType     string
	errMsg      string
	pendingTS   [][]byte // samples seen before their series' metric (not Prometheus' order)
	pendingV    [][]byte
	pendingHist []bool
}

func (d *respDecoder) response() error {
	j := d.j
	err := j.object(&d.key, func(key []byte) error {
		var err error
		switch string(key) {
		case "status":
			d.status, err = j.text()
		case "errorType":
			d.errType, err = j.text()
		case "error":
			d.errMsg, err = j.text()
		case "warnings", "infos":
			err = d.messages(string(key))
		case "data":
			if d.status == "error" {
				return j.skip()
			}
			err = d.data()
		default:
			err = j.skip()
		}
		return err
	})
	if err != nil {
		return err
	}
	if d.status == "error" {
		return &APIError{Type: d.errType, Message: d.errMsg}
	}
	if d.status != "success" {
		return fmt.Errorf("decoding response: status %q", d.status)
	}
	if !d.sawData {
		return errNoData
	}
	return nil
}

func (d *respDecoder) messages(kind string) error {
	j := d.j
	c, err := j.peek()
	if err != nil {
		return err
	}
	if c == 'n' {
		return j.skip()
	}
	return j.array(func() error {
		msg, err := j.text()
		if err != nil {
			return err
		}
		if d.opt.warn != nil {
			d.opt.warn(strings.TrimSuffix(kind, "s"), msg)
		}
		return nil
	})
}

func (d *respDecoder) data() error {
	j := d.j
	return j.object(&d.key, func(key []byte) error {
		switch string(key) {
		case "resultType":
			var err error
			d.resultType, err = j.text()
			return err
		case "result":
			if err := d.result(); err != nil {
				return err
			}
			d.sawData = true
			return nil
		}
		return j.skip()
	})
}

func (d *respDecoder) result() error {
	j := d.j
	if err := j.expect('['); err != nil {
		return err
	}
	c, err := j.peek()
	if err != nil {
		return err
	}
	rt := d.resultType
	if c != '{' && c != ']' {
		// [ts, "value"]: a scalar or string result.
		if rt != TypeString {
			rt = TypeScalar
		}
		if err := d.s.begin(rt); err != nil {
			return err
		}
		if err := d.s.series(nil); err != nil {
			return err
		}
		if err := d.pairBody(false, true); err != nil {
			return err
		}
		return d.s.end()
	}
	if rt == "" {
		rt = TypeVector // an empty result before resultType: the shape is unknown
	}
	if err := d.s.begin(rt); err != nil {
		return err
	}
	if err := j.elements(d.seriesObject); err != nil {
		return err
	}
	return d.s.end()
}

func (d *respDecoder) seriesObject() error {
	j := d.j
	sawMetric := false
	d.pendingTS, d.pendingV, d.pendingHist = d.pendingTS[:0], d.pendingV[:0], d.pendingHist[:0]
	err := j.object(&d.key, func(key []byte) error {
		switch k := string(key); k {
		case "metric":
			m, err := d.metric()
			if err != nil {
				return err
			}
			if err := d.s.series(m); err != nil {
				return err
			}
			sawMetric = true
			return d.flushPending()
		case "value", "histogram", "values", "histograms":
			if d.opt.labelsOnly {
				return j.skip()
			}
			hist := k == "histogram" || k == "histograms"
			if k == "value" || k == "histogram" {
				return d.pair(hist, sawMetric)
			}
			return j.array(func() error { return d.pair(hist, sawMetric) })
		}
		return j.skip()
	})
	if err != nil {
		return err
	}
	if !sawMetric {
		if err := d.s.series(nil); err != nil {
			return err
		}
		return d.flushPending()
	}
	return nil
}

func (d *respDecoder) flushPending() error {
	for i := range d.pendingTS {
		var err error
		if d.pendingHist[i] {
			err = d.s.histogram(d.pendingTS[i], d.pendingV[i])
		} else {
			err = d.s.sample(d.pendingTS[i], d.pendingV[i])
		}
		if err != nil {
			return err
		}
	}
	d.pendingTS, d.pendingV, d.pendingHist = d.pendingTS[:0], d.pendingV[:0], d.pendingHist[:0]
	return nil
}

func (d *respDecoder) metric() (Metric, error) {
	j := d.j
	var m Metric
	sorted := true
	err := j.object(&d.name, func(name []byte) error {
		value, err := j.text()
		if err != nil {
			return err
		}
		if len(m) > 0 && m[len(m)-1].Name >= string(name) {
			sorted = false
		}
		m = append(m, Label{Name: string(name), Value: value})
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !sorted {
		sort.Slice(m, func(a, b int) bool { return m[a].Name < m[b].Name })
	}
	return m, nil
}

func (d *respDecoder) pair(hist, emit bool) error {
	if err := d.j.expect('['); err != nil {
		return err
	}
	return d.pairBody(hist, emit)
}

// pairBody reads `ts, value]` after the opening bracket.
func (d *respDecoder) pairBody(hist, emit bool) error {
	j := d.j
	var err error
	if d.ts, err = j.num(d.ts[:0]); err != nil {
		return err
	}
	if err := j.expect(','); err != nil {
		return err
	}
	if hist {
		d.v, err = j.raw(d.v[:0])
	} else {
		d.v, err = j.str(d.v[:0])
	}
	if err != nil {
		return err
	}
	if err := j.expect(']'); err != nil {
		return err
	}
	if !emit {
		d.pendingTS = append(d.pendingTS, append([]byte(nil), d.ts...))
		d.pendingV = append(d.pendingV, append([]byte(nil), d.v...))
		d.pendingHist = append(d.pendingHist, hist)
		return nil
	}
	if hist {
		return d.s.histogram(d.ts, d.v)
	}
	return d.s.sample(d.ts, d.v)
}
