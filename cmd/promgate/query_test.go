package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"image/png"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/promgate/promgate/internal/promtest"
	"github.com/promgate/promgate/internal/testpeer"
)

func queryTestCSV(t *testing.T, s string) [][]string {
	t.Helper()
	r := csv.NewReader(strings.NewReader(s))
	r.FieldsPerRecord = -1
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatalf("not CSV: %v\n%s", err, s)
	}
	return recs
}

// queryTestLoad appends n points every step (ms) ending about now to a few
// series with labels that need quoting.
func queryTestLoad(t *testing.T, s *promtest.Server, n int, step int64) (first, last int64) {
	last = time.Now().Truncate(time.Minute).UnixMilli()
	first = last - int64(n-1)*step
	ts := make([]int64, n)
	for i := range ts {
		ts[i] = first + int64(i)*step
	}
	for k, lbls := range []labels.Labels{
		labels.FromStrings("__name__", "ref_metric", "job", "api", "instance", "10.0.0.1:8030"),
		labels.FromStrings("__name__", "ref_metric", "job", "a,b \"quoted\"", "pod", "multi\nline"),
		labels.FromStrings("__name__", "ref_other", "env", "=cmd", "job", "api"),
	} {
		vals := make([]float64, n)
		for i := range vals {
			vals[i] = float64(k*1000+i) / 4
		}
		if k == 2 {
			vals[n-1] = math.Inf(-1)
		}
		s.Append(t, lbls, ts, vals)
	}
	return first, last
}

func TestQueryMatchesReferenceScript(t *testing.T) {
	py := "/usr/bin/python3"
	if out, err := exec.Command(py, "-c", "import requests").CombinedOutput(); err != nil {
		testpeer.Missing(t, testpeer.PythonReq, fmt.Sprintf("%s cannot import requests (%v %s); install it with: apt-get install -y python3-requests", py, err, bytes.TrimSpace(out)))
	}
	s := promtest.Start(t)
	queryTestLoad(t, s, 10, 15_000)
	script, err := filepath.Abs("testdata/export/reference_query_csv.py")
	if err != nil {
		t.Fatal(err)
	}
	tsFormat := regexp.MustCompile(`^\d+(\.\d*[1-9])?$`) // Python's str of the API's seconds
	for _, query := range []string{`{__name__=~"ref_.*"}`, `ref_metric`, `sum by (job) (ref_metric)`, `nothing_here`, `ref_other * 0`} {
		t.Run(query, func(t *testing.T) {
			cmd := exec.Command(py, script, query)
			cmd.Env = append(os.Environ(), "PROMGATE_URL="+s.BaseURL)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			want, err := cmd.Output()
			if err != nil {
				t.Fatalf("reference script: %v\n%s", err, stderr.String())
			}
			var got, errOut bytes.Buffer
			if err := runQuery(context.Background(), []string{"--url", s.BaseURL, query}, &got, &errOut); err != nil {
				t.Fatalf("promgate query: %v\n%s", err, errOut.String())
			}
			w, g := queryTestCSV(t, string(want)), queryTestCSV(t, got.String())
			if !slices.Equal(w[0], g[0]) {
				t.Fatalf("header: script %q, promgate %q", w[0], g[0])
			}
			if len(w) != len(g) {
				t.Fatalf("script wrote %d rows, promgate %d\n%s\n%s", len(w), len(g), want, got.String())
			}
			// Each run is evaluated at its own "now", so timestamps differ by a
			// little; compare them for form, everything else exactly and in order.
			for i := 1; i < len(w); i++ {
				if !tsFormat.MatchString(w[i][1]) || !tsFormat.MatchString(g[i][1]) {
					t.Fatalf("timestamps %q (script) and %q (promgate) not in the same form", w[i][1], g[i][1])
				}
				wt, _ := strconv.ParseFloat(w[i][1], 64)
				gt, _ := strconv.ParseFloat(g[i][1], 64)
				if math.Abs(wt-gt) > 60 {
					t.Fatalf("timestamps %v and %v too far apart", wt, gt)
				}
				w[i][1], g[i][1] = "", ""
				if !slices.Equal(w[i], g[i]) {
					t.Fatalf("row %d: script %q, promgate %q", i, w[i], g[i])
				}
			}
		})
	}
}

func TestQueryRangeChunkBoundaries(t *testing.T) {
	s := promtest.Start(t)
	const n, step = 2000, 15_000
	first, last := queryTestLoad(t, s, n, step)
	tests := []struct {
		name string
		args []string
	}{
		{"default chunks", nil},
		{"small odd chunks", []string{"--chunk-points", "97", "--concurrency", "4"}},
		{"one at a time", []string{"--chunk-points", "500", "--concurrency", "1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{`{__name__=~"ref_.*"}`, "--url", s.BaseURL,
				"--start", strconv.FormatInt(first/1000, 10), "--end", strconv.FormatInt(last/1000, 10), "--step", "15s"}, tc.args...)
			var out, errOut bytes.Buffer
			if err := runQueryRange(context.Background(), args, &out, &errOut); err != nil {
				t.Fatalf("%v\n%s", err, errOut.String())
			}
			recs := queryTestCSV(t, out.String())
			if got := strings.Join(recs[0], ","); got != "name,timestamp,value,env,instance,job,pod" {
				t.Fatalf("header %s", got)
			}
			count := map[string]int{}
			seen := map[string]bool{}
			for _, r := range recs[1:] {
				series := strings.Join(append([]string{r[0]}, r[3:]...), "|")
				key := series + "@" + r[1]
				if seen[key] {
					t.Fatalf("duplicate sample %q", key)
				}
				seen[key] = true
				count[series]++
			}
			if len(count) != 3 {
				t.Fatalf("%d series: %v", len(count), count)
			}
			for series, c := range count {
				if c != n {
					t.Errorf("series %q has %d samples, want %d", series, c, n)
				}
			}
			if !strings.Contains(out.String(), ",-Inf,") {
				t.Error("-Inf missing")
			}
		})
	}
}

func TestQueryErrors(t *testing.T) {
	s := promtest.Start(t)
	tests := []struct {
		name    string
		run     func(context.Context, []string, *bytes.Buffer, *bytes.Buffer) error
		args    []string
		wantSub []string
	}{
		{"bad promql", queryTestRun(runQuery), []string{"--url", s.BaseURL, "sum("}, []string{"HTTP 400 Bad Request", "bad_data", "parse error"}},
		{"bad credential", queryTestRun(runQuery), []string{"--url", s.BaseURL, "--token", "nope", "up"}, []string{"HTTP 401"}},
		{"range too long for one chunk is fine but end before start is not", queryTestRun(runQueryRange), []string{"--url", s.BaseURL, "--start", "now", "--end", "-1h", "up"}, []string{"--end is before --start"}},
		{"no query", queryTestRun(runQuery), []string{"--url", s.BaseURL}, []string{"no PromQL query"}},
		{"chart of instant", queryTestRun(runQuery), []string{"--url", s.BaseURL, "--format", "png", "up"}, []string{"query-range"}},
		{"unknown format", queryTestRun(runQuery), []string{"--format", "xls", "up"}, []string{"unknown format"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := tc.run(context.Background(), tc.args, &out, &errOut)
			if err == nil {
				t.Fatalf("no error; output %q", out.String())
			}
			for _, sub := range tc.wantSub {
				if !strings.Contains(err.Error(), sub) {
					t.Fatalf("error %q lacks %q", err, sub)
				}
			}
			if out.Len() != 0 {
				t.Fatalf("data written on error: %q", out.String())
			}
		})
	}
}

func queryTestRun(f func(context.Context, []string, io.Writer, io.Writer) error) func(context.Context, []string, *bytes.Buffer, *bytes.Buffer) error {
	return func(ctx context.Context, args []string, out, errOut *bytes.Buffer) error {
		return f(ctx, args, out, errOut)
	}
}

func TestQueryBrokenPipe(t *testing.T) {
	s := promtest.Start(t)
	first, last := queryTestLoad(t, s, 3000, 15_000)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.Close() // the reader (e.g. `head`) has gone away
	defer w.Close()
	var errOut bytes.Buffer
	err = runQueryRange(context.Background(), []string{"--url", s.BaseURL, "--chunk-points", "100",
		"--start", strconv.FormatInt(first/1000, 10), "--end", strconv.FormatInt(last/1000, 10), "--step", "15", `{__name__=~"ref_.*"}`}, w, &errOut)
	if err != nil {
		t.Fatalf("broken pipe should end quietly, got %v", err)
	}
	if errOut.Len() != 0 {
		t.Fatalf("stderr: %q", errOut.String())
	}
}

func TestQueryRangeOutputFiles(t *testing.T) {
	s := promtest.Start(t)
	first, last := queryTestLoad(t, s, 300, 15_000)
	dir := t.TempDir()
	rng := []string{"--url", s.BaseURL, "--start", strconv.FormatInt(first/1000, 10), "--end", strconv.FormatInt(last/1000, 10), "--step", "15s"}
	tests := []struct {
		file  string
		extra []string
		check func(t *testing.T, b []byte)
	}{
		{"chart.png", nil, func(t *testing.T, b []byte) {
			if _, err := png.Decode(bytes.NewReader(b)); err != nil {
				t.Fatalf("not a PNG: %v", err)
			}
		}},
		{"chart.svg", nil, func(t *testing.T, b []byte) {
			if !bytes.Contains(b[:min(len(b), 200)], []byte("<svg")) {
				t.Fatalf("not an SVG: %.200s", b)
			}
		}},
		{"wide.csv", []string{"--format", "wide"}, func(t *testing.T, b []byte) {
			recs := queryTestCSV(t, string(b))
			if len(recs) != 301 || len(recs[0]) != 4 {
				t.Fatalf("wide: %d rows of %d columns", len(recs), len(recs[0]))
			}
		}},
		{"data.json", nil, func(t *testing.T, b []byte) {
			if !bytes.HasPrefix(b, []byte(`{"status":"success","data":{"resultType":"matrix"`)) {
				t.Fatalf("json: %.100s", b)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join(dir, tc.file)
			var out, errOut bytes.Buffer
			args := append(append([]string{`{__name__=~"ref_.*"}`, "-o", path}, rng...), tc.extra...)
			if err := runQueryRange(context.Background(), args, &out, &errOut); err != nil {
				t.Fatalf("%v\n%s", err, errOut.String())
			}
			if out.Len() != 0 {
				t.Fatal("data went to stdout")
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, b)
		})
	}
	// A failed export leaves no file behind.
	path := filepath.Join(dir, "failed.csv")
	var out, errOut bytes.Buffer
	if err := runQueryRange(context.Background(), append([]string{"sum(", "-o", path}, rng...), &out, &errOut); err == nil {
		t.Fatal("no error")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != len(tests) {
		t.Fatalf("files left: %v", entries)
	}
}

func TestQueryFlagParsing(t *testing.T) {
	t.Setenv("PROMGATE_URL", "http://key:token@127.0.0.1:1/base")
	t.Setenv("PROMGATE_FORMAT", "tsv")
	c, q, err := parseQueryArgs("query-range", "--start", "-6h", "rate(x[5m])", "--step", "1m", "--format", "json")
	if err != nil {
		t.Fatal(err)
	}
	if q != "rate(x[5m])" || c.start != "-6h" || c.step != "1m" || c.format != "json" || c.url != "http://key:token@127.0.0.1:1/base" {
		t.Fatalf("parsed %q %+v", q, c)
	}
	if _, q, err = parseQueryArgs("query", "--", "-up"); err != nil || q != "-up" {
		t.Fatalf("after --: %q %v", q, err)
	}
	// A value starting with "-" given to -o is the value, not a flag.
	if c, q, err = parseQueryArgs("query", "-o", "-", "up", "--spreadsheet=false"); err != nil || q != "up" || c.output != "-" || c.spreadsheet {
		t.Fatalf("-o -: %q %+v %v", q, c, err)
	}
	if c, _, err = parseQueryArgs("query", "--spreadsheet=true", "up"); err != nil || !c.spreadsheet {
		t.Fatalf("--spreadsheet=true: %+v %v", c, err)
	}
	var help bytes.Buffer
	if err := run(context.Background(), []string{"query", "-h"}, nil, io.Discard, &help); err != nil || !strings.Contains(help.String(), "usage: promgate query") {
		t.Fatalf("-h: %v\n%s", err, help.String())
	}

	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	times := []struct {
		in   string
		want time.Time
	}{
		{"now", now},
		{"-6h", now.Add(-6 * time.Hour)},
		{"now-30m", now.Add(-30 * time.Minute)},
		{"now+1d", now.Add(24 * time.Hour)},
		{"1681837357", time.Unix(1681837357, 0)},
		{"1681837357.5", time.UnixMilli(1681837357500)},
		{"2026-11-01T00:00:00Z", time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)},
		{"2026-11-01T02:00:00+02:00", time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)},
	}
	for _, tc := range times {
		got, err := parseTime(tc.in, now)
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("parseTime(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	if _, err := parseTime("yesterday", now); err == nil {
		t.Error("parseTime accepted nonsense")
	}
	steps := []struct {
		in   string
		want time.Duration
	}{{"15s", 15 * time.Second}, {"1m", time.Minute}, {"30", 30 * time.Second}, {"0.5", 500 * time.Millisecond}, {"", 14 * time.Second}}
	for _, tc := range steps {
		if got, err := parseStep(tc.in, time.Hour); err != nil || got != tc.want {
			t.Errorf("parseStep(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	if _, err := parseStep("0", time.Hour); err == nil {
		t.Error("zero step accepted")
	}
}

// TestFlagMistakesAreShort: a mistyped flag gets one line naming it and the
// -h to run, not the whole flag list with the error above it; -h still
// prints the full help.
func TestFlagMistakesAreShort(t *testing.T) {
	for _, cmd := range []string{"query", "query-range", "serve", "admin user list", "admin credential create", "admin datasource add", "admin backup"} {
		t.Run(cmd, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(context.Background(), append(strings.Fields(cmd), "--fromat", "csv", "up"), nil, &out, &errOut)
			if err == nil {
				t.Fatal("no error")
			}
			if code := exitCode(err); code != 2 {
				t.Errorf("exit status %d, want 2", code)
			}
			for _, w := range []string{"-fromat", "promgate " + cmd + " -h"} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q: %v", w, err)
				}
			}
			if errOut.Len() != 0 {
				t.Errorf("stderr besides the error:\n%s", errOut.String())
			}

			errOut.Reset()
			err = run(context.Background(), append(strings.Fields(cmd), "-h"), nil, &out, &errOut)
			if err != nil && exitCode(err) != 0 {
				t.Errorf("-h: %v", err)
			}
			if !strings.Contains(strings.ToLower(errOut.String()), "usage") || !strings.Contains(errOut.String(), "-") {
				t.Errorf("-h printed:\n%s", errOut.String())
			}
		})
	}
}

// parseQueryArgs parses `promgate <name> args...` as run does, without
// running the query.
func parseQueryArgs(name string, args ...string) (*queryCmd, string, error) {
	cl := newCLI(nil, io.Discard, io.Discard)
	if _, err := cl.parse(append([]string{name}, args...)); err != nil {
		return nil, "", err
	}
	c := cl.queries[name]
	q, err := c.query()
	return c, q, err
}

// TestQueryRangeBadStepSaysWhatItWants: a --step that is neither a duration
// nor seconds says which forms are accepted.
func TestQueryRangeBadStepSaysWhatItWants(t *testing.T) {
	t.Setenv("PROMGATE_URL", "")
	err := run(context.Background(), []string{"query-range", "--url", "http://k:t@127.0.0.1:1/api-server/v1/grafana/api/datasources/proxy/1", "--step", "abc", "up"}, nil, io.Discard, io.Discard)
	if err == nil || exitCode(err) != 2 {
		t.Fatalf("err %v", err)
	}
	for _, w := range []string{"--step", `"abc"`, "15s", "1m", "seconds"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q: %v", w, err)
		}
	}
}
