package server_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"

	"github.com/promgate/promgate/internal/access"
	"github.com/promgate/promgate/internal/promtest"
	"github.com/promgate/promgate/internal/server"
)

// twoTenants loads prod and dev data, including a metric only dev has.
func twoTenants(t *testing.T, s *promtest.Server, now time.Time) {
	t.Helper()
	ts := []int64{now.Add(-time.Minute).UnixMilli(), now.UnixMilli()}
	for _, env := range []string{"prod", "dev"} {
		s.Append(t, labels.FromStrings("__name__", "http_requests_total", "job", "api", "asserts_env", env, "team", env+"-team"), ts, []float64{1, 2})
		s.Append(t, labels.FromStrings("__name__", "up", "job", "api", "asserts_env", env), ts, []float64{1, 1})
	}
	s.Append(t, labels.FromStrings("__name__", "dev_only_secret_metric", "asserts_env", "dev", "token_label", "devsecret"), ts, []float64{7, 7})
	s.Append(t, labels.FromStrings("__name__", "no_env_metric", "job", "untagged"), ts, []float64{3, 3})
}

// TestLabelPolicyAttacks sends real requests with a credential confined to
// {asserts_env="prod"} and asserts nothing of the dev tenant (or of
// untagged series) comes back: not in data, label names, label values,
// series, metadata or error messages.
func TestLabelPolicyAttacks(t *testing.T) {
	s := promtest.Start(t)
	now := time.Now().Truncate(time.Second)
	twoTenants(t, s, now)
	key, token := s.Credential(t, access.RoleViewer, access.ScopeRead, `{asserts_env="prod"}`)
	labelPolicyAttacks(t, s, now, func(r *http.Request) { r.SetBasicAuth(key, token) })
}

// labelPolicyAttacks runs the attack table with requests that authorize
// signs as a caller confined to {asserts_env="prod"} (a credential, or a
// provider's token whose rule gives that selector).
func labelPolicyAttacks(t *testing.T, s *promtest.Server, now time.Time, authorize func(*http.Request)) {
	t.Helper()
	base := s.URL + server.ProxyPrefix + "1/api/v1/"
	at := url.Values{"time": {now.Format(time.RFC3339)}}
	rng := url.Values{"start": {now.Add(-time.Hour).Format(time.RFC3339)}, "end": {now.Format(time.RFC3339)}}
	merge := func(vs ...url.Values) url.Values {
		out := url.Values{}
		for _, v := range vs {
			for k, x := range v {
				out[k] = append(out[k], x...)
			}
		}
		return out
	}
	q := func(s string) url.Values { return url.Values{"query": {s}} }
	m := func(s ...string) url.Values { return url.Values{"match[]": s} }

	tests := []struct {
		name     string
		method   string
		path     string
		urlQuery url.Values
		form     url.Values
	}{
		{"everything by name regex", "GET", "query", merge(q(`{__name__=~".+"}`), at), nil},
		{"or join", "GET", "query", merge(q(`up or {asserts_env="dev"}`), at), nil},
		{"unless join", "GET", "query", merge(q(`vector(1) unless on() {asserts_env="dev"}`), at), nil},
		{"on() join", "GET", "query", merge(q(`up * on() group_left count({asserts_env="dev"})`), at), nil},
		{"label_replace onto the policy label", "GET", "query", merge(q(`label_replace({asserts_env="dev"}, "asserts_env", "prod", "", "")`), at), nil},
		{"absent probing", "GET", "query", merge(q(`absent(dev_only_secret_metric)`), at), nil},
		{"count by env", "GET", "query", merge(q(`count by (asserts_env, team, token_label) ({__name__=~".+"})`), at), nil},
		{"subquery", "GET", "query", merge(q(`max_over_time({asserts_env!="prod", __name__=~".+"}[10m:15s])`), at), nil},
		{"@ modifier", "GET", "query", merge(q(`{asserts_env="dev"} @ end()`), at), nil},
		{"offset", "GET", "query", merge(q(`{asserts_env=~"d.*"} offset -1m`), at), nil},
		{"vector(1)", "GET", "query", merge(q(`vector(1) + count(dev_only_secret_metric)`), at), nil},
		{"regex dot star", "GET", "query", merge(q(`{asserts_env=~".*", __name__=~".+"}`), at), nil},
		{"empty string matcher", "GET", "query", merge(q(`{asserts_env="", __name__=~".+"}`), at), nil},
		{"negative regex", "GET", "query", merge(q(`{asserts_env!~"prod", __name__=~".+"}`), at), nil},
		{"quoted utf-8 name", "GET", "query", merge(q(`{"asserts_env"="dev", "__name__"=~".+"}`), at), nil},
		{"range query", "GET", "query_range", merge(q(`{__name__=~".+"}`), rng, url.Values{"step": {"15"}}), nil},
		{"POST body query", "POST", "query", at, merge(q(`{__name__=~".+"}`))},
		{"POST plus GET same query", "POST", "query", merge(q(`{__name__=~".+"}`), at), q(`{__name__=~".+"}`)},
		{"series match omitted", "GET", "series", rng, nil},
		{"series with dev match", "GET", "series", merge(m(`{asserts_env="dev"}`, `{__name__=~".+"}`), rng), nil},
		{"series match in body and url", "POST", "series", merge(m(`{__name__=~".+"}`), rng), m(`{job="untagged"}`)},
		{"labels match omitted", "GET", "labels", rng, nil},
		{"labels with regex", "GET", "labels", merge(m(`{__name__=~".+"}`), rng), nil},
		{"label values of env", "GET", "label/asserts_env/values", rng, nil},
		{"label values of name", "GET", "label/__name__/values", rng, nil},
		{"label values of token_label", "GET", "label/token_label/values", merge(m(`{asserts_env="dev"}`), rng), nil},
		{"exemplars", "GET", "query_exemplars", merge(q(`{__name__=~".+"}`), rng), nil},
		{"metadata", "GET", "metadata", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := base + tt.path
			if len(tt.urlQuery) > 0 {
				u += "?" + tt.urlQuery.Encode()
			}
			var body *strings.Reader
			if tt.form != nil {
				body = strings.NewReader(tt.form.Encode())
			} else {
				body = strings.NewReader("")
			}
			req, _ := http.NewRequestWithContext(ctx(t), tt.method, u, body)
			if tt.form != nil {
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			authorize(req)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var raw bytes.Buffer
			_, _ = raw.ReadFrom(resp.Body)
			text := raw.String()
			for _, leak := range []string{`"dev"`, "dev-team", "devsecret", "dev_only_secret_metric", "untagged", "no_env_metric", "token_label"} {
				if strings.Contains(text, leak) {
					t.Fatalf("response leaks %s: %d %s", leak, resp.StatusCode, text)
				}
			}
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, text)
			}
			if !json.Valid(raw.Bytes()) {
				t.Fatalf("invalid JSON: %s", text)
			}
		})
	}

	// The prod tenant's data is still there: the policy confines, it does not blind.
	req, _ := http.NewRequestWithContext(ctx(t), "GET", base+"query?"+merge(q(`sum(http_requests_total)`), at).Encode(), nil)
	authorize(req)
	code, b := send(t, req)
	if code != 200 || !strings.Contains(string(b.Data), `"2"`) {
		t.Fatalf("prod query: %d %s", code, b.Data)
	}
	// A conflicting duplicate is refused rather than resolved either way.
	req, _ = http.NewRequestWithContext(ctx(t), "POST", base+"query?"+q(`up`).Encode(), strings.NewReader(q(`{asserts_env="dev"}`).Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	authorize(req)
	code, b = send(t, req)
	if code != 400 || strings.Contains(b.Error, "dev") && !strings.Contains(b.Error, "parameter") {
		t.Fatalf("conflicting duplicate: %d %+v", code, b)
	}
}

func doAuth(t *testing.T, key, token, method, u string) (int, apiBody) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx(t), method, u, nil)
	req.SetBasicAuth(key, token)
	return send(t, req)
}

func doAuthForm(t *testing.T, key, token, u string, form url.Values) (int, apiBody) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx(t), "POST", u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(key, token)
	return send(t, req)
}

func send(t *testing.T, req *http.Request) (int, apiBody) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b apiBody
	_ = json.NewDecoder(resp.Body).Decode(&b)
	return resp.StatusCode, b
}

// TestLabelPolicyOnRemoteWrite: a write-scoped credential confined to prod
// may write prod series; one dev series in a body refuses the whole body.
func TestLabelPolicyOnRemoteWrite(t *testing.T) {
	s := promtest.Start(t)
	key, token := s.Credential(t, access.RoleEditor, access.ScopeWrite, `{asserts_env="prod"}`)
	now := time.Now().UnixMilli()
	body := func(envs ...string) []byte {
		req := prompb.WriteRequest{}
		for i, env := range envs {
			req.Timeseries = append(req.Timeseries, prompb.TimeSeries{
				Labels:  []prompb.Label{{Name: "__name__", Value: "written"}, {Name: "asserts_env", Value: env}, {Name: "n", Value: string(rune('a' + i))}},
				Samples: []prompb.Sample{{Timestamp: now, Value: 1}},
			})
		}
		raw, _ := req.Marshal()
		return snappy.Encode(nil, raw)
	}
	post := func(b []byte) int {
		req, _ := http.NewRequestWithContext(ctx(t), "POST", s.URL+"/api/v1/write", bytes.NewReader(b))
		req.SetBasicAuth(key, token)
		req.Header.Set("Content-Type", "application/x-protobuf")
		req.Header.Set("Content-Encoding", "snappy")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(body("prod", "dev")); code != http.StatusForbidden {
		t.Fatalf("mixed body: %d, want 403", code)
	}
	if code := post(body("prod")); code != http.StatusNoContent {
		t.Fatalf("prod body: %d, want 204", code)
	}
	// Only the prod-only body was stored: the mixed one left nothing.
	code, b := doAuth(t, s.Key, s.Token, "GET", s.BaseURL+"/api/v1/query?query=count(written)")
	if code != 200 || !strings.Contains(string(b.Data), `"1"`) {
		t.Fatalf("stored: %d %s", code, b.Data)
	}
	// The write-only credential cannot read.
	if code, _ := doAuth(t, key, token, "GET", s.URL+server.ProxyPrefix+"1/api/v1/query?query=written"); code != http.StatusForbidden {
		t.Fatalf("write-only read: %d, want 403", code)
	}
}
