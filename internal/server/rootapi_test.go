package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/promgate/promgate/internal/promtest"
	"github.com/promgate/promgate/internal/server"
)

// TestPrometheusPathAtRootSaysWhereTheAPIIs: a newcomer who asks promgate
// for Prometheus' own paths (/api/v1/query at the root, as for a Prometheus)
// gets a Prometheus-format error naming the data source proxy path, not the
// pages' HTML 404; remote_write at /api/v1/write is unchanged.
func TestPrometheusPathAtRootSaysWhereTheAPIIs(t *testing.T) {
	s := promtest.Start(t)
	for _, path := range []string{"/api/v1/query?query=up", "/api/v1/query_range?query=up", "/api/v1/labels", "/api/v1/"} {
		t.Run(path, func(t *testing.T) {
			for _, auth := range []bool{true, false} {
				req, _ := http.NewRequestWithContext(ctx(t), http.MethodGet, s.URL+path, nil)
				if auth {
					req.SetBasicAuth(s.Key, s.Token)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusNotFound {
					t.Fatalf("status %d: %s", resp.StatusCode, body)
				}
				var e struct{ Status, ErrorType, Error string }
				if err := json.Unmarshal(body, &e); err != nil {
					t.Fatalf("not JSON (%v): %.200s", err, body)
				}
				if e.Status != "error" || e.ErrorType != "not_found" || !strings.Contains(e.Error, server.ProxyPrefix+"ID/api/v1/") || !strings.Contains(e.Error, server.ProxyPrefix+"1/") {
					t.Fatalf("error %+v", e)
				}
			}
		})
	}
	// remote_write keeps its own handler: without a credential it is 401.
	resp, err := http.Post(s.URL+"/api/v1/write", "application/x-protobuf", strings.NewReader(""))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("remote_write without credential: %d", resp.StatusCode)
	}
}

// TestProxyNotFoundSaysWhatExists: a mistyped endpoint names the endpoints
// promgate passes on, and an unknown data source names where to list them.
func TestProxyNotFoundSaysWhatExists(t *testing.T) {
	s := promtest.Start(t)
	tests := []struct {
		path string
		want []string
	}{
		{server.ProxyPrefix + "1/api/v1/query_rang?query=up", []string{"api/v1/query", "query_range", "label/NAME/values", "status/buildinfo"}},
		{server.ProxyPrefix + "1/query?query=up", []string{"api/v1/query"}},
		{server.ProxyPrefix + "9/api/v1/query?query=up", []string{"/api-server/v1/grafana/api/datasources"}},
		{server.ProxyPrefix + "uid/nope/api/v1/query?query=up", []string{"/api-server/v1/grafana/api/datasources"}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(ctx(t), http.MethodGet, s.URL+tt.path, nil)
			req.SetBasicAuth(s.Key, s.Token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var e struct{ Status, ErrorType, Error string }
			if err := json.Unmarshal(body, &e); err != nil || resp.StatusCode != http.StatusNotFound || e.ErrorType != "not_found" {
				t.Fatalf("%d %s (%v)", resp.StatusCode, body, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(e.Error, w) {
					t.Errorf("error lacks %q: %s", w, e.Error)
				}
			}
		})
	}
}
