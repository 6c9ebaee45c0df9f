package querycache_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/promgate/promgate/internal/datasource"
	"github.com/promgate/promgate/internal/promapi"
	"github.com/promgate/promgate/internal/querycache"
)

// rangeCase is a range query and its window relative to t0.
type rangeCase struct {
	query          string
	from, to, step time.Duration // from and to before t0
}

// rangeCases cross the 1h split boundaries the tests use, with steps that
// do and do not divide the interval, unaligned starts, and the PromQL
// that reads outside the step it evaluates (offsets, @, subqueries).
var rangeCases = []rangeCase{
	{`http_requests_total`, 6 * time.Hour, 0, time.Minute},
	{`rate(http_requests_total[5m])`, 6 * time.Hour, 0, 30 * time.Second},
	{`sum by (code) (rate(http_requests_total[5m]))`, 5*time.Hour + 7*time.Second, 3 * time.Second, 7 * time.Minute},
	{`histogram_quantile(0.9, sum by (le) (rate(req_duration_seconds_bucket[5m])))`, 6 * time.Hour, 0, time.Minute},
	{`http_requests_total offset 30m`, 4 * time.Hour, 0, 90 * time.Second},
	{`http_requests_total offset -20m`, 4 * time.Hour, time.Hour, time.Minute},
	{`http_requests_total @ end()`, 3 * time.Hour, 0, 2 * time.Minute},
	{`rate(http_requests_total[5m] @ start())`, 3 * time.Hour, 0, 2 * time.Minute},
	{`max_over_time(rate(http_requests_total[2m])[30m:1m])`, 5 * time.Hour, 0, 77 * time.Second},
	{`temperature > 21`, 7 * time.Hour, 0, 45 * time.Second},
	{`timestamp(temperature)`, 3 * time.Hour, 0, 13 * time.Second},
	{`scalar(sum(temperature))`, 4 * time.Hour, 0, time.Minute},
	{`vector(1)`, 2 * time.Hour, 0, 5 * time.Minute},
	{`late_series`, 6 * time.Hour, 0, time.Minute},
	{`gone_series`, 7 * time.Hour, 0, 3 * time.Minute},
	{`topk(2, temperature)`, 4 * time.Hour, 0, 50 * time.Second},
	{`absent(nonexistent_metric)`, 3 * time.Hour, 0, time.Minute},
	{`rate(temperature[5m])`, 2 * time.Hour, 0, time.Minute}, // an info: "might not be a counter"
	{`up`, 3 * time.Hour, 0, time.Minute},                    // no series at all
	{`sum(rate(http_requests_total[5m]))`, 20 * time.Minute, 0, 15 * time.Second},
	{`count_over_time(temperature[1h:5m] @ 1700000000)`, 3 * time.Hour, 0, 10 * time.Minute},
	{`http_requests_total`, 2 * time.Hour, 0, 2 * time.Hour}, // step longer than the interval
}

// aligned is params with start and end rounded down to the step, as the
// frontend asks the backend.
func aligned(p url.Values) url.Values {
	step, _ := strconv.ParseFloat(p.Get("step"), 64)
	out := url.Values{}
	for k, v := range p {
		out[k] = v
	}
	stepMs := int64(step * 1000)
	for _, k := range []string{"start", "end"} {
		f, _ := strconv.ParseFloat(p.Get(k), 64)
		ms := int64(f*1000+0.5) / stepMs * stepMs
		out.Set(k, fmt.Sprintf("%.3f", float64(ms)/1000))
	}
	return out
}

// checkCases runs every range case through a fresh frontend cold, then
// warm, and compares both with the data source's own answer; warm must
// not ask the data source at all (all data is older than the freshness
// window) and must equal cold byte for byte.
func checkCases(t *testing.T, ds datasource.DataSource, t0 time.Time, align bool) {
	front, err := querycache.New(querycache.Config{SplitInterval: time.Hour, Now: func() time.Time { return t0.Add(time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	cnt := &counting{DataSource: ds}
	for i, c := range rangeCases {
		params := rangeParams(c.query, t0.Add(-c.from).Add(-1234*time.Millisecond), t0.Add(-c.to), c.step)
		directParams := params
		if align {
			directParams = aligned(params)
		}
		what := fmt.Sprintf("case %d %s", i, c.query)
		direct := ask(t, ds, promapi.EndpointQueryRange, directParams)
		if empty := c.query == "up" || strings.Contains(c.query, "@ 1700000000"); empty == strings.Contains(string(direct.body), `"values"`) {
			t.Fatalf("%s: the data source's answer is not what the case is for: %.300s", what, direct.body)
		}
		cold := ask(t, front.Wrap(cnt, nil), promapi.EndpointQueryRange, params)
		sameAnswer(t, what+" cold", direct, cold)
		if len(cnt.take()) == 0 {
			t.Fatalf("%s: the cold request did not reach the data source", what)
		}
		warm := ask(t, front.Wrap(cnt, nil), promapi.EndpointQueryRange, params)
		sameAnswer(t, what+" warm", direct, warm)
		if calls := cnt.take(); len(calls) > 0 {
			t.Fatalf("%s: warm request asked the data source %d times: %v (cache header %q)", what, len(calls), calls, warm.header.Get(querycache.Header))
		}
		if string(warm.body) != string(cold.body) {
			t.Fatalf("%s: warm answer differs from cold\nwarm: %.500s\ncold: %.500s", what, warm.body, cold.body)
		}
		if h := warm.header.Get(querycache.Header); !strings.HasPrefix(h, "hit=") || !strings.Contains(h, " miss=0 fetched=0/") {
			t.Fatalf("%s: warm %s: %q", what, querycache.Header, h)
		}
	}
}

// TestMatchesEmbeddedStore: merged answers of the embedded store (Prometheus'
// engine in-process) equal its own answers, cold and warm.
func TestMatchesEmbeddedStore(t *testing.T) {
	t0 := time.Now().Truncate(time.Minute)
	checkCases(t, embeddedSource(t, t0), t0, true)
}

// TestMatchesPrometheus: the same against a real Prometheus as a remote
// data source, aligned and not.
func TestMatchesPrometheus(t *testing.T) {
	t0 := time.Now().Truncate(time.Minute)
	t.Run("aligned", func(t *testing.T) {
		checkCases(t, prometheusSource(t, t0, datasource.CacheSettings{}), t0, true)
	})
	t.Run("unaligned", func(t *testing.T) {
		checkCases(t, prometheusSource(t, t0, datasource.CacheSettings{NoStepAlign: true}), t0, false)
	})
}

// TestOnlyMissingStepsAreFetched: a dashboard refreshed as time moves asks
// the backend only for the steps after what is cached, never caches the
// freshness window, and always answers what the backend would.
func TestOnlyMissingStepsAreFetched(t *testing.T) {
	t0 := time.Now().Truncate(time.Minute)
	ds := embeddedSource(t, t0)
	now := t0.Add(-3 * time.Hour)
	const freshness = 10 * time.Minute
	front, err := querycache.New(querycache.Config{SplitInterval: time.Hour, Freshness: freshness, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	cnt := &counting{DataSource: ds}
	const step = 30 * time.Second
	for refresh := range 6 {
		params := rangeParams(`sum by (instance) (rate(http_requests_total[5m]))`, now.Add(-3*time.Hour), now, step)
		got := ask(t, front.Wrap(cnt, nil), promapi.EndpointQueryRange, params)
		sameAnswer(t, fmt.Sprintf("refresh %d", refresh), ask(t, ds, promapi.EndpointQueryRange, aligned(params)), got)
		calls := cnt.take()
		if refresh == 0 {
			if len(calls) != 4 { // 3h at 1h intervals, unaligned to the hour
				t.Fatalf("cold: %d backend requests, want 4 (one per interval): %v", len(calls), calls)
			}
			if h := got.header.Get(querycache.Header); h != "hit=0 miss=4 fetched=361/361" {
				t.Fatalf("cold: %s %q", querycache.Header, h)
			}
		} else {
			// Only what is newer than the last cached step: the freshness
			// window and the time that passed, in one request.
			// (two when an interval boundary falls in it)
			if len(calls) == 0 || len(calls) > 2 {
				t.Fatalf("refresh %d: %d backend requests, want 1 or 2: %v", refresh, len(calls), calls)
			}
			for _, call := range calls {
				start, _ := strconv.ParseFloat(call.Get("start"), 64)
				oldest := now.Add(-freshness - 2*time.Minute - step)
				if time.UnixMilli(int64(start * 1000)).Before(oldest) {
					t.Fatalf("refresh %d: asked from %s, more than the freshness window and the refresh interval (from %s)", refresh,
						time.UnixMilli(int64(start*1000)).UTC(), oldest.UTC())
				}
			}
		}
		now = now.Add(2 * time.Minute)
	}
}

// TestNotCached: answers with warnings, errors, no-store requests and
// recent instant queries always reach the backend; a settings change
// (a new generation) starts over.
func TestNotCached(t *testing.T) {
	t0 := time.Now().Truncate(time.Minute)
	ds := embeddedSource(t, t0)
	now := t0.Add(time.Hour)
	front, err := querycache.New(querycache.Config{SplitInterval: time.Hour, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	cnt := &counting{DataSource: ds}
	twice := func(name string, e promapi.Endpoint, params url.Values, h http.Header, wantCalls int, wantHeader string) {
		t.Helper()
		cnt.take()
		for i := range 2 {
			got := ask(t, front.Wrap(cnt, h), e, params)
			want := ask(t, ds, e, params)
			if e == promapi.EndpointQueryRange && got.status == http.StatusOK {
				want = ask(t, ds, e, aligned(params))
			}
			if e == promapi.EndpointQueryRange || params.Has("time") { // else evaluated at two different nows
				sameAnswer(t, name, want, got)
			}
			if i == 1 && !strings.HasPrefix(got.header.Get(querycache.Header)+" ", wantHeader+" ") {
				t.Fatalf("%s: second %s %q, want %q", name, querycache.Header, got.header.Get(querycache.Header), wantHeader)
			}
		}
		if n := len(cnt.take()); n != wantCalls && !(wantCalls < 0 && n >= 2) {
			t.Fatalf("%s: %d backend requests for two asks, want %d", name, n, wantCalls)
		}
	}
	from, to := t0.Add(-150*time.Minute), t0.Add(-30*time.Minute)
	// histogram_quantile over a series without le: a warning.
	twice("warning", promapi.EndpointQueryRange, rangeParams(`histogram_quantile(0.9, temperature)`, from, to, time.Minute), nil, 6, "hit=0 miss=3")
	twice("bad query", promapi.EndpointQueryRange, rangeParams(`rate(temperature[5m]`, from, to, time.Minute), nil, 2, "bypass")
	twice("backend error", promapi.EndpointQueryRange, rangeParams(`temperature + on(room) group_left http_requests_total`, from, to, time.Minute), nil, -1, "hit=0 miss=3")
	twice("no-store", promapi.EndpointQueryRange, rangeParams(`temperature`, from, to, time.Minute), http.Header{"Cache-Control": {"max-age=0, no-store"}}, 2, "bypass")
	twice("cached", promapi.EndpointQueryRange, rangeParams(`temperature`, from, to, time.Minute), nil, 3, "hit=3 miss=0")
	twice("limit", promapi.EndpointQueryRange, func() url.Values {
		p := rangeParams(`temperature`, from, to, time.Minute)
		p.Set("limit", "2")
		return p
	}(), nil, 2, "bypass")

	instant := func(q string, at time.Time) url.Values {
		return url.Values{"query": {q}, "time": {fmt.Sprintf("%.3f", float64(at.UnixMilli())/1000)}}
	}
	twice("old instant", promapi.EndpointQuery, instant(`sum(temperature)`, t0.Add(-time.Hour)), nil, 1, "hit=1 miss=0")
	twice("instant within freshness", promapi.EndpointQuery, instant(`sum(temperature)`, now.Add(-5*time.Minute)), nil, 2, "bypass")
	twice("instant reading the future", promapi.EndpointQuery, instant(`sum(temperature offset -1h)`, now.Add(-30*time.Minute)), nil, 2, "bypass")
	twice("instant without time", promapi.EndpointQuery, url.Values{"query": {`sum(temperature)`}}, nil, 2, "bypass")
	twice("instant warning", promapi.EndpointQuery, instant(`histogram_quantile(0.9, temperature)`, t0.Add(-time.Hour)), nil, 2, "hit=0 miss=1")

	// A settings change: the same data source with a new generation.
	info := ds.Info()
	info.Generation = "changed"
	cnt.info = &info
	twice("new generation", promapi.EndpointQueryRange, rangeParams(`temperature`, from, to, time.Minute), nil, 3, "hit=3 miss=0")
	info.Cache.Disabled = true
	twice("cache off", promapi.EndpointQueryRange, rangeParams(`temperature`, from, to, time.Minute), nil, 2, "bypass")
}
