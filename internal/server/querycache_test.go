package server_test

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/promgate/promgate/internal/access"
	"github.com/promgate/promgate/internal/promtest"
	"github.com/promgate/promgate/internal/querycache"
	"github.com/promgate/promgate/internal/server"
	"github.com/promgate/promgate/internal/testkit"
)

// askCached sends a query_range as caller and returns the status, the
// cache header and the body.
func askCached(t *testing.T, s *promtest.Server, dsID int64, key, token, query string, from, to time.Time, h http.Header) (int, string, string) {
	t.Helper()
	form := url.Values{"query": {query}, "start": {fmt.Sprint(from.Unix())}, "end": {fmt.Sprint(to.Unix())}, "step": {"30"}}
	req, err := http.NewRequest(http.MethodPost, fmt.Sprintf("%s%s%d/api/v1/query_range", s.URL, server.ProxyPrefix, dsID), strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(key, token)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := testkit.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get(querycache.Header), string(body)
}

// TestQueryCacheThroughTheGate: the cache sits after the label policy (two
// credentials share entries only when their confined queries are the
// same), says what it did in a header and /metrics, is bypassed by
// Cache-Control: no-store, and a data source's settings change empties
// its entries.
func TestQueryCacheThroughTheGate(t *testing.T) {
	s := promtest.Start(t)
	now := time.Now().Truncate(time.Minute)
	from, to := now.Add(-3*time.Hour), now.Add(-time.Hour)
	var ts []int64
	var vals []float64
	for tt := from.Add(-10 * time.Minute); !tt.After(to); tt = tt.Add(15 * time.Second) {
		ts = append(ts, tt.UnixMilli())
		vals = append(vals, float64(len(ts)))
	}
	for _, env := range []string{"prod", "dev"} {
		s.Append(t, labels.FromStrings("__name__", "http_requests_total", "job", "api", "asserts_env", env), ts, vals)
	}
	prodA, tokA := s.Credential(t, access.RoleViewer, access.ScopeRead, `{asserts_env="prod"}`)
	prodB, tokB := s.Credential(t, access.RoleViewer, access.ScopeRead, `{asserts_env="prod"}`)
	dev, tokDev := s.Credential(t, access.RoleViewer, access.ScopeRead, `{asserts_env="dev"}`)
	const q = `sum by (asserts_env) (rate(http_requests_total[5m]))`

	status, cold, body := askCached(t, s, 1, prodA, tokA, q, from, to, nil)
	if status != http.StatusOK || !strings.HasPrefix(cold, "hit=0 miss=") || !strings.Contains(body, `"asserts_env":"prod"`) || strings.Contains(body, "dev") {
		t.Fatalf("prod A cold: %d %q %.300s", status, cold, body)
	}
	_, warm, warmBody := askCached(t, s, 1, prodB, tokB, q, from, to, nil)
	if !strings.Contains(warm, " miss=0 fetched=0/") || warmBody != body {
		t.Fatalf("prod B after A (same confined query): %q, same answer: %v", warm, warmBody == body)
	}
	_, devHeader, devBody := askCached(t, s, 1, dev, tokDev, q, from, to, nil)
	if !strings.HasPrefix(devHeader, "hit=0 ") || !strings.Contains(devBody, `"asserts_env":"dev"`) || strings.Contains(devBody, "prod") {
		t.Fatalf("dev after prod: %q %.300s", devHeader, devBody)
	}
	_, bypass, bypassBody := askCached(t, s, 1, prodA, tokA, q, from, to, http.Header{"Cache-Control": {"no-store"}})
	if bypass != "bypass" || bypassBody != body {
		t.Fatalf("no-store: %q, same answer: %v", bypass, bypassBody == body)
	}

	resp, err := testkit.HTTPClient().Get(s.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		"promgate_query_cache_hits_total ", "promgate_query_cache_misses_total ", "promgate_query_cache_bytes ",
		`promgate_query_cache_requests_total{datasource_id="1",endpoint="query_range",outcome="hit"} 1`,
		`promgate_query_cache_requests_total{datasource_id="1",endpoint="query_range",outcome="bypass"} 1`,
		`promgate_query_cache_backend_requests_total{datasource_id="1"}`,
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(string(metrics), "promgate_query_cache_bytes 0\n") {
		t.Error("promgate_query_cache_bytes is 0 after caching")
	}

	// promgate's own proxy as a remote data source: a real Prometheus API.
	view := promtest.AddDataSource(t, s, map[string]any{
		"name": "self", "url": s.URL + server.ProxyPrefix + "1", "env": "test",
		"basicAuthUser": s.Key, "basicAuthPassword": s.Token,
	})
	if view.Cache == nil || view.Cache.Disabled || view.Cache.NoStepAlign {
		t.Fatalf("new data source's cache settings: %+v", view.Cache)
	}
	for i, want := range []string{"hit=0 ", " miss=0 "} {
		_, h, _ := askCached(t, s, view.ID, s.Key, s.Token, q, from, to, nil)
		if !strings.Contains(h, want) {
			t.Fatalf("remote ask %d: %q, want %q", i, h, want)
		}
	}
	status, b := s.Owner().Do(t, http.MethodPut, fmt.Sprintf("%s/api-server/v1/datasources/%d", s.URL, view.ID), map[string]any{
		"name": "self", "url": s.URL + server.ProxyPrefix + "1", "env": "changed", "basicAuthUser": s.Key, "noStepAlign": true,
	})
	if status != http.StatusOK {
		t.Fatalf("update data source: %d %s", status, b)
	}
	if !strings.Contains(string(b), `"noStepAlign":true`) {
		t.Fatalf("updated data source does not show noStepAlign: %s", b)
	}
	if _, h, _ := askCached(t, s, view.ID, s.Key, s.Token, q, from, to, nil); !strings.HasPrefix(h, "hit=0 ") {
		t.Fatalf("after a settings change: %q, want every part from the backend", h)
	}
	status, b = s.Owner().Do(t, http.MethodPut, fmt.Sprintf("%s/api-server/v1/datasources/%d", s.URL, view.ID), map[string]any{
		"name": "self", "url": s.URL + server.ProxyPrefix + "1", "env": "changed", "basicAuthUser": s.Key, "cacheDisabled": true,
	})
	if status != http.StatusOK {
		t.Fatalf("update data source: %d %s", status, b)
	}
	if _, h, _ := askCached(t, s, view.ID, s.Key, s.Token, q, from, to, nil); h != "bypass" {
		t.Fatalf("cache off: %q", h)
	}
}
