package enforce

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
)

// Every series outside the prod tenant carries this marker in a label value
// or its metric name, so any leak shows up in the printed result.
const leakMarker = "devsecret"

var (
	e2eBase   = time.UnixMilli(1_700_000_000_000).UTC()
	e2eEnd    = e2eBase.Add(time.Hour)
	e2eStep   = 15 * time.Second
	e2ePolicy = `{asserts_env="prod"}`
)

type e2eSeries struct {
	lbls  labels.Labels
	value func(i int) float64 // value of the i-th sample
}

func counter(rate float64) func(int) float64 { return func(i int) float64 { return rate * float64(i) } }
func gauge(v float64) func(int) float64      { return func(int) float64 { return v } }

// e2eData holds two tenants plus series outside both. Label values shared
// with prod (job, instance of target_info) make joins and info() meaningful.
func e2eData() []e2eSeries {
	s := func(v func(int) float64, kv ...string) e2eSeries { return e2eSeries{labels.FromStrings(kv...), v} }
	return []e2eSeries{
		// prod
		s(gauge(1), "__name__", "up", "asserts_env", "prod", "job", "api", "instance", "prod-1"),
		s(counter(10), "__name__", "http_requests_total", "asserts_env", "prod", "job", "api", "instance", "prod-1", "code", "200"),
		s(counter(1), "__name__", "h_bucket", "asserts_env", "prod", "job", "api", "le", "0.1"),
		s(counter(5), "__name__", "h_bucket", "asserts_env", "prod", "job", "api", "le", "1"),
		s(counter(6), "__name__", "h_bucket", "asserts_env", "prod", "job", "api", "le", "+Inf"),
		s(gauge(3), "__name__", "my.metric", "asserts_env", "prod", "my.label", "p"),
		// dev
		s(gauge(0), "__name__", "up", "asserts_env", "dev", "job", "api", "instance", "devsecret-1"),
		s(counter(1000), "__name__", "http_requests_total", "asserts_env", "dev", "job", "api", "instance", "devsecret-1", "code", "500"),
		s(counter(7), "__name__", "h_bucket", "asserts_env", "dev", "job", "devsecret", "le", "0.1"),
		s(counter(9), "__name__", "h_bucket", "asserts_env", "dev", "job", "devsecret", "le", "+Inf"),
		s(gauge(42), "__name__", "devsecret_only", "asserts_env", "dev", "instance", "x"),
		s(gauge(43), "__name__", "devsecret.metric", "asserts_env", "dev", "devsecret.label", "v"),
		s(gauge(44), "__name__", "up", "asserts_env", "dev", "job", "api", "instance", "prod-1", "devsecret", "same-target"),
		// dev info series about the *prod* target: info() would attach it.
		s(gauge(1), "__name__", "target_info", "asserts_env", "dev", "job", "api", "instance", "prod-1", "owner", "devsecret"),
		// neither tenant: no policy label, a similar value, an empty value
		s(gauge(5), "__name__", "up", "job", "api", "instance", "devsecret-orphan"),
		s(gauge(6), "__name__", "up", "asserts_env", "production", "instance", "devsecret-prefix"),
		s(gauge(7), "__name__", "up", "asserts_env", "", "instance", "devsecret-empty"),
	}
}

func isProd(l labels.Labels) bool { return l.Get("asserts_env") == "prod" }

// openTSDB loads the series that keep() accepts into a fresh TSDB.
func openTSDB(t *testing.T, keep func(labels.Labels) bool) *tsdb.DB {
	t.Helper()
	opts := tsdb.DefaultOptions()
	opts.EnableExemplarStorage = true
	opts.MaxExemplars = 1000
	db, err := tsdb.Open(t.TempDir(), nil, nil, opts, tsdb.NewDBStats())
	if err != nil {
		t.Fatalf("open tsdb: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	app := db.Appender(context.Background())
	for _, s := range e2eData() {
		if !keep(s.lbls) {
			continue
		}
		var ref storage.SeriesRef
		for i, ts := 0, e2eBase; !ts.After(e2eEnd); i, ts = i+1, ts.Add(e2eStep) {
			if ref, err = app.Append(ref, s.lbls, ts.UnixMilli(), s.value(i)); err != nil {
				t.Fatalf("append %s: %v", s.lbls, err)
			}
		}
		ex := exemplar.Exemplar{Labels: labels.FromStrings("trace_id", "t-"+s.lbls.Get("instance")), Value: 1, Ts: e2eEnd.UnixMilli(), HasTs: true}
		if _, err := app.AppendExemplar(ref, s.lbls, ex); err != nil {
			t.Fatalf("append exemplar %s: %v", s.lbls, err)
		}
	}
	if err := app.Commit(); err != nil {
		t.Fatalf("commit: %v", err)
	}
	return db
}

func newEngine() *promql.Engine {
	return promql.NewEngine(promql.EngineOpts{
		MaxSamples:           1_000_000,
		Timeout:              time.Minute,
		LookbackDelta:        5 * time.Minute,
		EnableAtModifier:     true,
		EnableNegativeOffset: true,
	})
}

// runQuery evaluates q and renders everything a client could see: data,
// errors and warnings, in a stable order.
func runQuery(t *testing.T, ng *promql.Engine, db storage.Queryable, q string, rangeQuery bool) string {
	t.Helper()
	ctx := context.Background()
	var (
		qry promql.Query
		err error
	)
	if rangeQuery {
		qry, err = ng.NewRangeQuery(ctx, db, nil, q, e2eEnd.Add(-30*time.Minute), e2eEnd, time.Minute)
	} else {
		qry, err = ng.NewInstantQuery(ctx, db, nil, q, e2eEnd)
	}
	if err != nil {
		return "new query error: " + err.Error()
	}
	defer qry.Close()
	res := qry.Exec(ctx)
	var lines []string
	if res.Err != nil {
		lines = append(lines, "error: "+res.Err.Error())
	}
	warns, infos := res.Warnings.AsStrings(q, 0, 0)
	for _, w := range warns {
		lines = append(lines, "warning: "+w)
	}
	for _, w := range infos {
		lines = append(lines, "info: "+w)
	}
	switch v := res.Value.(type) {
	case promql.Vector:
		for _, s := range v {
			lines = append(lines, s.String())
		}
	case promql.Matrix:
		for _, s := range v {
			lines = append(lines, s.String())
		}
	case nil:
	default:
		lines = append(lines, v.String())
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

func TestEndToEndNoLeak(t *testing.T) {
	full := openTSDB(t, func(labels.Labels) bool { return true })
	prodOnly := openTSDB(t, isProd)
	ng := newEngine()
	pol := mustPolicy(t, e2ePolicy, parser.Options{})

	tests := []struct {
		name, q  string
		leaksRaw bool // without the rewrite the result depends on other tenants
	}{
		{"everything", `{__name__=~".+"}`, true},
		{"everything quoted name", `{"__name__"=~".+"}`, true},
		{"or join", `up or {asserts_env="dev"}`, true},
		{"or everything", `vector(1) or {__name__=~".+"}`, true},
		{"unless", `{__name__=~".+"} unless up{asserts_env="prod"}`, true},
		{"and on()", `up and on() devsecret_only`, true},
		{"on() group_left pulls labels", `up * on(job) group_left(instance, asserts_env) devsecret_only`, true},
		{"on() probe bool", `count(up) == bool on() count(devsecret_only)`, true},
		{"on(job) join into dev", `up * on(job) group_right(instance) up{asserts_env="dev"}`, true},
		{"vector(1)", `vector(1)`, false},
		{"absent probe", `absent(up{asserts_env="dev"})`, true},
		{"absent metric probe", `absent(devsecret_only)`, true},
		{"absent_over_time probe", `absent_over_time(devsecret_only[1h])`, true},
		{"present_over_time probe", `present_over_time(devsecret_only[1h])`, true},
		{"count by policy label", `count by (asserts_env) ({__name__=~".+"})`, true},
		{"count by instance", `count by (instance) ({__name__=~".+"})`, true},
		{"count everything", `count({__name__=~".+"})`, true},
		{"group by name", `group by (__name__) ({__name__=~".+"})`, true},
		{"count_values", `count_values("v", {__name__=~".+"})`, true},
		{"label_replace onto policy label", `label_replace({__name__=~".+"}, "asserts_env", "prod", "", "")`, true},
		{"label_replace reads dev", `label_replace(up{asserts_env="dev"}, "asserts_env", "prod", "", "")`, true},
		{"label_replace copies instance", `label_replace(up, "x", "$1", "instance", "(.*)")`, true},
		{"label_join", `label_join({__name__=~".+"}, "x", ",", "instance", "asserts_env")`, true},
		{"subquery", `max_over_time(up{asserts_env="dev"}[30m:1m])`, true},
		{"subquery everything", `sum_over_time({__name__=~".+"}[1h:5m])`, true},
		{"nested subquery", `max_over_time(rate(http_requests_total[5m])[30m:1m])`, true},
		{"at end", `up @ end()`, true},
		{"at start dev", `up{asserts_env="dev"} @ start()`, true},
		{"at fixed", fmt.Sprintf(`{__name__=~".+"} @ %d`, e2eEnd.Unix()), true},
		{"offset", `{__name__=~".+"} offset 10m`, true},
		{"negative offset", `up offset -10m`, true},
		{"subquery at offset", `max_over_time(up[10m:1m] @ end() offset 5m)`, true},
		{"regex dot star", `{asserts_env=~".*", __name__=~".+"}`, true},
		{"regex alternation", `{asserts_env=~"prod|dev"}`, true},
		{"regex unanchored attempt", `{asserts_env=~"prod.*"}`, true},
		{"negative regex", `{asserts_env!~"prod", __name__=~".+"}`, true},
		{"not equal", `{asserts_env!="prod", __name__=~".+"}`, true},
		{"empty string matcher", `up{asserts_env=""}`, true},
		{"empty regex", `{asserts_env=~"", __name__="up"}`, true},
		{"utf8 metric", `{"devsecret.metric"}`, true},
		{"utf8 label", `{"devsecret.label"=~".+"}`, true},
		{"utf8 grouping", `sum by ("devsecret.label", "my.label") ({__name__=~".+"})`, true},
		{"topk everything", `topk(100, {__name__=~".+"})`, true},
		{"scalar probe", `scalar(devsecret_only)`, true},
		{"timestamp probe", `timestamp(devsecret_only)`, true},
		{"aggregation param probe", `topk(scalar(count(devsecret_only)), up)`, true},
		{"quantile param probe", `quantile(scalar(devsecret_only) / 100, up)`, true},
		{"rate", `sum by (instance) (rate(http_requests_total[5m]))`, true},
		{"histogram_quantile", `histogram_quantile(0.9, sum by (job, le) (rate(h_bucket[5m])))`, true},
		{"duplicate labelset error", `label_replace({__name__="up"}, "instance", "same", "", "") * 1`, true},
		{"sort_desc", `sort_desc({__name__=~".+"})`, true},
		{"changes", `changes({__name__=~".+"}[1h])`, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rq, err := pol.RewriteQuery(tc.q)
			if err != nil {
				t.Fatalf("RewriteQuery(%q): %v", tc.q, err)
			}
			for _, rangeQuery := range []bool{false, true} {
				got := runQuery(t, ng, full, rq, rangeQuery)
				if strings.Contains(got, leakMarker) {
					t.Errorf("range=%v: %s\nleaks:\n%s", rangeQuery, rq, got)
				}
				// Non-interference: data outside the policy must make no
				// difference to anything the caller sees.
				if want := runQuery(t, ng, prodOnly, rq, rangeQuery); got != want {
					t.Errorf("range=%v: %s\nresult depends on other tenants' data:\nfull db:\n%s\nprod-only db:\n%s", rangeQuery, rq, got, want)
				}
			}
			if tc.leaksRaw {
				// Without the rewrite the attack must work, or it proves nothing.
				rawFull := runQuery(t, ng, full, tc.q, false) + runQuery(t, ng, full, tc.q, true)
				rawProd := runQuery(t, ng, prodOnly, tc.q, false) + runQuery(t, ng, prodOnly, tc.q, true)
				if rawFull == rawProd {
					t.Errorf("attack %q is not meaningful: unrewritten it shows nothing of other tenants", tc.q)
				}
			}
		})
	}
}

// TestEndToEndInfoRefused shows why info() is refused: it joins series that
// no selector names, here a dev target_info about a prod target.
func TestEndToEndInfoRefused(t *testing.T) {
	opts := parser.Options{EnableExperimentalFunctions: true}
	full := openTSDB(t, func(labels.Labels) bool { return true })
	ng := promql.NewEngine(promql.EngineOpts{
		MaxSamples: 1_000_000, Timeout: time.Minute, EnableAtModifier: true,
		Parser: parser.NewParser(opts),
	})
	pol := mustPolicy(t, e2ePolicy, opts)
	// Appending the policy to info()'s arguments is not enough: the
	// implicit target_info lookup still reaches the dev tenant.
	naive := `info(up{asserts_env="prod"})`
	if got := runQuery(t, ng, full, naive, false); !strings.Contains(got, leakMarker) {
		t.Fatalf("expected info() to leak without refusal, got:\n%s", got)
	}
	if rq, err := pol.RewriteQuery(`info(up)`); err == nil {
		t.Fatalf("info() was not refused: %q", rq)
	}
}

func TestEndToEndMatchers(t *testing.T) {
	full := openTSDB(t, func(labels.Labels) bool { return true })
	prodOnly := openTSDB(t, isProd)
	pol := mustPolicy(t, e2ePolicy, parser.Options{})
	pp := parser.NewParser(parser.Options{})

	// render lists what /series, /labels, /label/<name>/values and
	// /query_exemplars would answer for the rewritten match[] set.
	render := func(t *testing.T, db *tsdb.DB, matches []string) string {
		t.Helper()
		ctx := context.Background()
		sets, err := pp.ParseMetricSelectors(matches)
		if err != nil {
			t.Fatalf("rewritten match[] %q does not parse: %v", matches, err)
		}
		q, err := db.Querier(e2eBase.UnixMilli(), e2eEnd.UnixMilli())
		if err != nil {
			t.Fatal(err)
		}
		defer q.Close()
		var out []string
		names := map[string]bool{}
		for _, ms := range sets {
			ss := q.Select(ctx, false, nil, ms...)
			for ss.Next() {
				out = append(out, "series "+ss.At().Labels().String())
			}
			if err := ss.Err(); err != nil {
				t.Fatal(err)
			}
			ln, _, err := q.LabelNames(ctx, nil, ms...)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range ln {
				names[n] = true
				vals, _, err := q.LabelValues(ctx, n, nil, ms...)
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, fmt.Sprintf("values %s=%q", n, vals))
			}
		}
		for n := range names {
			out = append(out, "name "+n)
		}
		eq, err := db.ExemplarQuerier(ctx)
		if err != nil {
			t.Fatal(err)
		}
		exs, err := eq.Select(e2eBase.UnixMilli(), e2eEnd.UnixMilli(), sets...)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range exs {
			out = append(out, fmt.Sprintf("exemplars %s %v", e.SeriesLabels, e.Exemplars))
		}
		slices.Sort(out)
		return strings.Join(out, "\n")
	}

	tests := []struct {
		name    string
		matches []string
	}{
		{"omitted", nil},
		{"everything", []string{`{__name__=~".+"}`}},
		{"dev", []string{`{asserts_env="dev"}`}},
		{"dev and prod", []string{`up{asserts_env="prod"}`, `up{asserts_env="dev"}`}},
		{"regex", []string{`{asserts_env=~".*", instance=~".+"}`}},
		{"empty-matching only", []string{`{asserts_env=~".*"}`}},
		{"negative", []string{`{asserts_env!="prod", __name__=~".+"}`, `{asserts_env!~"prod", job=~".+"}`}},
		{"no policy label", []string{`{asserts_env="", __name__="up"}`}},
		{"utf8", []string{`{"devsecret.label"=~".*", __name__=~".+"}`, `{"devsecret.metric"}`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rm, err := pol.RewriteMatchers(tc.matches)
			if err != nil {
				t.Fatalf("RewriteMatchers(%q): %v", tc.matches, err)
			}
			got := render(t, full, rm)
			if strings.Contains(got, leakMarker) {
				t.Errorf("match[] %q leaks:\n%s", rm, got)
			}
			if want := render(t, prodOnly, rm); got != want {
				t.Errorf("match[] %q depends on other tenants' data:\nfull:\n%s\nprod-only:\n%s", rm, got, want)
			}
		})
	}
}

// TestEndToEndAllows checks Allows against the tenant split used above.
func TestEndToEndAllows(t *testing.T) {
	pol := mustPolicy(t, e2ePolicy, parser.Options{})
	for _, s := range e2eData() {
		if got, want := pol.Allows(s.lbls), isProd(s.lbls); got != want {
			t.Errorf("Allows(%s) = %v, want %v", s.lbls, got, want)
		}
	}
}
