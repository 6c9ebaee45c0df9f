package querycache

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	jsoniter "github.com/json-iterator/go"
	"github.com/prometheus/prometheus/model/labels"
)

// answer is a backend's success answer to a range query, read once: the
// samples keep the backend's own text (timestamps are parsed to sort and
// cut, values and native histograms are kept as sent), so a merged answer
// says exactly what the backend said.
type answer struct {
	series   []*series
	warnings []string
	infos    []string
	partial  bool // a backend said its answer is partial (VictoriaMetrics' isPartial)
}

type series struct {
	metric     []byte        // the backend's JSON object of the labels
	lset       labels.Labels // for ordering, as Prometheus sorts a range result
	floats     []fsample
	histograms []hsample
}

type fsample struct {
	t int64
	v string // the value's text, e.g. "1.5", "NaN", "+Inf"
}

type hsample struct {
	t int64
	h []byte // the histogram's JSON object
}

var errNotMatrix = errors.New("not a success answer with a matrix")

// parseAnswer reads a Prometheus range query answer.
func parseAnswer(body []byte) (*answer, error) {
	it := jsoniter.ConfigFastest.BorrowIterator(body)
	defer jsoniter.ConfigFastest.ReturnIterator(it)
	a := &answer{}
	status, resultType := "", ""
	for field := it.ReadObject(); field != ""; field = it.ReadObject() {
		switch field {
		case "status":
			status = it.ReadString()
		case "data":
			for df := it.ReadObject(); df != ""; df = it.ReadObject() {
				switch df {
				case "resultType":
					resultType = it.ReadString()
				case "result":
					if err := a.readResult(it); err != nil {
						return nil, err
					}
				default:
					it.Skip()
				}
			}
		case "warnings":
			a.warnings = readStrings(it, a.warnings)
		case "infos":
			a.infos = readStrings(it, a.infos)
		case "isPartial":
			a.partial = it.WhatIsNext() != jsoniter.BoolValue || it.ReadBool()
		default:
			it.Skip()
		}
	}
	if it.Error != nil {
		return nil, fmt.Errorf("read answer: %w", it.Error)
	}
	if status != "success" || resultType != "matrix" {
		return nil, errNotMatrix
	}
	return a, nil
}

func readStrings(it *jsoniter.Iterator, into []string) []string {
	if it.WhatIsNext() == jsoniter.NilValue {
		it.Skip()
		return into
	}
	for it.ReadArray() {
		into = append(into, it.ReadString())
	}
	return into
}

func (a *answer) readResult(it *jsoniter.Iterator) error {
	if it.WhatIsNext() == jsoniter.NilValue {
		it.Skip()
		return nil
	}
	for it.ReadArray() {
		s := &series{}
		for f := it.ReadObject(); f != ""; f = it.ReadObject() {
			switch f {
			case "metric":
				s.metric = slices.Clone(it.SkipAndReturnBytes())
			case "values":
				for it.ReadArray() {
					var p fsample
					ok := it.ReadArray()
					tt, good := parseSampleTime(string(it.ReadNumber()))
					ok = ok && good && it.ReadArray()
					p.t, p.v = tt, it.ReadString()
					if !ok || it.ReadArray() {
						return errors.New("a sample is not [time, \"value\"]")
					}
					s.floats = append(s.floats, p)
				}
			case "histograms":
				for it.ReadArray() {
					var p hsample
					ok := it.ReadArray()
					tt, good := parseSampleTime(string(it.ReadNumber()))
					ok = ok && good && it.ReadArray()
					p.t, p.h = tt, slices.Clone(it.SkipAndReturnBytes())
					if !ok || it.ReadArray() {
						return errors.New("a histogram sample is not [time, {...}]")
					}
					s.histograms = append(s.histograms, p)
				}
			default:
				it.Skip()
			}
		}
		if it.Error != nil {
			return it.Error
		}
		if s.metric == nil {
			return errors.New("a series has no metric")
		}
		lset, err := parseLabels(s.metric)
		if err != nil {
			return err
		}
		s.lset = lset
		a.series = append(a.series, s)
	}
	return it.Error
}

func parseLabels(metric []byte) (labels.Labels, error) {
	it := jsoniter.ConfigFastest.BorrowIterator(metric)
	defer jsoniter.ConfigFastest.ReturnIterator(it)
	var b labels.ScratchBuilder
	for name := it.ReadObject(); name != ""; name = it.ReadObject() {
		b.Add(name, it.ReadString())
	}
	if it.Error != nil {
		return labels.EmptyLabels(), fmt.Errorf("read series labels: %w", it.Error)
	}
	b.Sort()
	return b.Labels(), nil
}

// cut keeps the samples with from <= t <= to.
func (a *answer) cut(from, to int64) *answer {
	out := &answer{warnings: a.warnings, infos: a.infos, partial: a.partial}
	for _, s := range a.series {
		c := &series{metric: s.metric, lset: s.lset}
		for _, p := range s.floats {
			if p.t >= from && p.t <= to {
				c.floats = append(c.floats, p)
			}
		}
		for _, p := range s.histograms {
			if p.t >= from && p.t <= to {
				c.histograms = append(c.histograms, p)
			}
		}
		if len(c.floats) > 0 || len(c.histograms) > 0 {
			out.series = append(out.series, c)
		}
	}
	return out
}

// merge joins answers for disjoint time ranges, given in time order: a
// series' samples are concatenated in that order, series are sorted by
// their labels (as Prometheus' engine sorts a range result) and
// annotations are kept once each, in order of first appearance.
func merge(parts []*answer) *answer {
	out := &answer{}
	byKey := map[string]*series{}
	seenW, seenI := map[string]bool{}, map[string]bool{}
	for _, p := range parts {
		if p == nil {
			continue
		}
		out.partial = out.partial || p.partial
		for _, w := range p.warnings {
			if !seenW[w] {
				seenW[w] = true
				out.warnings = append(out.warnings, w)
			}
		}
		for _, i := range p.infos {
			if !seenI[i] {
				seenI[i] = true
				out.infos = append(out.infos, i)
			}
		}
		for _, s := range p.series {
			k := string(s.metric)
			m, ok := byKey[k]
			if !ok {
				m = &series{metric: s.metric, lset: s.lset}
				byKey[k] = m
				out.series = append(out.series, m)
			}
			m.floats = append(m.floats, s.floats...)
			m.histograms = append(m.histograms, s.histograms...)
		}
	}
	slices.SortStableFunc(out.series, func(a, b *series) int { return labels.Compare(a.lset, b.lset) })
	return out
}

// encode writes the answer in Prometheus' format, field for field as its
// web/api/v1 JSON codec writes it.
func (a *answer) encode() []byte {
	n := 64
	for _, s := range a.series {
		n += len(s.metric) + 32 + len(s.floats)*24
		for _, h := range s.histograms {
			n += len(h.h) + 20
		}
	}
	b := bytes.NewBuffer(make([]byte, 0, n))
	b.WriteString(`{"status":"success","data":{"resultType":"matrix","result":[`)
	var tmp []byte
	for i, s := range a.series {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"metric":`)
		b.Write(s.metric)
		if len(s.floats) > 0 {
			b.WriteString(`,"values":[`)
			for j, p := range s.floats {
				if j > 0 {
					b.WriteByte(',')
				}
				tmp = append(appendMs(append(tmp[:0], '['), p.t), ',', '"')
				tmp = append(append(tmp, p.v...), '"', ']')
				b.Write(tmp)
			}
			b.WriteByte(']')
		}
		if len(s.histograms) > 0 {
			b.WriteString(`,"histograms":[`)
			for j, p := range s.histograms {
				if j > 0 {
					b.WriteByte(',')
				}
				b.Write(append(appendMs(append(tmp[:0], '['), p.t), ','))
				b.Write(p.h)
				b.WriteByte(']')
			}
			b.WriteByte(']')
		}
		b.WriteByte('}')
	}
	b.WriteString(`]}`)
	writeStrings(b, "warnings", a.warnings)
	writeStrings(b, "infos", a.infos)
	b.WriteByte('}')
	return b.Bytes()
}

func writeStrings(b *bytes.Buffer, field string, vs []string) {
	if len(vs) == 0 {
		return
	}
	b.WriteString(`,"` + field + `":`)
	enc, _ := jsoniter.ConfigCompatibleWithStandardLibrary.Marshal(vs)
	b.Write(enc)
}

// size is about what the answer holds in memory.
func (a *answer) size() int {
	n := 0
	for _, s := range a.series {
		n += len(s.metric) + 64 + len(s.floats)*24
		for _, p := range s.floats {
			n += len(p.v)
		}
		for _, h := range s.histograms {
			n += len(h.h) + 32
		}
	}
	return n
}
