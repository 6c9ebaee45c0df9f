package export_test

import (
	"bytes"
	"context"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/promgate/promgate/internal/export"
	"github.com/promgate/promgate/internal/promtest"
)

// loadTricky fills a real promgate with series whose labels need quoting and
// whose values are special, plus a native histogram; it returns the time of
// the first sample (ms) and the step between samples.
func loadTricky(t *testing.T, s *promtest.Server) (t0, step int64) {
	t0, step = time.Now().Add(-time.Hour).Truncate(time.Minute).UnixMilli(), 15_000
	ts := make([]int64, 40)
	for i := range ts {
		ts[i] = t0 + int64(i)*step
	}
	vals := func(f func(i int) float64) []float64 {
		out := make([]float64, len(ts))
		for i := range out {
			out[i] = f(i)
		}
		return out
	}
	s.Append(t, labels.FromStrings("__name__", "exp_tricky", "job", "a,b", "note", `say "hi"`), ts, vals(func(i int) float64 { return float64(i) / 8 }))
	s.Append(t, labels.FromStrings("__name__", "exp_tricky", "job", "multi\nline", "extra", "=1+1"), ts, vals(func(i int) float64 { return 1e-7 * float64(i) }))
	s.Append(t, labels.FromStrings("__name__", "exp_special", "kind", "nan"), ts, vals(func(int) float64 { return math.NaN() }))
	s.Append(t, labels.FromStrings("__name__", "exp_special", "kind", "inf"), ts, vals(func(i int) float64 {
		if i%2 == 0 {
			return math.Inf(1)
		}
		return math.Inf(-1)
	}))
	// A stale marker after sample 20: the series ends there, as after a failed scrape.
	s.Append(t, labels.FromStrings("__name__", "exp_special", "kind", "stale"), ts[:21], vals(func(i int) float64 {
		if i == 20 {
			return math.Float64frombits(value.StaleNaN)
		}
		return 1
	})[:21])
	app := s.App.TSDB.Appender(context.Background())
	for i, at := range ts {
		h := &histogram.FloatHistogram{
			Count: float64(3 + i), Sum: 4.5, Schema: 0, ZeroThreshold: 0.001, ZeroCount: 1,
			PositiveSpans: []histogram.Span{{Offset: 0, Length: 2}}, PositiveBuckets: []float64{1, float64(1 + i)},
		}
		if _, err := app.AppendHistogram(0, labels.FromStrings("__name__", "exp_hist"), at, nil, h); err != nil {
			t.Fatalf("append histogram: %v", err)
		}
	}
	if err := app.Commit(); err != nil {
		t.Fatal(err)
	}
	return t0, step
}

func sortedLines(s string) []string {
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	slices.Sort(lines[1:])
	return lines
}

// TestCLIPathAgreesWithWritePromQL checks that the CSV the CLI makes from the
// API's JSON and the CSV written directly from the engine's result
// (WritePromQL, in promql_test.go) are the same bytes, for instant and range queries.
func TestCLIPathAgreesWithWritePromQL(t *testing.T) {
	s := promtest.Start(t)
	t0, step := loadTricky(t, s)
	client, err := export.NewClient(s.BaseURL, "", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	eng, q := s.App.TSDB.Engine(), s.App.TSDB.Queryable()
	ctx := context.Background()
	at := time.UnixMilli(t0 + 10*step + 500) // a fractional timestamp
	start, end := time.UnixMilli(t0), time.UnixMilli(t0+39*step)

	tests := []struct {
		name    string
		query   string
		instant bool
		points  int // chunk size for the CLI path
	}{
		{"instant vector", `{__name__=~"exp_.*"}`, true, 0},
		{"instant scalar", `scalar(exp_special{kind="stale"}) * 0.0000001`, true, 0},
		{"instant string", `"a,b"`, true, 0},
		{"instant empty", `nothing_here`, true, 0},
		{"range one chunk", `{__name__=~"exp_.*"}`, false, 1000},
		{"range in chunks", `{__name__=~"exp_.*"}`, false, 7},
		{"range of rate", `rate(exp_tricky[1m])`, false, 5},
		{"range histogram quantile", `histogram_quantile(0.5, exp_hist)`, false, 3},
	}
	for _, tc := range tests {
		for _, format := range []export.Format{export.CSV, export.TSV} {
			t.Run(tc.name+"/"+string(format), func(t *testing.T) {
				var cli, srv bytes.Buffer
				ex := &export.Exporter{Client: client, ChunkPoints: tc.points, Options: export.Options{Format: format}}
				var v parser.Value
				if tc.instant {
					if err := ex.Instant(ctx, &cli, tc.query, at); err != nil {
						t.Fatal(err)
					}
					qry, err := eng.NewInstantQuery(ctx, q, nil, tc.query, at)
					if err != nil {
						t.Fatal(err)
					}
					defer qry.Close()
					res := qry.Exec(ctx)
					if res.Err != nil {
						t.Fatal(res.Err)
					}
					v = res.Value
				} else {
					if err := ex.Range(ctx, &cli, tc.query, start, end, time.Duration(step)*time.Millisecond); err != nil {
						t.Fatal(err)
					}
					qry, err := eng.NewRangeQuery(ctx, q, nil, tc.query, start, end, time.Duration(step)*time.Millisecond)
					if err != nil {
						t.Fatal(err)
					}
					defer qry.Close()
					res := qry.Exec(ctx)
					if res.Err != nil {
						t.Fatal(res.Err)
					}
					v = res.Value
				}
				if err := export.WritePromQL(&srv, format, v); err != nil {
					t.Fatal(err)
				}
				if tc.points == 0 || tc.points >= 40 {
					if cli.String() != srv.String() {
						t.Fatalf("CLI path:\n%s\nserver path:\n%s", cli.String(), srv.String())
					}
				} else if !slices.Equal(sortedLines(cli.String()), sortedLines(srv.String())) {
					// Chunked output is in time order across series, the engine's
					// in series order: same header and same rows.
					t.Fatalf("CLI path:\n%s\nserver path:\n%s", cli.String(), srv.String())
				}
				if tc.name == "instant vector" && format == export.CSV {
					for _, want := range []string{`"a,b"`, `"say ""hi"""`, "\"multi\nline\"", ",NaN,", ",+Inf,", `"{""count"":""13""`} {
						if !strings.Contains(cli.String(), want) {
							t.Errorf("output lacks %s:\n%s", want, cli.String())
						}
					}
				}
				if tc.name == "range one chunk" && format == export.CSV {
					// 20 samples before the stale marker, none at or after it.
					if n := strings.Count(cli.String(), "exp_special,") - 80; n != 20 {
						t.Errorf("stale series has %d samples, want 20", n)
					}
				}
			})
		}
	}
}
