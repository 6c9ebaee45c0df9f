package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/model"

	"github.com/promgate/promgate/internal/config"
	"github.com/promgate/promgate/internal/export"
)

// queryCmd holds the flags of `promgate query` and `promgate query-range`.
type queryCmd struct {
	name  string
	isRng bool

	url, key, token string
	format, output  string
	labels          string
	spreadsheet     bool
	maxSamples      int
	maxColumns      int
	timeout         time.Duration
	title           string
	width, height   int

	time string // instant
	args []string

	start, end, step string // range
	chunkPoints      int
	concurrency      int
	noProgress       bool
	align            bool
	unit             string
}

func runQuery(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return run(ctx, append([]string{"query"}, args...), nil, stdout, stderr)
}

func runQueryRange(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return run(ctx, append([]string{"query-range"}, args...), nil, stdout, stderr)
}

const queryHelp = `Runs an instant query and writes the result, CSV by default: columns
name,timestamp,value, then the sorted label names (as the reference script).

Examples:
  promgate query 'up'
  promgate query --url https://KEY:TOKEN@host/api-server/v1/grafana/api/datasources/proxy/1 'up' --format table
  promgate query 'up' --time 2026-11-25T10:00:00Z --output up.csv

Every flag can also be set with the PROMGATE_* variable shown beside it.
`

const queryRangeHelp = `Runs a range query and writes every sample of every series, CSV by default.
Long ranges are split into requests of at most --chunk-points points per
series (Prometheus refuses more than 11,000), fetched --concurrency at a time
and written in time order with constant memory (csv, tsv). table, wide, png,
svg, and json of more than one chunk hold the whole result (--max-samples).
Times: RFC 3339, unix seconds, now, or relative to now (-6h, now-30m).
The CSV header is the label union of the first chunk with data (exact when
one request covers the range); a label name first seen in a later chunk is an
error naming it: rerun with --labels to fix the columns.

Examples:
  promgate query-range 'rate(http_requests_total[5m])' --start -6h --step 1m
  promgate query-range 'up' --start 2026-11-01T00:00:00Z --end 2026-11-02T00:00:00Z --step 15s -o up.csv
  promgate query-range 'node_load1' --start -1d --step 5m --format png -o load.png
  promgate query-range 'process_resident_memory_bytes' --start -6h --unit bytes -o mem.svg
  promgate query-range 'up' --start -1h --step 1m --align -o up.csv

Charts (png, svg) draw the range asked for in UTC, with round time ticks, y
ticks in SI prefixes or --unit, and a legend under the plot that says how
many series it left out when they do not all fit.

Every flag can also be set with the PROMGATE_* variable shown beside it.
`

// addQuery defines `promgate query` or `promgate query-range` and its
// flags: the one place a new export flag goes.
func (cl *cli) addQuery(name string) {
	c := &queryCmd{name: name, isRng: name == "query-range"}
	help, long := "Run an instant query and print CSV (or --format).", queryHelp
	if c.isRng {
		help, long = "Run a range query, split and streamed.", queryRangeHelp
	}
	cmd := cl.app.Command(name, help).HelpLong(long)
	flag := func(name, help string) *kingpin.FlagClause {
		return cmd.Flag(name, help).Envar(config.EnvName(name))
	}
	flag("url", "Base URL of the data source (userinfo key:token@ is sent as basic auth; default "+export.DefaultURL+").").StringVar(&c.url)
	flag("key", "API credential key (basic auth user).").StringVar(&c.key)
	flag("token", "API credential token (basic auth password).").StringVar(&c.token)
	flag("format", "Output format: csv, tsv, json, table, wide, png, svg (default csv, or from the --output extension).").StringVar(&c.format)
	flag("output", "Write to FILE instead of stdout (replaced only when the export succeeds).").Short('o').PlaceHolder("FILE").StringVar(&c.output)
	flag("labels", "Comma-separated label columns, in this order (default: the sorted union).").StringVar(&c.labels)
	flag("spreadsheet", "Escape text cells starting with = + - @ for spreadsheets (csv, tsv; wide always does).").BoolVar(&c.spreadsheet)
	flag("max-columns", "Most label columns of csv, tsv and table (each label name is a column of every row).").Default(strconv.Itoa(export.DefaultMaxColumns)).IntVar(&c.maxColumns)
	flag("max-samples", "Most samples held in memory by table, wide, png, svg and merged json.").Default(strconv.Itoa(export.DefaultMaxSamples)).IntVar(&c.maxSamples)
	flag("timeout", "Timeout of each request (0: none).").Default("2m").DurationVar(&c.timeout)
	if c.isRng {
		flag("start", "Start time.").Default("-1h").PlaceHolder("TIME").StringVar(&c.start)
		flag("end", "End time.").Default("now").PlaceHolder("TIME").StringVar(&c.end)
		flag("step", "Resolution: a duration (15s, 1m) or seconds (default: (end-start)/250, at least 1s).").StringVar(&c.step)
		flag("chunk-points", "Most points per series in one request (at most 11000).").Default(strconv.Itoa(export.DefaultChunkPoints)).IntVar(&c.chunkPoints)
		flag("concurrency", "Most requests in flight.").Default(strconv.Itoa(export.DefaultConcurrency)).IntVar(&c.concurrency)
		flag("no-progress", "No progress bar (it is drawn only when stderr is a terminal).").BoolVar(&c.noProgress)
		flag("align", "Snap --start down and --end up to multiples of --step (as Grafana does), so exports of the same range line up.").BoolVar(&c.align)
		flag("title", "Chart title (default: the query).").StringVar(&c.title)
		flag("width", "Chart width in pixels.").Default("1200").IntVar(&c.width)
		flag("height", "Chart height in pixels.").Default("600").IntVar(&c.height)
		flag("unit", "Chart y axis unit: bytes (KiB, MiB...), seconds (ms, s, min, h) or percent (0-100) (default: SI prefixes k, M, G).").StringVar(&c.unit)
	} else {
		flag("time", "Evaluation time (default: the server's now).").PlaceHolder("TIME").StringVar(&c.time)
	}
	// Strings, not one String: more than one is a query left unquoted,
	// which deserves its own message.
	cmd.Arg("promql", "The PromQL query (quote it).").StringsVar(&c.args)
	cl.queries[name] = c
	cl.runners[name] = func(ctx context.Context) error { return cl.runQueryCmd(ctx, c) }
}

// query is the one PromQL query given.
func (c *queryCmd) query() (string, error) {
	switch len(c.args) {
	case 1:
		return c.args[0], nil
	case 0:
		return "", usageError{fmt.Sprintf("no PromQL query given (run %q for the flags)", "promgate "+c.name+" -h")}
	}
	return "", usageError{fmt.Sprintf("one PromQL query expected, got %d arguments (quote the query)", len(c.args))}
}

func (cl *cli) runQueryCmd(ctx context.Context, c *queryCmd) error {
	stdout, stderr := cl.stdout, cl.stderr
	query, err := c.query()
	if err != nil {
		return err
	}
	opt, err := c.options()
	if err != nil {
		return err
	}
	if c.url == "" {
		c.url = export.DefaultURL
	}
	client, err := export.NewClient(c.url, c.key, c.token, nil)
	if errors.Is(err, export.ErrHalfCredential) {
		return usageError{err.Error() + ": give both PROMGATE_KEY and PROMGATE_TOKEN (or --key and --token, or KEY:TOKEN@ in --url)"}
	}
	if err != nil {
		return usageError{err.Error()}
	}
	client.Timeout = c.timeout
	if !client.HasCredential() && client.IsDataSourceURL() {
		return errNoCredential()
	}
	ex := &export.Exporter{
		Client:      client,
		Options:     opt,
		ChunkPoints: c.chunkPoints,
		Concurrency: c.concurrency,
		Warn: func(kind, msg string) {
			fmt.Fprintf(stderr, "promgate: server %s: %s\n", kind, msg)
		},
	}

	var run func(w io.Writer) error
	now := time.Now()
	if c.isRng {
		start, err := parseTime(c.start, now)
		if err != nil {
			return usageError{fmt.Sprintf("--start: %v", err)}
		}
		end, err := parseTime(c.end, now)
		if err != nil {
			return usageError{fmt.Sprintf("--end: %v", err)}
		}
		if end.Before(start) {
			return usageError{"--end is before --start"}
		}
		step, err := parseStep(c.step, end.Sub(start))
		if err != nil {
			return usageError{fmt.Sprintf("--step: %v", err)}
		}
		if c.align {
			start, end = alignRange(start, end, step)
		}
		if c.chunkPoints < 1 || c.chunkPoints > export.PrometheusMaxPoints {
			return usageError{fmt.Sprintf("--chunk-points must be 1 to %d", export.PrometheusMaxPoints)}
		}
		if ex.Options.Title == "" {
			ex.Options.Title = query
		}
		run = func(w io.Writer) error { return ex.Range(ctx, w, query, start, end, step) }
	} else {
		var t time.Time
		if c.time != "" {
			if t, err = parseTime(c.time, now); err != nil {
				return usageError{fmt.Sprintf("--time: %v", err)}
			}
		}
		if opt.Format == export.PNG || opt.Format == export.SVG {
			return usageError{"png and svg charts need a range: use promgate query-range"}
		}
		run = func(w io.Writer) error { return ex.Instant(ctx, w, query, t) }
	}

	if c.output == "" || c.output == "-" {
		// Writes to a closed pipe must fail with EPIPE, not kill us, so that
		// `promgate query ... | head` ends quietly.
		if f, ok := stdout.(*os.File); ok {
			sig := make(chan os.Signal, 1)
			signal.Notify(sig, syscall.SIGPIPE)
			defer signal.Stop(sig)
			if c.isRng && !c.noProgress && export.IsTerminal(stderr) && !export.IsTerminal(f) {
				ex.Progress = export.NewBar(stderr)
			}
		}
		err = run(stdout)
		if errors.Is(err, syscall.EPIPE) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", c.name, explainQueryError(ctx, client, err))
		}
		return nil
	}
	if c.isRng && !c.noProgress && export.IsTerminal(stderr) {
		ex.Progress = export.NewBar(stderr)
	}
	if err := writeFileAtomic(c.output, run); err != nil {
		return fmt.Errorf("%s: %w", c.name, explainQueryError(ctx, client, err))
	}
	return nil
}

func (c *queryCmd) options() (export.Options, error) {
	opt := export.Options{
		Spreadsheet: c.spreadsheet,
		MaxSamples:  c.maxSamples,
		MaxColumns:  c.maxColumns,
		Title:       c.title,
		Width:       c.width,
		Height:      c.height,
	}
	switch {
	case c.format != "":
		f, err := export.ParseFormat(c.format)
		if err != nil {
			return opt, usageError{err.Error()}
		}
		opt.Format = f
	case c.output != "" && c.output != "-":
		if f, ok := export.FormatFromPath(c.output); ok {
			opt.Format = f
		}
	}
	if opt.Format == "" {
		opt.Format = export.CSV
	}
	if c.isRng && (opt.Format == export.PNG || opt.Format == export.SVG) {
		if c.width < export.MinChartWidth || c.height < export.MinChartHeight || c.width > export.MaxChartSide || c.height > export.MaxChartSide {
			return opt, usageError{fmt.Sprintf("--width and --height must be %dx%d to %d pixels", export.MinChartWidth, export.MinChartHeight, export.MaxChartSide)}
		}
	}
	if c.maxColumns < 1 {
		return opt, usageError{"--max-columns must be at least 1"}
	}
	if c.unit != "" {
		u, err := export.ParseUnit(c.unit)
		if err != nil {
			return opt, usageError{"--unit: " + err.Error()}
		}
		opt.Unit = u
	}
	if c.labels != "" {
		for _, l := range strings.Split(c.labels, ",") {
			if l = strings.TrimSpace(l); l != "" && l != "__name__" {
				opt.Labels = append(opt.Labels, l)
			}
		}
		if opt.Labels == nil {
			opt.Labels = []string{}
		}
	}
	return opt, nil
}

// writeFileAtomic writes through a temporary file next to path and renames it
// into place on success, so a failed export never leaves half a file.
func writeFileAtomic(path string, write func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.partial")
	if err != nil {
		return fmt.Errorf("creating output: %w", err)
	}
	tmp := f.Name()
	if err := write(f); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Chmod(tmp, 0o644); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// parseDuration accepts Prometheus durations (1d, 1h30m) and Go ones (1.5h).
func parseDuration(s string) (time.Duration, error) {
	if d, err := model.ParseDuration(s); err == nil {
		return time.Duration(d), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q", s)
	}
	return d, nil
}

// parseTime accepts RFC 3339, unix seconds, "now", "now-6h" and "-6h".
func parseTime(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "now":
		return now, nil
	case strings.HasPrefix(s, "now-"), strings.HasPrefix(s, "now+"):
		s = s[3:]
		fallthrough
	case strings.HasPrefix(s, "-") && len(s) > 1 && !isNumber(s), strings.HasPrefix(s, "+"):
		d, err := parseDuration(s[1:])
		if err != nil {
			return time.Time{}, err
		}
		if s[0] == '-' {
			d = -d
		}
		return now.Add(d), nil
	}
	if isNumber(s) {
		f, err := strconv.ParseFloat(s, 64)
		if err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
			return time.UnixMilli(int64(math.Round(f * 1000))), nil
		}
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("invalid time %q (want RFC 3339, unix seconds, now, or -6h)", s)
}

func isNumber(s string) bool {
	_, err := strconv.ParseFloat(s, 64)
	return err == nil
}

// parseStep accepts a duration or seconds; empty picks about 250 points.
func parseStep(s string, rng time.Duration) (time.Duration, error) {
	var d time.Duration
	if s == "" {
		d = (rng / 250).Truncate(time.Second)
		return max(d, time.Second), nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		d = time.Duration(math.Round(f * float64(time.Second)))
	} else if d, err = parseDuration(s); err != nil {
		return 0, fmt.Errorf("%w (want a duration such as 15s or 1m, or seconds such as 30)", err)
	}
	if d < time.Millisecond {
		return 0, fmt.Errorf("step %q must be at least 1ms", s)
	}
	return d, nil
}

// alignRange rounds start down and end up to multiples of step since the
// Unix epoch, so every export of a range asks for the same points.
func alignRange(start, end time.Time, step time.Duration) (time.Time, time.Time) {
	st := step.Milliseconds()
	if st <= 0 {
		return start, end
	}
	s, e := start.UnixMilli(), end.UnixMilli()
	s -= ((s % st) + st) % st
	if r := ((e % st) + st) % st; r != 0 {
		e += st - r
	}
	return time.UnixMilli(s), time.UnixMilli(e)
}
