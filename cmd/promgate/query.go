package main

import (
	"context"
	"errors"
	"flag"
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

	"github.com/prometheus/common/model"

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

	start, end, step string // range
	chunkPoints      int
	concurrency      int
	noProgress       bool
	align            bool
	unit             string
}

func runQuery(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runQueryCmd(ctx, "query", args, stdout, stderr)
}

func runQueryRange(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runQueryCmd(ctx, "query-range", args, stdout, stderr)
}

const queryHelp = `Usage: promgate query [flags] PROMQL

Runs an instant query and writes the result, CSV by default: columns
name,timestamp,value, then the sorted label names (as the reference script).

Examples:
  promgate query 'up'
  promgate query --url https://KEY:TOKEN@host/api-server/v1/grafana/api/datasources/proxy/1 'up' --format table
  promgate query 'up' --time 2026-11-25T10:00:00Z --output up.csv

Flags (each also from PROMGATE_<FLAG>, dashes as _, e.g. PROMGATE_URL):
`

const queryRangeHelp = `Usage: promgate query-range [flags] PROMQL --start T --end T --step D

Runs a range query and writes every sample of every series, CSV by default.
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

Flags (each also from PROMGATE_<FLAG>, dashes as _, e.g. PROMGATE_URL):
`

func (c *queryCmd) flags(stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("promgate "+c.name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.url, "url", "", "base URL of the data source (userinfo key:token@ is sent as basic auth)\n(default "+export.DefaultURL+")")
	fs.StringVar(&c.key, "key", "", "API credential key (basic auth user)")
	fs.StringVar(&c.token, "token", "", "API credential token (basic auth password)")
	fs.StringVar(&c.format, "format", "", "output format: csv, tsv, json, table, wide, png, svg\n(default csv, or from the --output extension)")
	fs.StringVar(&c.output, "output", "", "write to `FILE` instead of stdout (replaced only when the export succeeds)")
	fs.StringVar(&c.output, "o", "", "shorthand for --output")
	fs.StringVar(&c.labels, "labels", "", "comma-separated label columns, in this order (default: the sorted union)")
	fs.BoolVar(&c.spreadsheet, "spreadsheet", false, "escape text cells starting with = + - @ for spreadsheets (csv, tsv; wide always does)")
	fs.IntVar(&c.maxColumns, "max-columns", export.DefaultMaxColumns, "most label columns of csv, tsv and table (each label name is a column of every row)")
	fs.IntVar(&c.maxSamples, "max-samples", export.DefaultMaxSamples, "most samples held in memory by table, wide, png, svg and merged json")
	fs.DurationVar(&c.timeout, "timeout", 2*time.Minute, "timeout of each request (0: none)")
	if c.isRng {
		fs.StringVar(&c.start, "start", "-1h", "start `time`")
		fs.StringVar(&c.end, "end", "now", "end `time`")
		fs.StringVar(&c.step, "step", "", "resolution: a duration (15s, 1m) or seconds\n(default: (end-start)/250, at least 1s)")
		fs.IntVar(&c.chunkPoints, "chunk-points", export.DefaultChunkPoints, "most points per series in one request (at most 11000)")
		fs.IntVar(&c.concurrency, "concurrency", export.DefaultConcurrency, "most requests in flight")
		fs.BoolVar(&c.noProgress, "no-progress", false, "no progress bar (it is drawn only when stderr is a terminal)")
		fs.BoolVar(&c.align, "align", false, "snap --start down and --end up to multiples of --step (as Grafana does),\nso exports of the same range line up")
		fs.StringVar(&c.title, "title", "", "chart title (default: the query)")
		fs.IntVar(&c.width, "width", 1200, "chart width in pixels")
		fs.IntVar(&c.height, "height", 600, "chart height in pixels")
		fs.StringVar(&c.unit, "unit", "", "chart y axis unit: bytes (KiB, MiB...), seconds (ms, s, min, h) or percent (0-100)\n(default: SI prefixes k, M, G)")
	} else {
		fs.StringVar(&c.time, "time", "", "evaluation `time` (default: the server's now)")
	}
	help := queryHelp
	if c.isRng {
		help = queryRangeHelp
	}
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), help)
		fs.PrintDefaults()
	}
	return fs
}

// parseArgs parses flags given before or after the query, then fills unset
// flags from PROMGATE_<FLAG>.
func (c *queryCmd) parseArgs(args []string, stderr io.Writer) (string, error) {
	fs := c.flags(stderr)
	var pos []string
	for {
		if err := parseFlags(fs, args, c.name); err != nil {
			return "", err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || len(f.Name) < 2 {
			return
		}
		env := "PROMGATE_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(env); ok && v != "" {
			if err := f.Value.Set(v); err != nil && envErr == nil {
				envErr = usageError{fmt.Sprintf("%s: %v", env, err)}
			}
		}
	})
	if envErr != nil {
		return "", envErr
	}
	if len(pos) != 1 {
		fs.Usage()
		if len(pos) == 0 {
			return "", usageError{"no PromQL query given"}
		}
		return "", usageError{fmt.Sprintf("one PromQL query expected, got %d arguments (quote the query)", len(pos))}
	}
	return pos[0], nil
}

func runQueryCmd(ctx context.Context, name string, args []string, stdout, stderr io.Writer) error {
	c := &queryCmd{name: name, isRng: name == "query-range"}
	query, err := c.parseArgs(args, stderr)
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
			return fmt.Errorf("%s: %w", name, explainQueryError(ctx, client, err))
		}
		return nil
	}
	if c.isRng && !c.noProgress && export.IsTerminal(stderr) {
		ex.Progress = export.NewBar(stderr)
	}
	if err := writeFileAtomic(c.output, run); err != nil {
		return fmt.Errorf("%s: %w", name, explainQueryError(ctx, client, err))
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
