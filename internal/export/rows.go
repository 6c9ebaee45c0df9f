package export

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// rowWriter renders a result stream as CSV or TSV rows into its own buffer and
// hands full buffers to flush, so a row costs a few appends and no allocation.
type rowWriter struct {
	buf   []byte
	flush func(b []byte) ([]byte, error) // consumes b, returns an empty buffer to go on with
	sep   byte
	tsv   bool
	sheet bool // spreadsheet formula escaping of text cells

	labels []string
	index  map[string]int
	strict bool // a label outside the header is an error (header guessed from part of the result)

	text           bool // values are text (a string result)
	prefix, suffix []byte
	samples        int64
}

const rowBufSize = 64 << 10

func newRowWriter(format Format, opt Options, labels []string, strict bool, flush func([]byte) ([]byte, error)) *rowWriter {
	rw := &rowWriter{
		buf:    make([]byte, 0, rowBufSize),
		flush:  flush,
		sep:    ',',
		tsv:    format == TSV,
		sheet:  opt.Spreadsheet,
		labels: labels,
		index:  make(map[string]int, len(labels)),
		strict: strict,
	}
	if rw.tsv {
		rw.sep = '\t'
	}
	for i, l := range labels {
		rw.index[l] = i
	}
	return rw
}

// writerFlush adapts an io.Writer as a rowWriter flush.
func writerFlush(w io.Writer) func([]byte) ([]byte, error) {
	return func(b []byte) ([]byte, error) {
		_, err := w.Write(b)
		return b[:0], err
	}
}

func (rw *rowWriter) maybeFlush() error {
	if len(rw.buf) < rowBufSize-512 {
		return nil
	}
	var err error
	rw.buf, err = rw.flush(rw.buf)
	return err
}

// Close flushes what is buffered.
func (rw *rowWriter) Close() error {
	if len(rw.buf) == 0 {
		return nil
	}
	var err error
	rw.buf, err = rw.flush(rw.buf)
	return err
}

func (rw *rowWriter) header() error {
	rw.buf = rw.textCell(rw.buf, "name")
	rw.buf = append(rw.buf, rw.sep)
	rw.buf = append(rw.buf, "timestamp"...)
	rw.buf = append(rw.buf, rw.sep)
	rw.buf = append(rw.buf, "value"...)
	for _, l := range rw.labels {
		rw.buf = append(rw.buf, rw.sep)
		rw.buf = rw.textCell(rw.buf, l)
	}
	rw.buf = append(rw.buf, '\n')
	return rw.maybeFlush()
}

func (rw *rowWriter) begin(rt string) error {
	rw.text = rt == TypeString
	return nil
}

// HeaderError reports a label that is not among the header's columns.
type HeaderError struct {
	Label  string
	Series Metric
	Header []string
}

func (e *HeaderError) Error() string {
	all := append(append([]string(nil), e.Header...), e.Label)
	sort.Strings(all)
	return fmt.Sprintf("series %s has label %q, which is not among the CSV columns already written "+
		"(the header is the label union of the first chunk with data); rerun with --labels %s",
		e.Series, e.Label, strings.Join(all, ","))
}

func (rw *rowWriter) series(m Metric) error {
	rw.prefix = rw.textCell(rw.prefix[:0], m.Get(metricNameLabel))
	rw.prefix = append(rw.prefix, rw.sep)
	// Label values in header order; most series carry every label, so fill a
	// small slice rather than probing the map per column.
	vals := make([]string, len(rw.labels))
	for _, l := range m {
		if l.Name == metricNameLabel {
			continue
		}
		i, ok := rw.index[l.Name]
		if !ok {
			if rw.strict {
				return &HeaderError{Label: l.Name, Series: m, Header: rw.labels}
			}
			continue
		}
		vals[i] = l.Value
	}
	rw.suffix = rw.suffix[:0]
	for _, v := range vals {
		rw.suffix = append(rw.suffix, rw.sep)
		rw.suffix = rw.textCell(rw.suffix, v)
	}
	rw.suffix = append(rw.suffix, '\n')
	return nil
}

func (rw *rowWriter) sample(ts, v []byte) error {
	b := append(rw.buf, rw.prefix...)
	b = appendCanonTimestamp(b, ts)
	b = append(b, rw.sep)
	if rw.text {
		b = rw.textCell(b, string(v))
	} else {
		b = rw.field(b, v)
	}
	rw.buf = append(b, rw.suffix...)
	rw.samples++
	return rw.maybeFlush()
}

func (rw *rowWriter) histogram(ts, h []byte) error {
	b := append(rw.buf, rw.prefix...)
	b = appendCanonTimestamp(b, ts)
	b = append(b, rw.sep)
	b = rw.field(b, h)
	rw.buf = append(b, rw.suffix...)
	rw.samples++
	return rw.maybeFlush()
}

func (rw *rowWriter) end() error { return nil }

// text_ appends a text cell: formula-escaped when asked, then quoted.
func (rw *rowWriter) textCell(b []byte, s string) []byte {
	if rw.sheet && formulaLike(s) {
		b = rw.field(b, append([]byte{'\''}, s...))
		return b
	}
	return rw.fieldString(b, s)
}

// formulaLike reports whether a spreadsheet would treat the text as a formula.
func formulaLike(s string) bool {
	if s == "" {
		return false
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return true
	}
	return false
}

func (rw *rowWriter) field(b, f []byte) []byte {
	if rw.tsv {
		return appendTSVField(b, f)
	}
	return appendCSVField(b, f, rw.sep)
}

func (rw *rowWriter) fieldString(b []byte, s string) []byte {
	// Strings and byte slices take the same path; the conversion does not escape.
	return rw.field(b, []byte(s))
}

// appendCSVField quotes like Python's csv.QUOTE_MINIMAL: only when the field
// holds the separator, a quote, CR or LF.
//
// It quotes by hand, not with encoding/csv, because the output must match
// the reference Python script's byte for byte: encoding/csv also quotes a
// field that starts with a space or tab and the field `\.`, which Python's
// QUOTE_MINIMAL leaves bare. Appending to the row's bytes also avoids a
// string per cell.
func appendCSVField(b, f []byte, sep byte) []byte {
	quote := false
	for _, c := range f {
		if c == sep || c == '"' || c == '\n' || c == '\r' {
			quote = true
			break
		}
	}
	if !quote {
		return append(b, f...)
	}
	b = append(b, '"')
	for _, c := range f {
		if c == '"' {
			b = append(b, '"')
		}
		b = append(b, c)
	}
	return append(b, '"')
}

// appendTSVField escapes backslash, tab, LF and CR as \\ \t \n \r, the usual
// TSV convention (PostgreSQL COPY, ClickHouse), since TSV has no quoting.
func appendTSVField(b, f []byte) []byte {
	for _, c := range f {
		switch c {
		case '\\':
			b = append(b, '\\', '\\')
		case '\t':
			b = append(b, '\\', 't')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		default:
			b = append(b, c)
		}
	}
	return b
}

// labelUnion collects the sorted label names of a result, without __name__.
// Past max names it fails with a ColumnsError, so the reading stops there.
type labelUnion struct {
	names   map[string]struct{}
	nSeries int
	max     int
}

func newLabelUnion(max int) *labelUnion {
	return &labelUnion{names: map[string]struct{}{}, max: max}
}

func (u *labelUnion) begin(string) error { return nil }
func (u *labelUnion) series(m Metric) error {
	u.nSeries++
	for _, l := range m {
		if l.Name != metricNameLabel {
			u.names[l.Name] = struct{}{}
		}
	}
	if len(u.names) > u.max {
		return &ColumnsError{Max: u.max}
	}
	return nil
}
func (u *labelUnion) sample(_, _ []byte) error    { return nil }
func (u *labelUnion) histogram(_, _ []byte) error { return nil }
func (u *labelUnion) end() error                  { return nil }

func (u *labelUnion) sorted() []string {
	out := make([]string, 0, len(u.names))
	for n := range u.names {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
