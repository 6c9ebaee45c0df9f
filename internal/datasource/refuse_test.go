package datasource_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/promgate/promgate/internal/promtest"
	"github.com/promgate/promgate/internal/testkit"
)

// TestProxyRefuses: each request is refused before any byte reaches the
// backend.
func TestProxyRefuses(t *testing.T) {
	front, rec, ds := promtest.StartRecorded(t, nil, nil)
	id := fmt.Sprint(ds.ID)
	p := proxyPath + id
	cases := []struct {
		name, method, path string
		want               int
	}{
		{"admin delete_series", http.MethodPost, p + "/api/v1/admin/tsdb/delete_series?match[]=up", http.StatusNotFound},
		{"admin delete_series PUT", http.MethodPut, p + "/api/v1/admin/tsdb/delete_series?match[]=up", http.StatusNotFound},
		{"admin snapshot", http.MethodPost, p + "/api/v1/admin/tsdb/snapshot", http.StatusNotFound},
		{"admin clean_tombstones", http.MethodPost, p + "/api/v1/admin/tsdb/clean_tombstones", http.StatusNotFound},
		{"remote write", http.MethodPost, p + "/api/v1/write", http.StatusNotFound},
		{"status config", http.MethodGet, p + "/api/v1/status/config", http.StatusNotFound},
		{"targets", http.MethodGet, p + "/api/v1/targets", http.StatusNotFound},
		{"federate", http.MethodGet, p + "/federate?match[]=up", http.StatusNotFound},
		{"lifecycle quit", http.MethodPost, p + "/-/quit", http.StatusNotFound},
		{"dotdot to admin", http.MethodPost, p + "/api/v1/../v1/admin/tsdb/delete_series", http.StatusBadRequest},
		{"dotdot after query", http.MethodGet, p + "/api/v1/query/../../v1/admin/tsdb/snapshot", http.StatusBadRequest},
		{"encoded dotdot", http.MethodGet, p + "/api/v1/%2e%2e/v1/admin/tsdb/snapshot", http.StatusBadRequest},
		{"dot segment", http.MethodGet, p + "/api/v1/./query?query=up", http.StatusBadRequest},
		{"dotdot label name", http.MethodGet, p + "/api/v1/label/../values", http.StatusBadRequest},
		{"encoded slash in label", http.MethodGet, p + "/api/v1/label/a%2Fb/values", http.StatusBadRequest},
		{"encoded slash after id", http.MethodGet, proxyPath + id + "%2Fapi/v1/query?query=up", http.StatusBadRequest},
		{"encoded slash lower", http.MethodGet, p + "/api%2fv1/query?query=up", http.StatusBadRequest},
		{"encoded backslash", http.MethodGet, p + "/api/v1%5Cquery?query=up", http.StatusBadRequest},
		{"second question mark in path", http.MethodGet, p + "/api/v1/query%3Fquery=up", http.StatusNotFound},
		{"question mark then admin", http.MethodPost, p + "/api/v1/admin/tsdb/delete_series%3F/../../query", http.StatusBadRequest},
		{"absolute URL after prefix", http.MethodGet, proxyPath + "http://evil.example/api/v1/query?query=up", http.StatusBadRequest},
		{"absolute URL after id", http.MethodGet, p + "/http://evil.example/api/v1/query?query=up", http.StatusBadRequest},
		{"encoded absolute URL", http.MethodGet, p + "/http:%2F%2Fevil.example/api/v1/query?query=up", http.StatusBadRequest},
		{"absolute URL as path tail", http.MethodGet, p + "/api/v1/query/http:/evil.example", http.StatusNotFound},
		{"double slash", http.MethodGet, p + "//api/v1/query?query=up", http.StatusBadRequest},
		{"trailing slash", http.MethodGet, p + "/api/v1/query/?query=up", http.StatusNotFound},
		{"DELETE on query", http.MethodDelete, p + "/api/v1/query?query=up", http.StatusMethodNotAllowed},
		{"POST on label values", http.MethodPost, p + "/api/v1/label/job/values", http.StatusMethodNotAllowed},
		{"unknown id", http.MethodGet, proxyPath + "999/api/v1/query?query=up", http.StatusNotFound},
		{"id with leading zero", http.MethodGet, proxyPath + "0" + id + "/api/v1/query?query=up", http.StatusNotFound},
		{"unknown uid", http.MethodGet, proxyPath + "uid/nope/api/v1/query?query=up", http.StatusNotFound},
		{"literal second question mark", http.MethodGet, p + "/api/v1/query??query=up&x=1", http.StatusBadRequest},
		{"two values of query", http.MethodGet, p + "/api/v1/query?query=up&query=down", http.StatusBadRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec.Reset()
			req, err := http.NewRequest(tc.method, front.URL+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.SetBasicAuth(front.Key, front.Token)
			resp, err := testkit.HTTPClient().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.want)
			}
			if got := rec.Seen(); len(got) != 0 {
				t.Errorf("backend saw %d requests: %+v", len(got), got)
			}
		})
	}
}

// TestProxyForwardsOnlyCanonical: the promtest.Caller's credentials, cookies,
// tenant and hop-by-hop headers never reach the backend; the data source's
// own credentials and headers do; only known parameters are sent.
func TestProxyForwardsOnlyCanonical(t *testing.T) {
	front, rec, ds := promtest.StartRecorded(t, nil, nil)
	base := front.URL + proxyPath + fmt.Sprint(ds.ID)
	wantAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte("dsuser:ds-password-123"))
	// What a backend may see, whatever the promtest.Caller sent.
	allowed := []string{"Accept", "Accept-Encoding", "Authorization", "Content-Length", "Content-Type", "User-Agent", "X-Scope-Orgid"}
	hostile := http.Header{
		"Cookie":                 {"grafana_session=abc; promgate_session=def"},
		"X-Scope-Orgid":          {"other-tenant"},
		"X-Grafana-Org-Id":       {"7"},
		"Connection":             {"Authorization, X-Hop, Keep-Alive"},
		"X-Hop":                  {"hop"},
		"Keep-Alive":             {"timeout=5"},
		"Te":                     {"trailers"},
		"Trailer":                {"X-Trailer"},
		"Upgrade":                {"websocket"},
		"Proxy-Authorization":    {"Basic cHJveHk6cHJveHk="},
		"X-Forwarded-For":        {"10.0.0.1"},
		"X-Forwarded-Host":       {"evil.example"},
		"Forwarded":              {"for=10.0.0.1;host=evil.example"},
		"X-Real-Ip":              {"10.0.0.1"},
		"X-Original-Url":         {"/api/v1/admin/tsdb/delete_series"},
		"X-Http-Method-Override": {"DELETE"},
		"Accept":                 {"text/html"},
		"Accept-Encoding":        {"br"},
		"Authorization-Extra":    {"x"},
	}
	cases := []struct {
		name, method, path, body string
		wantMethod, wantPath     string
		wantForm                 url.Values
	}{
		{"query GET", http.MethodGet, "/api/v1/query?query=up&foo=bar&time=1", "", http.MethodPost, "/prefix/api/v1/query", url.Values{"query": {"up"}, "time": {"1"}}},
		{"query POST", http.MethodPost, "/api/v1/query", "query=up&evil=1", http.MethodPost, "/prefix/api/v1/query", url.Values{"query": {"up"}}},
		{"label values", http.MethodGet, "/api/v1/label/job/values?match[]=up&x=1", "", http.MethodGet, "/prefix/api/v1/label/job/values", url.Values{"match[]": {"up"}}},
		{"buildinfo", http.MethodGet, "/api/v1/status/buildinfo?x=1", "", http.MethodGet, "/prefix/api/v1/status/buildinfo", url.Values{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec.Reset()
			c := front.Owner()
			c.Header = hostile
			var body any
			if tc.body != "" {
				body = tc.body
			}
			status, out := c.Do(t, tc.method, base+tc.path, body)
			if status != http.StatusOK {
				t.Fatalf("%d %s", status, out)
			}
			seen := rec.Seen()
			if len(seen) != 1 {
				t.Fatalf("backend saw %d requests, want 1", len(seen))
			}
			got := seen[0]
			if got.Method != tc.wantMethod || got.Path != tc.wantPath {
				t.Errorf("backend got %s %s, want %s %s", got.Method, got.Path, tc.wantMethod, tc.wantPath)
			}
			form := got.Form
			if got.Method == http.MethodGet {
				form = got.RawQuery
			}
			gotForm, err := url.ParseQuery(form)
			if err != nil {
				t.Fatal(err)
			}
			if gotForm.Encode() != tc.wantForm.Encode() {
				t.Errorf("backend got parameters %q, want %q", gotForm.Encode(), tc.wantForm.Encode())
			}
			for name := range got.Header {
				if !slices.Contains(allowed, name) {
					t.Errorf("backend got header %s: %q", name, got.Header[name])
				}
			}
			if a := got.Header.Values("Authorization"); len(a) != 1 || a[0] != wantAuth {
				t.Errorf("backend Authorization = %q, want the data source's own", a)
			}
			if o := got.Header.Values("X-Scope-Orgid"); len(o) != 1 || o[0] != "tenant-a" {
				t.Errorf("backend X-Scope-OrgID = %q, want the data source's tenant-a", o)
			}
			if ae := got.Header.Values("Accept-Encoding"); len(ae) != 1 || ae[0] != "identity" {
				t.Errorf("backend Accept-Encoding = %q, want identity (promgate's own, not the promtest.Caller's br)", ae)
			}
			if strings.Contains(fmt.Sprint(got.Header), front.Token) {
				t.Error("the promtest.Caller's token reached the backend")
			}
		})
	}
}
