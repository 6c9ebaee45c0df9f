// Package export turns Prometheus query results into CSV, TSV, JSON, an
// aligned table, a wide (one column per series) CSV, or a PNG/SVG chart, and
// exports long ranges in chunks the server accepts.
//
// Memory: csv and tsv are written row by row as the response is decoded, so
// memory does not grow with the number of samples (only with the number of
// label columns). json of a single request is the server's body, copied
// through (and ended with a newline if it lacks one). table, wide, png, svg, and json merged from several range chunks
// need the whole result: they hold it (16 bytes a float sample) up to
// Options.MaxSamples and fail beyond it rather than exhaust memory.
//
// CSV columns are those of the reference Python script: name, timestamp,
// value, then the sorted union of label names without __name__. Timestamps are
// seconds as the script prints them (1681837357, 1681837357.5), values the
// API's strings (1, 0.25, NaN, +Inf, -Inf). A native histogram sample is one
// row whose value is the API's JSON object for it
// ({"count":"3","sum":"4","buckets":[[0,"0.5","1","2"]]}), since no single
// number stands for it.
//
// The header must precede the first row, so for a range split into chunks it
// is the label union of the first chunk that has any series (that chunk is
// spooled and read twice: memory, not a temp file, while under 1 MiB); a
// later series with a label outside it fails the export with a HeaderError
// naming the label and the --labels list that fixes it. One request (instant
// queries, short ranges) always gets the exact union, like the script.
// Options.Labels fixes the columns up front and drops other labels.
//
// Every row repeats every label column, so the output grows as rows × label
// names: a small answer whose series each carry a different label name would
// become hundreds of megabytes. csv, tsv and table therefore refuse more than
// Options.MaxColumns label columns (DefaultMaxColumns) with a ColumnsError,
// found while reading the label names, before any row is written.
//
// Lines end in \n; quoting is minimal (fields holding a
// comma, quote, CR or LF are quoted, quotes doubled), as Python's csv does.
package export

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"
)

// Format is an output format.
type Format string

// Output formats.
const (
	CSV   Format = "csv"
	TSV   Format = "tsv"
	JSON  Format = "json"
	Table Format = "table"
	Wide  Format = "wide"
	PNG   Format = "png"
	SVG   Format = "svg"
)

// Formats lists every format, default first.
var Formats = []Format{CSV, TSV, JSON, Table, Wide, PNG, SVG}

// ParseFormat accepts a format name, case-insensitively.
func ParseFormat(s string) (Format, error) {
	f := Format(strings.ToLower(strings.TrimSpace(s)))
	for _, g := range Formats {
		if f == g {
			return f, nil
		}
	}
	names := make([]string, len(Formats))
	for i, g := range Formats {
		names[i] = string(g)
	}
	return "", fmt.Errorf("unknown format %q (want one of %s)", s, strings.Join(names, ", "))
}

// FormatFromPath guesses a format from a file name's extension; ok is false
// when the extension names none.
func FormatFromPath(path string) (Format, bool) {
	ext := strings.TrimPrefix(strings.ToLower(filepath.Ext(path)), ".")
	switch ext {
	case "csv", "tsv", "json", "png", "svg":
		return Format(ext), true
	case "tab":
		return TSV, true
	case "txt":
		return Table, true
	}
	return "", false
}

// ContentType is the MIME type of the format's output.
func (f Format) ContentType() string {
	switch f {
	case CSV, Wide:
		return "text/csv; charset=utf-8"
	case TSV:
		return "text/tab-separated-values; charset=utf-8"
	case JSON:
		return "application/json"
	case PNG:
		return "image/png"
	case SVG:
		return "image/svg+xml"
	}
	return "text/plain; charset=utf-8"
}

// streams reports whether the format is written row by row.
func (f Format) streams() bool { return f == CSV || f == TSV }

// DefaultMaxSamples bounds the formats that hold the whole result (about 16 MiB of samples).
const DefaultMaxSamples = 1_000_000

// DefaultMaxColumns bounds the label columns of csv, tsv and table. Real
// series carry a handful of labels, rarely over 30, and a query over many
// metrics or jobs might reach a few hundred distinct names; a thousand
// columns is already past what a spreadsheet or a reader can use, while
// the 20,000 of a hostile result made a 1 MB answer a 400 MB CSV.
const DefaultMaxColumns = 1000

// ColumnsError reports a result with more distinct label names than the
// label columns allowed (Options.MaxColumns).
type ColumnsError struct {
	Max   int  // the bound
	Fixed bool // the columns were given (Options.Labels), not found in the result
}

func (e *ColumnsError) Error() string {
	if e.Fixed {
		return fmt.Sprintf("more than %d label columns asked for (at most %d)", e.Max, e.Max)
	}
	return fmt.Sprintf("the result has more than %d distinct label names, each a column of every row (at most %d)", e.Max, e.Max)
}

// Options controls how a result is written.
type Options struct {
	Format Format
	// Spreadsheet escapes text cells that a spreadsheet would run as a formula
	// (starting with = + - @ tab or CR) by prefixing a single quote. Numbers
	// (timestamp and value columns) are never touched. Wide always escapes.
	Spreadsheet bool
	// Labels fixes the label columns (in this order) instead of the union of
	// the result; labels outside it are left out.
	Labels []string
	// MaxColumns bounds the label columns of csv, tsv and table; 0 means
	// DefaultMaxColumns.
	MaxColumns int
	// MaxSamples bounds table, wide, png, svg and merged json; 0 means DefaultMaxSamples.
	MaxSamples int
	// Title, Width and Height are for charts (pixels; 0 means 1200x600).
	Title         string
	Width, Height int
	// Unit formats a chart's y axis (default: SI prefixes).
	Unit Unit
	// Start and End are a chart's x axis; zero: the data's extent.
	// Exporter.Range sets them to the range asked for.
	Start, End time.Time
}

func (o Options) maxColumns() int {
	if o.MaxColumns > 0 {
		return o.MaxColumns
	}
	return DefaultMaxColumns
}

func (o Options) maxSamples() int {
	if o.MaxSamples > 0 {
		return o.MaxSamples
	}
	return DefaultMaxSamples
}
