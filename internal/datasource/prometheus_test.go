package datasource_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/promgate/promgate/internal/access"
	"github.com/promgate/promgate/internal/datasource/dstest"
	"github.com/promgate/promgate/internal/promtest"
	"github.com/promgate/promgate/internal/testkit"
	"github.com/promgate/promgate/internal/testpeer"
)

// realPrometheus starts the Prometheus binary named by
// PROMGATE_TEST_PROMETHEUS_BIN. Unset: the test fails in CI (CI=true) and
// is skipped elsewhere.
func realPrometheus(t *testing.T) *dstest.Prometheus {
	t.Helper()
	bin, err := dstest.Bin()
	if err != nil {
		testpeer.Missing(t, testpeer.Prometheus, err.Error())
	}
	p, err := dstest.StartPrometheus(testkit.Context(t), bin, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	return p
}

// seedSeries is the same data seedBackend appends, as remote_write series.
func seedSeries(now time.Time) []dstest.Series {
	var out []dstest.Series
	for _, env := range []string{"prod", "dev", "stage"} {
		for i := range 3 {
			s := dstest.Series{Labels: map[string]string{"__name__": "http_requests_total", "job": "api", "env": env, "instance": fmt.Sprintf("i%d", i)}}
			for m := 60; m >= 0; m-- {
				s.Timestamps = append(s.Timestamps, now.Add(-time.Duration(m)*time.Minute).UnixMilli())
				s.Values = append(s.Values, float64((60-m)*(i+1)*10))
			}
			out = append(out, s)
		}
	}
	return out
}

// TestRealPrometheus: every endpoint through promgate, by id and by uid,
// answers exactly what Prometheus 3.16.0 answers when asked directly.
func TestRealPrometheus(t *testing.T) {
	prom := realPrometheus(t)
	now := time.Now().Truncate(time.Minute)
	if err := dstest.RemoteWrite(testkit.Context(t), prom.URL+"/api/v1/write", "", "", seedSeries(now)); err != nil {
		t.Fatal(err)
	}
	front := promtest.Start(t)
	ds := promtest.AddDataSource(t, front, map[string]any{"name": "prometheus", "url": prom.URL, "env": "prod"})
	routes := map[string]string{
		"id":  front.URL + proxyPath + fmt.Sprint(ds.ID),
		"uid": front.URL + proxyPath + "uid/" + ds.UID,
	}
	for route, base := range routes {
		for _, tc := range endpointCases(now) {
			t.Run(route+"/"+tc.name, func(t *testing.T) {
				wantStatus, want := tc.request(t, prom.URL, promtest.Caller{})
				gotStatus, got := tc.request(t, base, front.Owner())
				if gotStatus != wantStatus || !bytes.Equal(got, want) {
					t.Fatalf("through promgate: %d %s\nPrometheus:      %d %s", gotStatus, got, wantStatus, want)
				}
			})
		}
	}
	// The data really is there (not two equal empty answers).
	_, body := endpointCase{"count", http.MethodGet, "api/v1/query", map[string][]string{"query": {"count(http_requests_total)"}, "time": {fmt.Sprint(now.Unix())}}}.request(t, routes["id"], front.Owner())
	if !bytes.Contains(body, []byte(`"9"]`)) {
		t.Fatalf("count through promgate: %s", body)
	}
	// A label-limited credential is confined on a remote data source too.
	key, token := front.Credential(t, access.RoleViewer, access.ScopeRead, `{env="prod"}`)
	_, body = endpointCase{"confined", http.MethodGet, "api/v1/query", map[string][]string{"query": {"count(http_requests_total)"}, "time": {fmt.Sprint(now.Unix())}}}.request(t, routes["id"], promtest.Caller{Key: key, Token: token})
	if !bytes.Contains(body, []byte(`"3"]`)) {
		t.Fatalf("confined count through promgate: %s", body)
	}
	// Test connection names the version.
	status, out := front.Owner().Do(t, http.MethodPost, fmt.Sprintf("%s%s/%d/test", front.URL, dsAPI, ds.ID), nil)
	if status != 200 || !bytes.Contains(out, []byte("Data source is working: Prometheus 3.16.0")) {
		t.Fatalf("test connection: %d %s", status, out)
	}
}

// TestSubqueriesWithoutStepMatchPrometheus: `x[5m:]` forms answer on data
// source 1 (the embedded engine) and on a remote data source exactly as
// Prometheus 3.16.0 answers them, in JSON, and the same CSV on both.
func TestSubqueriesWithoutStepMatchPrometheus(t *testing.T) {
	prom := realPrometheus(t)
	now := time.Now().Truncate(time.Minute)
	front := promtest.Start(t)
	for _, target := range []string{prom.URL + "/api/v1/write", front.URL + "/api/v1/write"} {
		user, password := "", ""
		if strings.HasPrefix(target, front.URL) {
			user, password = front.Key, front.Token
		}
		if err := dstest.RemoteWrite(testkit.Context(t), target, user, password, seedSeries(now)); err != nil {
			t.Fatal(err)
		}
	}
	ds := promtest.AddDataSource(t, front, map[string]any{"name": "prometheus", "url": prom.URL, "env": "prod"})
	bases := map[string]string{
		"embedded": front.URL + proxyPath + "1",
		"remote":   front.URL + proxyPath + fmt.Sprint(ds.ID),
	}
	for _, tc := range subqueryCases(now) {
		t.Run(tc.name, func(t *testing.T) {
			wantStatus, want := tc.request(t, prom.URL, promtest.Caller{})
			if wantStatus != http.StatusOK || !bytes.Contains(want, []byte(`"status":"success"`)) {
				t.Fatalf("Prometheus: %d %s", wantStatus, want)
			}
			for name, base := range bases {
				gotStatus, got := tc.request(t, base, front.Owner())
				if gotStatus != wantStatus || !bytes.Equal(got, want) {
					t.Fatalf("%s: %d %s\nPrometheus: %d %s", name, gotStatus, got, wantStatus, want)
				}
			}
			// CSV, asked both ways, is the same on both data sources.
			csvCase := tc
			csvCase.params = url.Values{"format": {"csv"}}
			for k, v := range tc.params {
				csvCase.params[k] = v
			}
			accept := promtest.Caller{Key: front.Key, Token: front.Token, Header: http.Header{"Accept": {"text/csv"}}}
			var first []byte
			for name, base := range bases {
				for how, c := range map[string]promtest.Caller{"format=csv": front.Owner(), "Accept": accept} {
					cc := csvCase
					if how == "Accept" {
						cc = tc
					}
					status, body := cc.request(t, base, c)
					if status != http.StatusOK || !bytes.HasPrefix(body, []byte("name,timestamp,value")) {
						t.Fatalf("%s CSV (%s): %d %s", name, how, status, body)
					}
					if first == nil {
						first = body
					} else if !bytes.Equal(body, first) {
						t.Fatalf("%s CSV (%s) differs:\n%s\nfrom\n%s", name, how, body, first)
					}
				}
			}
			if !strings.Contains(tc.name, "@ 100") && bytes.Count(first, []byte("\n")) < 2 {
				t.Fatalf("CSV has no rows: %s", first)
			}
		})
	}
}
