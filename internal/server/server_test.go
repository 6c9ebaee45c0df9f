package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	remoteapi "github.com/prometheus/client_golang/exp/api/remote"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"

	"github.com/promgate/promgate/internal/promtest"
	"github.com/promgate/promgate/internal/server"
)

func client(t *testing.T, base string) v1.API {
	t.Helper()
	c, err := promapi.NewClient(promapi.Config{Address: base})
	if err != nil {
		t.Fatal(err)
	}
	return v1.NewAPI(c)
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// TestSelfScrapeUp is the reference's first request: `up` answers with
// promgate's own target as soon as the server is up.
func TestSelfScrapeUp(t *testing.T) {
	s := promtest.Start(t)
	api := client(t, s.BaseURL)
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, _, _, err := api.Query(ctx(t), `up{job="promgate"}`, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		vec := v.(model.Vector)
		if len(vec) == 1 {
			if vec[0].Value != 1 || vec[0].Metric["instance"] == "" {
				t.Fatalf("up = %v", vec[0])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no up series after 10s: %v", vec)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func seed(t *testing.T, s *promtest.Server, now time.Time) {
	t.Helper()
	var ts []int64
	var vals []float64
	for i := range 60 {
		ts = append(ts, now.Add(time.Duration(i-59)*15*time.Second).UnixMilli())
		vals = append(vals, float64(i))
	}
	for _, env := range []string{"prod", "dev"} {
		s.Append(t, labels.FromStrings("__name__", "http_requests_total", "job", "api", "asserts_env", env), ts, vals)
	}
}

// TestEndpointsWithPrometheusClient drives every proxied read endpoint
// with the Prometheus Go client, which uses POST where Prometheus allows.
func TestEndpointsWithPrometheusClient(t *testing.T) {
	s := promtest.Start(t)
	// On the step's grid: the query cache aligns range queries to their
	// step (as Grafana does), and the last sample must be a step.
	now := time.Now().Truncate(15 * time.Second)
	seed(t, s, now)
	for _, base := range []string{s.BaseURL, strings.Replace(s.BaseURL, "/proxy/1", "/proxy/uid/embedded", 1)} {
		api := client(t, base)
		t.Run(base[strings.LastIndex(base, "proxy"):], func(t *testing.T) {
			v, _, _, err := api.Query(ctx(t), `sum(http_requests_total)`, now)
			if err != nil {
				t.Fatal(err)
			}
			if vec := v.(model.Vector); len(vec) != 1 || vec[0].Value != 118 {
				t.Fatalf("query = %v", v)
			}
			r, _, _, err := api.QueryRange(ctx(t), `http_requests_total{asserts_env="prod"}`, v1.Range{Start: now.Add(-time.Minute), End: now, Step: 15 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if m := r.(model.Matrix); len(m) != 1 || len(m[0].Values) != 5 || m[0].Values[4].Value != 59 {
				t.Fatalf("query_range = %v", r)
			}
			series, _, _, err := api.Series(ctx(t), []string{`http_requests_total`}, now.Add(-time.Hour), now)
			if err != nil || len(series) != 2 {
				t.Fatalf("series = %v, %v", series, err)
			}
			names, _, _, err := api.LabelNames(ctx(t), []string{`http_requests_total`}, now.Add(-time.Hour), now)
			if err != nil || fmt.Sprint([]model.LabelName(names)) != "[__name__ asserts_env job]" {
				t.Fatalf("labels = %v, %v", names, err)
			}
			values, _, _, err := api.LabelValues(ctx(t), "asserts_env", nil, now.Add(-time.Hour), now)
			if err != nil || len(values) != 2 || values[0] != "dev" {
				t.Fatalf("label values = %v, %v", values, err)
			}
			meta, err := api.Metadata(ctx(t), "", "")
			if err != nil || meta["promgate_http_requests_total"] == nil && meta["go_goroutines"] == nil {
				t.Fatalf("metadata lacks self-scraped families: %v, %v", len(meta), err)
			}
			if _, err := api.QueryExemplars(ctx(t), `http_requests_total`, now.Add(-time.Hour), now); err != nil {
				t.Fatalf("exemplars: %v", err)
			}
			bi, err := api.Buildinfo(ctx(t))
			if err != nil || bi.Version != "test" {
				t.Fatalf("buildinfo = %+v, %v", bi, err)
			}
		})
	}
}

type apiBody struct {
	Status    string          `json:"status"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
	Data      json.RawMessage `json:"data"`
}

func do(t *testing.T, method, u string, form url.Values) (int, apiBody) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx(t), method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var b apiBody
	if len(raw) > 0 && raw[0] == '{' {
		if err := json.Unmarshal(raw, &b); err != nil {
			t.Fatalf("%s %s: invalid JSON %q", method, u, raw)
		}
	}
	return resp.StatusCode, b
}

// TestErrorsInPrometheusFormat checks status codes and error types for bad
// input, the way Prometheus itself answers.
func TestErrorsInPrometheusFormat(t *testing.T) {
	s := promtest.Start(t)
	seed(t, s, time.Now())
	base := s.BaseURL + "/api/v1/"
	tests := []struct {
		name, method, path string
		form               url.Values
		wantStatus         int
		wantType           string
	}{
		{"bad promql", "GET", "query?query=sum(", nil, 400, "bad_data"},
		{"bad time", "GET", "query?query=up&time=yesterday", nil, 400, "bad_data"},
		{"range without step", "GET", "query_range?query=up&start=1&end=2", nil, 400, "bad_data"},
		{"too many points", "GET", "query_range?query=up&start=0&end=100000&step=1", nil, 400, "bad_data"},
		{"many-to-many is execution error", "GET", "query?query=" + url.QueryEscape(`http_requests_total + on(job) http_requests_total`), nil, 422, "execution"},
		{"series without match", "GET", "series", nil, 400, "bad_data"},
		{"bad limit", "GET", "labels?limit=many", nil, 400, "bad_data"},
		{"empty label name", "GET", "label//values", nil, 400, "bad_data"},
		{"unknown endpoint", "GET", "targets", nil, 404, "not_found"},
		{"admin api", "POST", "admin/tsdb/delete_series?match[]=up", nil, 404, "not_found"},
		{"wrong method", "PUT", "query?query=up", nil, 405, "bad_data"},
		{"post to get-only endpoint", "POST", "metadata", url.Values{}, 405, "bad_data"},
		{"conflicting duplicate", "POST", "query?query=up", url.Values{"query": {"vector(1)"}}, 400, "bad_data"},
		{"query timeout", "GET", "query?query=" + url.QueryEscape(`count_over_time(http_requests_total[1h:1ms])`) + "&timeout=0.05", nil, 503, "timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, b := do(t, tt.method, base+tt.path, tt.form)
			if code != tt.wantStatus || b.Status != "error" || b.ErrorType != tt.wantType || b.Error == "" {
				t.Fatalf("got %d %+v, want %d %s", code, b, tt.wantStatus, tt.wantType)
			}
		})
	}
}

func TestGetAndPostAgree(t *testing.T) {
	s := promtest.Start(t)
	now := time.Now()
	seed(t, s, now)
	q := url.Values{"query": {`sum by (asserts_env) (http_requests_total)`}, "time": {model.TimeFromUnixNano(now.UnixNano()).String()}}
	code1, get := do(t, "GET", s.BaseURL+"/api/v1/query?"+q.Encode(), nil)
	code2, post := do(t, "POST", s.BaseURL+"/api/v1/query", q)
	if code1 != 200 || code2 != 200 || string(get.Data) != string(post.Data) {
		t.Fatalf("GET %d %s\nPOST %d %s", code1, get.Data, code2, post.Data)
	}
	// Identical duplicates are not ambiguous.
	code3, dup := do(t, "POST", s.BaseURL+"/api/v1/query?"+q.Encode(), q)
	if code3 != 200 || string(dup.Data) != string(get.Data) {
		t.Fatalf("duplicate: %d %s", code3, dup.Data)
	}
	code4, f := do(t, "POST", s.BaseURL+"/api/v1/format_query", url.Values{"query": {"sum(rate(x[5m]))by(job)"}})
	if code4 != 200 || string(f.Data) != `"sum by (job) (rate(x[5m]))"` {
		t.Fatalf("format_query: %d %s", code4, f.Data)
	}
}

func TestNonCanonicalPathsRefused(t *testing.T) {
	s := promtest.Start(t)
	for _, p := range []string{
		server.ProxyPrefix + "1/api/v1//query?query=up",
		server.ProxyPrefix + "1/api/v1/../v1/query?query=up",
		server.ProxyPrefix + "1/api/v1/label/a%2Fb/values",
		server.ProxyPrefix + "1/./api/v1/query?query=up",
	} {
		req, _ := http.NewRequestWithContext(ctx(t), "GET", s.URL+p, nil)
		req.SetBasicAuth(s.Key, s.Token)
		// Send the path as written: Go's client would not clean it, but be sure.
		req.URL.Opaque = strings.SplitN(p, "?", 2)[0]
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: status %d, want 400 or 404", p, resp.StatusCode)
		}
	}
}

// TestRemoteWriteThenQuery writes with the Prometheus remote-write client
// and reads the samples back at once.
func TestRemoteWriteThenQuery(t *testing.T) {
	s := promtest.Start(t)
	u, _ := url.Parse(s.URL)
	u.User = url.UserPassword(s.Key, s.Token)
	w, err := remoteapi.NewAPI(u.String(), remoteapi.WithAPIPath("/api/v1/write"), remoteapi.WithAPINoRetryOnRateLimit())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UnixMilli()
	req := &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{{
		Labels:  []prompb.Label{{Name: "__name__", Value: "rw_test"}, {Name: "source", Value: "client"}},
		Samples: []prompb.Sample{{Timestamp: now - 1000, Value: 1}, {Timestamp: now, Value: 2.5}},
	}}}
	if _, err := w.Write(ctx(t), remoteapi.WriteV1MessageType, req); err != nil {
		t.Fatalf("remote write: %v", err)
	}
	v, _, _, err := client(t, s.BaseURL).Query(ctx(t), `rw_test`, time.UnixMilli(now))
	if err != nil {
		t.Fatal(err)
	}
	if vec := v.(model.Vector); len(vec) != 1 || vec[0].Value != 2.5 || vec[0].Metric["source"] != "client" {
		t.Fatalf("read back %v", v)
	}

	// Garbage bodies get a clear 400.
	for name, body := range map[string]string{"not snappy": "hello", "empty": ""} {
		req, _ := http.NewRequestWithContext(ctx(t), "POST", s.URL+"/api/v1/write", strings.NewReader(body))
		req.SetBasicAuth(s.Key, s.Token)
		req.Header.Set("Content-Type", "application/x-protobuf")
		req.Header.Set("Content-Encoding", "snappy")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s body: status %d, want 400", name, resp.StatusCode)
		}
	}
}

func TestRestartKeepsData(t *testing.T) {
	dir := t.TempDir()
	s := promtest.Start(t, promtest.WithDataDir(dir))
	now := time.Now()
	s.Append(t, labels.FromStrings("__name__", "kept", "k", "v"), []int64{now.UnixMilli()}, []float64{42})
	s.Stop()

	s2 := promtest.Start(t, promtest.WithDataDir(dir))
	v, _, _, err := client(t, s2.BaseURL).Query(ctx(t), `kept`, now)
	if err != nil {
		t.Fatal(err)
	}
	if vec := v.(model.Vector); len(vec) != 1 || vec[0].Value != 42 {
		t.Fatalf("after restart: %v", v)
	}
}

func TestHealthAndMetrics(t *testing.T) {
	s := promtest.Start(t)
	for path, want := range map[string]string{"/-/healthy": "Healthy", "/-/ready": "Ready", "/metrics": "promgate_build_info"} {
		resp, err := http.Get(s.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Errorf("%s: %d, missing %q", path, resp.StatusCode, want)
		}
	}
}

// TestLabelValuesOfEscapedName: a UTF-8 label name that needs escaping in
// the path reaches the store as the same name, not escaped twice.
func TestLabelValuesOfEscapedName(t *testing.T) {
	s := promtest.Start(t)
	s.Append(t, labels.FromStrings("__name__", "utf8_metric", "team name", "payments"), []int64{time.Now().UnixMilli()}, []float64{1})
	code, b := do(t, "GET", s.BaseURL+"/api/v1/label/"+url.PathEscape("team name")+"/values", nil)
	if code != 200 || string(b.Data) != `["payments"]` {
		t.Fatalf("got %d %s", code, b.Data)
	}
}
