package export

import (
	"bufio"
	"fmt"
	"io"

	jsoniter "github.com/json-iterator/go"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/util/jsonutil"
)

// WritePromQL writes an engine result in the given format. Only tests use
// it, as a reference: the server converts the API's JSON as the CLI does,
// and TestCLIPathAgreesWithWritePromQL checks that path against this
// direct one from the engine's result. CSV and TSV are written row
// by row from the engine's result, byte for byte as the CLI writes them from
// the API's JSON: same columns, timestamps, value spelling and quoting. A
// native histogram sample is one row whose value is the API's JSON for it.
// Other formats convert the result first (see the package doc for bounds).
// Stale markers never reach a query result; a NaN of any kind is written "NaN".
func WritePromQL(w io.Writer, format Format, v parser.Value) error {
	if format == "" {
		format = CSV
	}
	if !format.streams() {
		r, err := resultFromPromQL(v, DefaultMaxSamples, format)
		if err != nil {
			return err
		}
		return WriteResult(w, Options{Format: format}, r)
	}
	bw := bufio.NewWriterSize(w, rowBufSize)
	names, err := promqlLabels(v, DefaultMaxColumns)
	if err != nil {
		return err
	}
	rw := newRowWriter(format, Options{}, names, false, writerFlush(bw))
	if err := rw.header(); err != nil {
		return err
	}
	if err := feedPromQL(v, rw); err != nil {
		return err
	}
	if err := rw.Close(); err != nil {
		return err
	}
	return bw.Flush()
}

func promqlLabels(v parser.Value, max int) ([]string, error) {
	u := newLabelUnion(max)
	add := func(ls labels.Labels) error {
		ls.Range(func(l labels.Label) {
			if l.Name != metricNameLabel {
				u.names[l.Name] = struct{}{}
			}
		})
		if len(u.names) > max {
			return &ColumnsError{Max: max}
		}
		return nil
	}
	switch v := v.(type) {
	case promql.Vector:
		for _, s := range v {
			if err := add(s.Metric); err != nil {
				return nil, err
			}
		}
	case promql.Matrix:
		for _, s := range v {
			if err := add(s.Metric); err != nil {
				return nil, err
			}
		}
	}
	return u.sorted(), nil
}

func toMetric(ls labels.Labels, m Metric) Metric {
	m = m[:0]
	ls.Range(func(l labels.Label) { m = append(m, Label{Name: l.Name, Value: l.Value}) })
	return m
}

// histJSON renders a histogram as the API does (util/jsonutil), compactly.
type histJSON struct{ stream *jsoniter.Stream }

func newHistJSON() *histJSON {
	return &histJSON{stream: jsoniter.NewStream(jsoniter.ConfigCompatibleWithStandardLibrary, nil, 512)}
}

func (h *histJSON) render(fh *histogram.FloatHistogram) []byte {
	h.stream.SetBuffer(h.stream.Buffer()[:0])
	jsonutil.MarshalHistogram(fh, h.stream)
	return h.stream.Buffer()
}

// feedPromQL replays an engine value into a sink in the API's order.
func feedPromQL(v parser.Value, s sink) error {
	var m Metric
	var ts, val []byte
	hj := newHistJSON()
	switch v := v.(type) {
	case promql.Vector:
		if err := s.begin(TypeVector); err != nil {
			return err
		}
		for _, smp := range v {
			m = toMetric(smp.Metric, m)
			if err := s.series(m); err != nil {
				return err
			}
			ts = appendTimestamp(ts[:0], smp.T)
			var err error
			if smp.H != nil {
				err = s.histogram(ts, hj.render(smp.H))
			} else {
				err = s.sample(ts, appendPromFloat(val[:0], smp.F))
			}
			if err != nil {
				return err
			}
		}
	case promql.Matrix:
		if err := s.begin(TypeMatrix); err != nil {
			return err
		}
		for _, se := range v {
			m = toMetric(se.Metric, m)
			if err := s.series(m); err != nil {
				return err
			}
			for _, p := range se.Floats {
				ts = appendTimestamp(ts[:0], p.T)
				val = appendPromFloat(val[:0], p.F)
				if err := s.sample(ts, val); err != nil {
					return err
				}
			}
			for _, p := range se.Histograms {
				ts = appendTimestamp(ts[:0], p.T)
				if err := s.histogram(ts, hj.render(p.H)); err != nil {
					return err
				}
			}
		}
	case promql.Scalar:
		if err := s.begin(TypeScalar); err != nil {
			return err
		}
		if err := s.series(nil); err != nil {
			return err
		}
		ts = appendTimestamp(ts[:0], v.T)
		if err := s.sample(ts, appendScalarFloat(val[:0], v.V)); err != nil {
			return err
		}
	case promql.String:
		if err := s.begin(TypeString); err != nil {
			return err
		}
		if err := s.series(nil); err != nil {
			return err
		}
		ts = appendTimestamp(ts[:0], v.T)
		if err := s.sample(ts, []byte(v.V)); err != nil {
			return err
		}
	case nil:
		return fmt.Errorf("writing result: no value")
	default:
		return fmt.Errorf("writing result: unsupported value type %T", v)
	}
	return s.end()
}

func resultFromPromQL(v parser.Value, max int, format Format) (*Result, error) {
	r := newResult(max)
	if err := feedPromQL(v, r); err != nil {
		if tm, ok := err.(*TooManySamplesError); ok {
			tm.Format = format
		}
		return nil, err
	}
	return r, nil
}
