package datasource_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	promclient "github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/promgate/promgate/internal/access"
	"github.com/promgate/promgate/internal/mgmtapi"
	"github.com/promgate/promgate/internal/promtest"
	"github.com/promgate/promgate/internal/testkit"
)

// endpointCase is one read request, asked of the backend directly and
// through the front; the answers must be the same bytes.
type endpointCase struct {
	name, method, path string
	params             url.Values
}

func endpointCases(now time.Time) []endpointCase {
	ts := func(t time.Time) string { return fmt.Sprintf("%d", t.Unix()) }
	start, end := now.Add(-30*time.Minute), now
	return append([]endpointCase{
		{"query GET", http.MethodGet, "api/v1/query", url.Values{"query": {`sum by (env) (rate(http_requests_total[5m]))`}, "time": {ts(end)}}},
		{"query POST", http.MethodPost, "api/v1/query", url.Values{"query": {`http_requests_total{env="prod"}`}, "time": {ts(end)}}},
		{"query error", http.MethodGet, "api/v1/query", url.Values{"query": {`sum(`}}},
		{"query missing param", http.MethodGet, "api/v1/query", url.Values{}},
		{"query_range", http.MethodGet, "api/v1/query_range", url.Values{"query": {`http_requests_total`}, "start": {ts(start)}, "end": {ts(end)}, "step": {"60"}}},
		{"query_range POST", http.MethodPost, "api/v1/query_range", url.Values{"query": {`rate(http_requests_total[5m])`}, "start": {ts(start)}, "end": {ts(end)}, "step": {"30"}}},
		{"series", http.MethodGet, "api/v1/series", url.Values{"match[]": {`http_requests_total`, `{job="api"}`}, "start": {ts(start)}, "end": {ts(end)}}},
		{"series POST", http.MethodPost, "api/v1/series", url.Values{"match[]": {`{env="dev"}`}, "start": {ts(start)}, "end": {ts(end)}}},
		{"labels", http.MethodGet, "api/v1/labels", url.Values{"match[]": {`http_requests_total`}, "start": {ts(start)}, "end": {ts(end)}}},
		{"label values", http.MethodGet, "api/v1/label/env/values", url.Values{"match[]": {`http_requests_total`}, "start": {ts(start)}, "end": {ts(end)}}},
		{"label values __name__", http.MethodGet, "api/v1/label/__name__/values", url.Values{"match[]": {`{job="api"}`}, "start": {ts(start)}, "end": {ts(end)}}},
		{"metadata", http.MethodGet, "api/v1/metadata", url.Values{"metric": {"promgate_build_info"}}},
		{"query_exemplars", http.MethodGet, "api/v1/query_exemplars", url.Values{"query": {`http_requests_total`}, "start": {ts(start)}, "end": {ts(end)}}},
		{"format_query", http.MethodGet, "api/v1/format_query", url.Values{"query": {`sum(rate(x[5m]))by(a)`}}},
		{"buildinfo", http.MethodGet, "api/v1/status/buildinfo", nil},
	}, subqueryCases(now)...)
}

// subqueryCases are subqueries without a step: the engine takes the step
// from the default evaluation interval (1m in Prometheus and promgate).
func subqueryCases(now time.Time) []endpointCase {
	ts := func(t time.Time) string { return fmt.Sprintf("%d", t.Unix()) }
	start, end := now.Add(-30*time.Minute), now
	return []endpointCase{
		{"subquery without step", http.MethodGet, "api/v1/query", url.Values{"query": {`http_requests_total{env="prod"}[5m:]`}, "time": {ts(end)}}},
		{"subquery without step @ 100", http.MethodGet, "api/v1/query", url.Values{"query": {`http_requests_total[5m:] @ 100`}, "time": {ts(end)}}},
		{"subquery without step @ start", http.MethodGet, "api/v1/query", url.Values{"query": {`http_requests_total{env="dev"}[5m:] @ ` + ts(start)}, "time": {ts(end)}}},
		{"max_over_time subquery range", http.MethodPost, "api/v1/query_range", url.Values{"query": {`max_over_time(http_requests_total[5m:])`}, "start": {ts(start)}, "end": {ts(end)}, "step": {"60"}}},
	}
}

func (tc endpointCase) request(t testing.TB, base string, c promtest.Caller) (int, []byte) {
	t.Helper()
	u := base + "/" + tc.path
	if tc.method == http.MethodPost {
		return c.Do(t, tc.method, u, tc.params.Encode())
	}
	if len(tc.params) > 0 {
		u += "?" + tc.params.Encode()
	}
	return c.Do(t, tc.method, u, nil)
}

func seedBackend(t testing.TB, s *promtest.Server, now time.Time) {
	for _, env := range []string{"prod", "dev", "stage"} {
		for i := range 3 {
			var ts []int64
			var vals []float64
			for m := 60; m >= 0; m-- {
				ts = append(ts, now.Add(-time.Duration(m)*time.Minute).UnixMilli())
				vals = append(vals, float64((60-m)*(i+1)*10))
			}
			s.Append(t, labels.FromStrings("__name__", "http_requests_total", "job", "api", "env", env, "instance", fmt.Sprintf("i%d", i)), ts, vals)
		}
	}
}

// twoPromgates starts backend B with data and front A with a data source
// pointing at B's proxy path for its embedded store, using B's credential.
func twoPromgates(t *testing.T) (front, back *promtest.Server, ds mgmtapi.View, now time.Time) {
	now = time.Now().Truncate(time.Minute)
	back = promtest.Start(t)
	seedBackend(t, back, now)
	front = promtest.Start(t)
	ds = promtest.AddDataSource(t, front, map[string]any{
		"name": "backend B", "url": back.URL + proxyPath + "1", "env": "prod", "site": "us-west-2",
		"basicAuthUser": back.Key, "basicAuthPassword": back.Token,
	})
	return front, back, ds, now
}

// TestProxyEqualsBackend asks every endpoint of backend B directly and
// through front A, by id and by uid: the answers must be identical.
func TestProxyEqualsBackend(t *testing.T) {
	front, back, ds, now := twoPromgates(t)
	direct := back.URL + proxyPath + "1"
	routes := map[string]string{
		"id":  front.URL + proxyPath + fmt.Sprint(ds.ID),
		"uid": front.URL + proxyPath + "uid/" + ds.UID,
	}
	for route, base := range routes {
		for _, tc := range endpointCases(now) {
			t.Run(route+"/"+tc.name, func(t *testing.T) {
				wantStatus, want := tc.request(t, direct, back.Owner())
				gotStatus, got := tc.request(t, base, front.Owner())
				if gotStatus != wantStatus || !bytes.Equal(got, want) {
					t.Fatalf("through front: %d %s\ndirect:        %d %s", gotStatus, got, wantStatus, want)
				}
				if strings.Contains(tc.name, "error") || strings.Contains(tc.name, "missing") {
					if wantStatus != http.StatusBadRequest {
						t.Fatalf("backend answered %d, want 400 for %s", wantStatus, tc.name)
					}
				} else if wantStatus != http.StatusOK {
					t.Fatalf("backend answered %d: %s", wantStatus, want)
				}
			})
		}
	}
}

// TestProxyPrometheusClient uses the front's URL as a Prometheus URL with
// the Prometheus Go client, as Grafana or a script would.
func TestProxyPrometheusClient(t *testing.T) {
	front, _, ds, now := twoPromgates(t)
	u, _ := url.Parse(front.URL + proxyPath + fmt.Sprint(ds.ID))
	u.User = url.UserPassword(front.Key, front.Token)
	c, err := promclient.NewClient(promclient.Config{Address: u.String()})
	if err != nil {
		t.Fatal(err)
	}
	api := v1.NewAPI(c)
	v, _, _, err := api.Query(testkit.Context(t), `count(http_requests_total)`, now)
	if err != nil {
		t.Fatal(err)
	}
	if vec := v.(model.Vector); len(vec) != 1 || vec[0].Value != 9 {
		t.Fatalf("count = %v, want 9", v)
	}
	_, _, _, err = api.Query(testkit.Context(t), `sum(`, now)
	if err == nil || !strings.Contains(err.Error(), "bad_data") {
		t.Fatalf("bad query error = %v, want bad_data", err)
	}
}

// TestDataSourceLists: the Grafana-shaped list and the management list show
// the remote data source, to whom may use it, without secrets.
func TestDataSourceLists(t *testing.T) {
	front, back, ds, _ := twoPromgates(t)
	vKey, vTok := front.Credential(t, access.RoleViewer, access.ScopeRead, "")
	viewer := promtest.Caller{Key: vKey, Token: vTok}
	cases := []struct {
		name, path string
		c          promtest.Caller
		want       []string
		notWant    []string
	}{
		{"grafana owner", "/api-server/v1/grafana/api/datasources", front.Owner(), []string{`"uid":"` + ds.UID + `"`, `"name":"backend B"`, `"env":"prod"`}, []string{back.Token, back.URL}},
		{"grafana viewer", "/api-server/v1/grafana/api/datasources", viewer, []string{`"uid":"` + ds.UID + `"`}, []string{back.Token, back.URL}},
		{"management owner", "/api-server/v1/datasources", front.Owner(), []string{`"hasBasicAuthPassword":true`, back.URL, `"basicAuthUser":"` + back.Key + `"`}, []string{back.Token}},
		{"management viewer", "/api-server/v1/datasources", viewer, []string{`"uid":"` + ds.UID + `"`, `"embedded":true`}, []string{back.Token, back.URL, back.Key, "hasBasicAuthPassword"}},
		{"one, viewer", fmt.Sprintf("/api-server/v1/datasources/%d", ds.ID), viewer, []string{`"name":"backend B"`}, []string{back.Token, back.URL}},
		{"endpoints", "/api-server/v1/endpoints", front.Owner(), []string{fmt.Sprintf("proxy/%d/api/v1/query", ds.ID)}, []string{back.Token}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := tc.c.Do(t, http.MethodGet, front.URL+tc.path, nil)
			if status != http.StatusOK {
				t.Fatalf("%d %s", status, body)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(body), w) {
					t.Errorf("answer lacks %s: %s", w, body)
				}
			}
			for _, nw := range tc.notWant {
				if strings.Contains(string(body), nw) {
					t.Errorf("answer contains %q: %s", nw, body)
				}
			}
		})
	}
}
