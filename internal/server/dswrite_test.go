package server_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/promgate/promgate/internal/access"
	"github.com/promgate/promgate/internal/audit"
	"github.com/promgate/promgate/internal/manage"
	"github.com/promgate/promgate/internal/mgmtapi"
	"github.com/promgate/promgate/internal/promtest"
	"github.com/promgate/promgate/internal/server"
	"github.com/promgate/promgate/internal/testkit"
)

// writeAnswer is what a remote_write sender sees.
type writeAnswer struct {
	status int
	header http.Header
	body   string
}

// sendWrite posts a compressed remote_write body with the caller's own
// extra headers, which must never reach a backend.
func sendWrite(t *testing.T, url, key, token string, body []byte, contentType string) writeAnswer {
	t.Helper()
	req, err := http.NewRequestWithContext(testkit.Context(t), http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(key, token)
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Content-Encoding", "snappy")
	req.Header.Set("X-Caller-Secret", "caller-only")
	req.Header.Set("THANOS-TENANT", "caller-picked-tenant")
	req.Header.Set("Cookie", "caller=cookie")
	resp, err := testkit.HTTPClient().Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return writeAnswer{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// TestDataSourceWriteForwards: a remote_write to a writable data source
// reaches its backend as sent, with the Content-Type promgate decided and
// the data source's credentials and headers, none of the caller's; the
// backend's answer decides the caller's.
func TestDataSourceWriteForwards(t *testing.T) {
	var answer func(w http.ResponseWriter, r *http.Request)
	front, rec, ds := startWritable(t, func(w http.ResponseWriter, r *http.Request) { answer(w, r) }, map[string]any{"timeoutSeconds": 1})
	v1 := snappy.Encode(nil, v1Body(series{labels: []string{"__name__", "fwd_total", "env", "a"}, t: 1000, v: 1}))
	v2 := snappy.Encode(nil, v2Body(series{labels: []string{"__name__", "fwd_total", "env", "a"}, t: 1000, v: 1}))
	byID := fmt.Sprintf("%s%s%d/api/v1/write", front.URL, server.ProxyPrefix, ds.ID)
	byUID := fmt.Sprintf("%s%suid/%s/api/v1/write", front.URL, server.ProxyPrefix, ds.UID)

	tests := []struct {
		name        string
		url         string
		body        []byte
		ct          string
		backend     http.HandlerFunc
		wantStatus  int
		wantSent    string // Content-Type the backend saw
		wantVersion string
		wantHeader  map[string]string // on the caller's answer
		wantInBody  string
	}{
		{name: "1.0 acknowledged", url: byID, body: v1, ct: "application/x-protobuf", backend: reply(http.StatusOK, nil, ""),
			wantStatus: 200, wantSent: "application/x-protobuf;proto=prometheus.WriteRequest", wantVersion: "0.1.0"},
		{name: "1.0 by uid, caller's spacing not copied", url: byUID, body: v1, ct: "application/x-protobuf; proto=prometheus.WriteRequest", backend: reply(http.StatusNoContent, nil, ""),
			wantStatus: 204, wantSent: "application/x-protobuf;proto=prometheus.WriteRequest", wantVersion: "0.1.0"},
		{name: "2.0 with written counts", url: byID, body: v2, ct: v2Type,
			backend: reply(http.StatusNoContent, map[string]string{
				"X-Prometheus-Remote-Write-Samples-Written":    "1",
				"X-Prometheus-Remote-Write-Histograms-Written": "0",
				"X-Prometheus-Remote-Write-Exemplars-Written":  "0",
			}, ""),
			wantStatus: 204, wantSent: v2Type, wantVersion: "2.0.0",
			wantHeader: map[string]string{"X-Prometheus-Remote-Write-Samples-Written": "1", "X-Prometheus-Remote-Write-Histograms-Written": "0", "X-Prometheus-Remote-Write-Exemplars-Written": "0", "Set-Cookie": ""}},
		{name: "4xx passed so the sender drops", url: byID, body: v1, ct: v1Type, backend: reply(http.StatusBadRequest, nil, "out of order sample"),
			wantStatus: 400, wantSent: "application/x-protobuf;proto=prometheus.WriteRequest", wantVersion: "0.1.0",
			wantHeader: map[string]string{"Retry-After": ""}, wantInBody: "out of order sample"},
		{name: "429 keeps the backend's Retry-After", url: byID, body: v1, ct: v1Type, backend: reply(http.StatusTooManyRequests, map[string]string{"Retry-After": "7"}, "slow down"),
			wantStatus: 429, wantSent: "application/x-protobuf;proto=prometheus.WriteRequest", wantVersion: "0.1.0",
			wantHeader: map[string]string{"Retry-After": "7"}, wantInBody: "slow down"},
		{name: "503 gets a Retry-After", url: byID, body: v1, ct: v1Type, backend: reply(http.StatusServiceUnavailable, nil, "TSDB not ready"),
			wantStatus: 503, wantSent: "application/x-protobuf;proto=prometheus.WriteRequest", wantVersion: "0.1.0",
			wantHeader: map[string]string{"Retry-After": "1"}, wantInBody: "TSDB not ready"},
		{name: "500 gets a Retry-After", url: byID, body: v1, ct: v1Type, backend: reply(http.StatusInternalServerError, map[string]string{"Retry-After": "junk"}, "boom"),
			wantStatus: 500, wantSent: "application/x-protobuf;proto=prometheus.WriteRequest", wantVersion: "0.1.0",
			wantHeader: map[string]string{"Retry-After": "1"}},
		{name: "backend refusing promgate's credentials is 502", url: byID, body: v1, ct: v1Type, backend: reply(http.StatusUnauthorized, nil, "who are you"),
			wantStatus: 502, wantSent: "application/x-protobuf;proto=prometheus.WriteRequest", wantVersion: "0.1.0",
			wantHeader: map[string]string{"Retry-After": "1"}, wantInBody: "refused promgate's credentials"},
		{name: "redirect is 502", url: byID, body: v1, ct: v1Type, backend: reply(http.StatusFound, map[string]string{"Location": "http://elsewhere/"}, ""),
			wantStatus: 502, wantSent: "application/x-protobuf;proto=prometheus.WriteRequest", wantVersion: "0.1.0"},
		{name: "slow backend is 504", url: byID, body: v1, ct: v1Type,
			backend: func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-r.Context().Done():
				case <-time.After(3 * time.Second):
				}
				w.WriteHeader(http.StatusNoContent)
			},
			wantStatus: 504, wantSent: "application/x-protobuf;proto=prometheus.WriteRequest", wantVersion: "0.1.0",
			wantHeader: map[string]string{"Retry-After": "1"}, wantInBody: "did not acknowledge"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec.Reset()
			answer = tc.backend
			got := sendWrite(t, tc.url, front.Key, front.Token, tc.body, tc.ct)
			if got.status != tc.wantStatus {
				t.Fatalf("status %d %s, want %d", got.status, got.body, tc.wantStatus)
			}
			for k, want := range tc.wantHeader {
				if v := got.header.Get(k); v != want {
					t.Errorf("answer header %s = %q, want %q", k, v, want)
				}
			}
			if !strings.Contains(got.body, tc.wantInBody) {
				t.Errorf("answer %q does not contain %q", got.body, tc.wantInBody)
			}
			for _, secret := range []string{"ds-password-123", front.Token} {
				if strings.Contains(got.body, secret) {
					t.Errorf("answer holds a secret: %s", got.body)
				}
			}
			seen := rec.Seen()
			if len(seen) != 1 {
				t.Fatalf("backend saw %d requests, want 1", len(seen))
			}
			r := seen[0]
			if r.Method != http.MethodPost || r.Path != "/api/v1/receive" {
				t.Errorf("backend saw %s %s, want POST /api/v1/receive", r.Method, r.Path)
			}
			if r.Form != string(tc.body) {
				t.Errorf("backend body differs from the one sent (%d bytes, sent %d)", len(r.Form), len(tc.body))
			}
			want := map[string]string{
				"Content-Type": tc.wantSent, "Content-Encoding": "snappy", "X-Prometheus-Remote-Write-Version": tc.wantVersion,
				"X-Scope-Orgid": "tenant-a", "Authorization": "Basic ZHN1c2VyOmRzLXBhc3N3b3JkLTEyMw==", // dsuser:ds-password-123
				"X-Caller-Secret": "", "Thanos-Tenant": "", "Cookie": "",
			}
			for k, v := range want {
				if got := r.Header.Get(k); got != v {
					t.Errorf("backend header %s = %q, want %q", k, got, v)
				}
			}
			if n := len(r.Header.Values("Content-Type")); n != 1 {
				t.Errorf("backend saw %d Content-Type headers", n)
			}
		})
	}
}

// reply answers status with headers and body.
func reply(status int, header map[string]string, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.Header().Set("Set-Cookie", "backend=1")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

// startWritable starts a promgate with a data source whose backend is a
// Recorder answering with handle, its remote_write URL on a path of its
// own, with basic auth and an X-Scope-OrgID header; extra is laid over.
func startWritable(t *testing.T, handle http.HandlerFunc, extra map[string]any) (*promtest.Server, *promtest.Recorder, mgmtapi.View) {
	t.Helper()
	rec := promtest.NewRecorder(t, handle)
	front := promtest.Start(t)
	in := map[string]any{
		"name": "recorded", "url": rec.URL + "/prefix", "writeUrl": rec.URL + "/api/v1/receive", "env": "test",
		"basicAuthUser": "dsuser", "basicAuthPassword": "ds-password-123",
		"headers": map[string]string{"X-Scope-OrgID": "tenant-a"},
	}
	for k, v := range extra {
		in[k] = v
	}
	ds := promtest.AddDataSource(t, front, in)
	if ds.WriteURL != rec.URL+"/api/v1/receive" || !ds.Writable {
		t.Fatalf("created data source: writeUrl %q writable %v", ds.WriteURL, ds.Writable)
	}
	return front, rec, ds
}

// TestDataSourceWriteRefusals: nothing reaches the backend when promgate
// refuses a write: a series outside the writer's selector (the whole body
// is refused), no write scope, a data source the credential may not use,
// a data source without a remote_write URL, a wrong method.
func TestDataSourceWriteRefusals(t *testing.T) {
	front, rec, ds := startWritable(t, reply(http.StatusNoContent, nil, ""), nil)
	readOnly := promtest.AddDataSource(t, front, map[string]any{"name": "read-only", "url": rec.URL, "env": "test"})
	if readOnly.Writable {
		t.Fatal("a data source without writeUrl shows as writable")
	}
	ctx := context.Background()
	mk := func(scope access.Scope, selector string, ids []int64) (string, string) {
		cred, tok, err := front.App.Manage.CreateCredential(ctx, audit.Actor{Name: "test"}, manage.CredentialSpec{
			Name: "w", Role: access.RoleEditor, Scope: scope, Selector: selector, DataSourceIDs: ids, CreatedBy: "test",
		})
		if err != nil {
			t.Fatal(err)
		}
		return cred.Key, tok
	}
	teamKey, teamTok := mk(access.ScopeRead|access.ScopeWrite, `{team="a"}`, nil)
	readKey, readTok := mk(access.ScopeRead, "", nil)
	otherKey, otherTok := mk(access.ScopeRead|access.ScopeWrite, "", []int64{readOnly.ID})
	inside := series{labels: []string{"__name__", "x", "team", "a"}, t: 1000, v: 1}
	outside := series{labels: []string{"__name__", "x", "team", "b"}, t: 1000, v: 1}
	dsURL := fmt.Sprintf("%s%s%d/api/v1/write", front.URL, server.ProxyPrefix, ds.ID)

	tests := []struct {
		name       string
		url        string
		key, tok   string
		body       []byte
		ct         string
		wantStatus int
		wantInBody string
	}{
		{"1.0 body with one series outside", dsURL, teamKey, teamTok, snappy.Encode(nil, v1Body(inside, outside)), v1Type, 403, "1 series fall outside"},
		{"2.0 body with one series outside", dsURL, teamKey, teamTok, snappy.Encode(nil, v2Body(inside, outside)), v2Type, 403, "nothing was written"},
		{"read scope only", dsURL, readKey, readTok, snappy.Encode(nil, v1Body(inside)), v1Type, 403, "may not write"},
		{"data source not allowed", dsURL, otherKey, otherTok, snappy.Encode(nil, v1Body(inside)), v1Type, 403, "may not use this data source"},
		{"no remote_write URL", fmt.Sprintf("%s%s%d/api/v1/write", front.URL, server.ProxyPrefix, readOnly.ID), front.Key, front.Token, snappy.Encode(nil, v1Body(inside)), v1Type, 404, "takes no remote_write"},
		{"unknown data source", fmt.Sprintf("%s%s999/api/v1/write", front.URL, server.ProxyPrefix), front.Key, front.Token, snappy.Encode(nil, v1Body(inside)), v1Type, 404, "not found"},
		{"not snappy", dsURL, front.Key, front.Token, []byte("\xff\xff\xff\xff\xff\xff"), v1Type, 400, "snappy"},
		{"not snappy under a policy", dsURL, teamKey, teamTok, []byte("plain text"), v1Type, 400, "snappy"},
		{"unknown message type", dsURL, front.Key, front.Token, snappy.Encode(nil, v1Body(inside)), "application/x-protobuf;proto=io.prometheus.write.v3.Request", 415, "Content-Type"},
		{"not protobuf under a policy", dsURL, teamKey, teamTok, snappy.Encode(nil, []byte("\xff\xff\xff")), v1Type, 400, "decode"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec.Reset()
			got := sendWrite(t, tc.url, tc.key, tc.tok, tc.body, tc.ct)
			if got.status != tc.wantStatus || !strings.Contains(got.body, tc.wantInBody) {
				t.Errorf("got %d %s, want %d containing %q", got.status, got.body, tc.wantStatus, tc.wantInBody)
			}
			if n := len(rec.Seen()); n != 0 {
				t.Errorf("backend saw %d requests, want none", n)
			}
		})
	}
	t.Run("endpoints list the write URL of writable data sources", func(t *testing.T) {
		status, body := front.Owner().Do(t, http.MethodGet, front.URL+"/api-server/v1/endpoints", nil)
		if status != http.StatusOK {
			t.Fatalf("endpoints: %d %s", status, body)
		}
		var eps []struct {
			ID       int64  `json:"id"`
			WriteURL string `json:"writeUrl"`
		}
		promtest.DecodeData(t, body, &eps)
		want := map[int64]string{1: front.URL + server.ProxyPrefix + "1/api/v1/write", ds.ID: dsURL, readOnly.ID: ""}
		for _, ep := range eps {
			if w, ok := want[ep.ID]; ok && ep.WriteURL != w {
				t.Errorf("data source %d: writeUrl %q, want %q", ep.ID, ep.WriteURL, w)
			}
		}
	})
	t.Run("GET", func(t *testing.T) {
		status, body := front.Owner().Do(t, http.MethodGet, dsURL, nil)
		if status != http.StatusMethodNotAllowed {
			t.Errorf("GET: %d %s, want 405", status, body)
		}
	})
	t.Run("inside the selector is forwarded", func(t *testing.T) {
		rec.Reset()
		if got := sendWrite(t, dsURL, teamKey, teamTok, snappy.Encode(nil, v2Body(inside)), v2Type); got.status != http.StatusNoContent {
			t.Fatalf("got %d %s, want 204", got.status, got.body)
		}
		if n := len(rec.Seen()); n != 1 {
			t.Errorf("backend saw %d requests, want 1", n)
		}
	})
}

// TestDataSourceWriteDeadBackend: a backend that does not listen is a 502
// with Retry-After, never 2xx.
func TestDataSourceWriteDeadBackend(t *testing.T) {
	front := promtest.Start(t)
	dead := "http://" + testkit.FreeAddr(t)
	ds := promtest.AddDataSource(t, front, map[string]any{"name": "dead", "url": dead, "writeUrl": dead + "/api/v1/receive", "env": "test"})
	got := sendWrite(t, fmt.Sprintf("%s%s%d/api/v1/write", front.URL, server.ProxyPrefix, ds.ID), front.Key, front.Token,
		snappy.Encode(nil, v1Body(series{labels: []string{"__name__", "x"}, t: 1, v: 1})), v1Type)
	if got.status != http.StatusBadGateway || got.header.Get("Retry-After") == "" || !strings.Contains(got.body, "unreachable") {
		t.Errorf("got %d Retry-After %q %s, want 502 unreachable with Retry-After", got.status, got.header.Get("Retry-After"), got.body)
	}
}

// TestEmbeddedWritePaths: the embedded store takes remote_write on the
// per-data-source path too (by id and by uid), as on /api/v1/write.
func TestEmbeddedWritePaths(t *testing.T) {
	front := promtest.Start(t)
	for i, path := range []string{"/api/v1/write", server.ProxyPrefix + "1/api/v1/write", server.ProxyPrefix + "uid/embedded/api/v1/write"} {
		name := fmt.Sprintf("embedded_path_%d", i)
		body := snappy.Encode(nil, v1Body(series{labels: []string{"__name__", name}, t: time.Now().UnixMilli(), v: float64(i)}))
		if got := sendWrite(t, front.URL+path, front.Key, front.Token, body, v1Type); got.status/100 != 2 {
			t.Fatalf("%s: %d %s", path, got.status, got.body)
		}
		if got := storedSamples(t, front, labels.MustNewMatcher(labels.MatchEqual, "__name__", name)); len(got) != 1 {
			t.Errorf("%s: stored %v, want one series", path, got)
		}
	}
}
