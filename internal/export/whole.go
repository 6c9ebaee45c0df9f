package export

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteResult writes a whole in-memory result in any format.
func WriteResult(w io.Writer, opt Options, r *Result) error {
	switch opt.Format {
	case CSV, TSV, "":
		return writeRowsFromResult(w, opt, r)
	case JSON:
		return writeJSON(w, r)
	case Table:
		return writeTable(w, opt, r)
	case Wide:
		return writeWide(w, r)
	case PNG, SVG:
		return writeChart(w, opt, r)
	}
	return fmt.Errorf("unknown format %q", opt.Format)
}

func resultLabels(opt Options, r *Result) ([]string, error) {
	if opt.Labels != nil {
		if len(opt.Labels) > opt.maxColumns() {
			return nil, &ColumnsError{Max: opt.maxColumns(), Fixed: true}
		}
		return opt.Labels, nil
	}
	u := newLabelUnion(opt.maxColumns())
	for _, s := range r.Series {
		if err := u.series(s.Metric); err != nil {
			return nil, err
		}
	}
	return u.sorted(), nil
}

func writeRowsFromResult(w io.Writer, opt Options, r *Result) error {
	format := opt.Format
	if format == "" {
		format = CSV
	}
	labels, err := resultLabels(opt, r)
	if err != nil {
		return err
	}
	rw := newRowWriter(format, opt, labels, false, writerFlush(w))
	if err := rw.header(); err != nil {
		return err
	}
	if err := replay(r, rw); err != nil {
		return err
	}
	return rw.Close()
}

// replay feeds a Result to a sink in API order (floats, then histograms, per series).
func replay(r *Result, s sink) error {
	if err := s.begin(r.Type); err != nil {
		return err
	}
	var ts, v []byte
	for _, se := range r.Series {
		if err := s.series(se.Metric); err != nil {
			return err
		}
		for i, t := range se.T {
			ts = appendTimestamp(ts[:0], t)
			switch r.Type {
			case TypeString:
				v = append(v[:0], se.Text[i]...)
			case TypeScalar:
				v = appendScalarFloat(v[:0], se.V[i])
			default:
				v = appendPromFloat(v[:0], se.V[i])
			}
			if err := s.sample(ts, v); err != nil {
				return err
			}
		}
		for _, h := range se.H {
			ts = appendTimestamp(ts[:0], h.T)
			if err := s.histogram(ts, []byte(h.JSON)); err != nil {
				return err
			}
		}
	}
	return s.end()
}

// appendAPITimestamp writes ms the way the API does (three decimals kept).
func appendAPITimestamp(b []byte, ms int64) []byte {
	if ms < 0 {
		b = append(b, '-')
		ms = -ms
	}
	b = strconv.AppendInt(b, ms/1000, 10)
	if f := ms % 1000; f != 0 {
		b = append(b, '.', byte('0'+f/100), byte('0'+f/10%10), byte('0'+f%10))
	}
	return b
}

func (r *Result) appendValue(b []byte, s *Series, i int) []byte {
	switch r.Type {
	case TypeString:
		return append(b, s.Text[i]...)
	case TypeScalar:
		return appendScalarFloat(b, s.V[i])
	}
	return appendPromFloat(b, s.V[i])
}

// writeJSON writes the result as the API's own response body; for a range
// exported in chunks this is the merged matrix.
func writeJSON(w io.Writer, r *Result) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	rt := r.Type
	if rt == "" {
		rt = TypeVector
	}
	fmt.Fprintf(bw, `{"status":"success","data":{"resultType":%q,"result":`, rt)
	var b []byte
	pair := func(t int64, v []byte, quote bool) {
		b = append(b[:0], '[')
		b = appendAPITimestamp(b, t)
		b = append(b, ',')
		if quote {
			q, _ := json.Marshal(string(v))
			b = append(b, q...)
		} else {
			b = append(b, v...)
		}
		b = append(b, ']')
		bw.Write(b)
	}
	if rt == TypeScalar || rt == TypeString {
		if len(r.Series) == 0 || len(r.Series[0].T) == 0 {
			bw.WriteString("[]")
		} else {
			s := r.Series[0]
			pair(s.T[0], r.appendValue(nil, s, 0), true)
		}
		bw.WriteString("}}\n")
		return bw.Flush()
	}
	bw.WriteByte('[')
	var v []byte
	for si, s := range r.Series {
		if si > 0 {
			bw.WriteByte(',')
		}
		bw.WriteString(`{"metric":{`)
		for i, l := range s.Metric {
			if i > 0 {
				bw.WriteByte(',')
			}
			k, _ := json.Marshal(l.Name)
			val, _ := json.Marshal(l.Value)
			bw.Write(k)
			bw.WriteByte(':')
			bw.Write(val)
		}
		bw.WriteByte('}')
		if rt == TypeVector {
			if len(s.T) > 0 {
				bw.WriteString(`,"value":`)
				v = r.appendValue(v[:0], s, 0)
				pair(s.T[0], v, true)
			} else if len(s.H) > 0 {
				bw.WriteString(`,"histogram":`)
				pair(s.H[0].T, []byte(s.H[0].JSON), false)
			}
			bw.WriteByte('}')
			continue
		}
		if len(s.T) > 0 {
			bw.WriteString(`,"values":[`)
			for i, t := range s.T {
				if i > 0 {
					bw.WriteByte(',')
				}
				v = r.appendValue(v[:0], s, i)
				pair(t, v, true)
			}
			bw.WriteByte(']')
		}
		if len(s.H) > 0 {
			bw.WriteString(`,"histograms":[`)
			for i, h := range s.H {
				if i > 0 {
					bw.WriteByte(',')
				}
				pair(h.T, []byte(h.JSON), false)
			}
			bw.WriteByte(']')
		}
		bw.WriteByte('}')
	}
	bw.WriteString("]}}\n")
	return bw.Flush()
}

// humanTime formats ms as RFC 3339 UTC, with milliseconds only when present.
func humanTime(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.999Z07:00")
}

// tableCell keeps a value on one line so the columns stay aligned.
func tableCell(s string) string {
	if strings.ContainsAny(s, "\t\n\r") || (s != "" && !strconv.IsPrint([]rune(s)[0])) {
		return strconv.Quote(s)
	}
	return s
}

// writeTable writes an aligned table for a terminal: time in RFC 3339 UTC
// rather than epoch seconds, since a person reads it.
func writeTable(w io.Writer, opt Options, r *Result) error {
	labels, err := resultLabels(Options{MaxColumns: opt.MaxColumns}, r)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	hdr := append([]string{"NAME", "TIME", "VALUE"}, labels...)
	fmt.Fprintln(tw, strings.Join(hdr, "\t"))
	row := make([]string, len(hdr))
	var v []byte
	for _, s := range r.Series {
		row[0] = tableCell(s.Metric.Get(metricNameLabel))
		for i, l := range labels {
			row[3+i] = tableCell(s.Metric.Get(l))
		}
		for i, t := range s.T {
			v = r.appendValue(v[:0], s, i)
			row[1], row[2] = humanTime(t), tableCell(string(v))
			fmt.Fprintln(tw, strings.Join(row, "\t"))
		}
		for _, h := range s.H {
			row[1], row[2] = humanTime(h.T), h.JSON
			fmt.Fprintln(tw, strings.Join(row, "\t"))
		}
	}
	return tw.Flush()
}

// writeWide writes one row per timestamp and one column per series (named
// like up{job="api"}), for spreadsheets: so text cells are always formula-escaped.
func writeWide(w io.Writer, r *Result) error {
	var all []int64
	for _, s := range r.Series {
		all = append(all, s.T...)
		for _, h := range s.H {
			all = append(all, h.T)
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	ts := all[:0]
	for i, t := range all {
		if i == 0 || t != all[i-1] {
			ts = append(ts, t)
		}
	}
	rw := newRowWriter(CSV, Options{Spreadsheet: true}, nil, false, writerFlush(w))
	b := rw.textCell(rw.buf, "timestamp")
	for _, s := range r.Series {
		b = append(b, ',')
		b = rw.textCell(b, s.Metric.String())
	}
	rw.buf = append(b, '\n')
	fi := make([]int, len(r.Series))
	hi := make([]int, len(r.Series))
	var v []byte
	for _, t := range ts {
		b := appendTimestamp(rw.buf, t)
		for si, s := range r.Series {
			b = append(b, ',')
			if fi[si] < len(s.T) && s.T[fi[si]] == t {
				v = r.appendValue(v[:0], s, fi[si])
				if r.Type == TypeString {
					b = rw.textCell(b, string(v))
				} else {
					b = appendCSVField(b, v, ',')
				}
				fi[si]++
			} else if hi[si] < len(s.H) && s.H[hi[si]].T == t {
				b = appendCSVField(b, []byte(s.H[hi[si]].JSON), ',')
				hi[si]++
			}
		}
		rw.buf = append(b, '\n')
		if err := rw.maybeFlush(); err != nil {
			return err
		}
	}
	return rw.Close()
}
