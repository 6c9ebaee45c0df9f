package promapi

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func TestParsePath(t *testing.T) {
	tests := []struct {
		rest     string
		endpoint Endpoint
		label    string
		ok       bool
	}{
		{"api/v1/query", EndpointQuery, "", true},
		{"api/v1/query_range", EndpointQueryRange, "", true},
		{"api/v1/series", EndpointSeries, "", true},
		{"api/v1/labels", EndpointLabels, "", true},
		{"api/v1/label/job/values", EndpointLabelValues, "job", true},
		{"api/v1/label/__name__/values", EndpointLabelValues, "__name__", true},
		{"api/v1/metadata", EndpointMetadata, "", true},
		{"api/v1/query_exemplars", EndpointQueryExemplars, "", true},
		{"api/v1/format_query", EndpointFormatQuery, "", true},
		{"api/v1/status/buildinfo", EndpointBuildInfo, "", true},
		{"api/v1/status/config", "", "", false},
		{"api/v1/admin/tsdb/delete_series", "", "", false},
		{"api/v1/write", "", "", false},
		{"api/v1/label//values", "", "", false},
		{"api/v1/label/../values", "", "", false},
		{"api/v1/label/a/b/values", "", "", false},
		{"api/v1/query/", "", "", false},
		{"api/v2/query", "", "", false},
		{"federate", "", "", false},
		{"", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.rest, func(t *testing.T) {
			ep, label, ok := ParsePath(tt.rest)
			if ep != tt.endpoint || label != tt.label || ok != tt.ok {
				t.Fatalf("ParsePath(%q) = %q, %q, %v", tt.rest, ep, label, ok)
			}
		})
	}
}

func TestParseRequest(t *testing.T) {
	form := "application/x-www-form-urlencoded"
	tests := []struct {
		name        string
		method      string
		endpoint    Endpoint
		query, body string
		contentType string
		accept      string
		want        url.Values
		wantCSV     bool
		wantStatus  int // 0: success
	}{
		{"GET query", "GET", EndpointQuery, "query=up&time=1", "", "", "", url.Values{"query": {"up"}, "time": {"1"}}, false, 0},
		{"unknown params dropped", "GET", EndpointQuery, "query=up&evil=1&match[]=x", "", "", "", url.Values{"query": {"up"}}, false, 0},
		{"POST body", "POST", EndpointQuery, "", "query=up", form, "", url.Values{"query": {"up"}}, false, 0},
		{"same value twice is fine", "POST", EndpointQuery, "query=up", "query=up", form, "", url.Values{"query": {"up"}}, false, 0},
		{"different values refused", "POST", EndpointQuery, "query=up", "query=down", form, "", nil, false, 400},
		{"repeated key in URL refused", "GET", EndpointQuery, "query=up&query=down", "", "", "", nil, false, 400},
		{"same value twice in URL is fine", "GET", EndpointQuery, "query=up&query=up&time=1", "", "", "", url.Values{"query": {"up"}, "time": {"1"}}, false, 0},
		{"repeated key in body refused", "POST", EndpointQuery, "", "query=up&query=down", form, "", nil, false, 400},
		{"csv asked twice in URL, query once in body", "POST", EndpointQuery, "format=csv&format=csv", "query=up", form, "", url.Values{"query": {"up"}}, true, 0},
		{"match[] merged from body and URL", "POST", EndpointSeries, "match[]=a", "match[]=b", form, "", url.Values{"match[]": {"b", "a"}}, false, 0},
		{"format=csv", "GET", EndpointQuery, "query=up&format=csv", "", "", "", url.Values{"query": {"up"}}, true, 0},
		{"Accept text/csv", "GET", EndpointQueryRange, "query=up", "", "", "application/json;q=0.5, text/csv", url.Values{"query": {"up"}}, true, 0},
		{"csv only for queries", "GET", EndpointSeries, "match[]=up&format=csv", "", "", "", url.Values{"match[]": {"up"}}, false, 0},
		{"POST to GET-only endpoint", "POST", EndpointMetadata, "", "", form, "", nil, false, 405},
		{"PUT", "PUT", EndpointQuery, "query=up", "", "", "", nil, false, 405},
		{"bad query string", "GET", EndpointQuery, "query=%zz", "", "", "", nil, false, 400},
		{"bad form body", "POST", EndpointQuery, "", "query=%zz", form, "", nil, false, 400},
		{"non-form body ignored", "POST", EndpointQuery, "query=up", `{"query":"x"}`, "application/json", "", url.Values{"query": {"up"}}, false, 0},
		{"huge form body", "POST", EndpointQuery, "", "query=" + strings.Repeat("a", MaxFormBytes+1), form, "", nil, false, 400},
		{"unknown endpoint", "GET", "targets", "", "", "", "", nil, false, 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, "/x?"+tt.query, strings.NewReader(tt.body))
			if tt.contentType != "" {
				r.Header.Set("Content-Type", tt.contentType)
			}
			if tt.accept != "" {
				r.Header.Set("Accept", tt.accept)
			}
			req, err := ParseRequest(r, tt.endpoint, "")
			if tt.wantStatus != 0 {
				var perr *Error
				if !errors.As(err, &perr) || perr.Status != tt.wantStatus || perr.Msg == "" {
					t.Fatalf("got %+v, want status %d", perr, tt.wantStatus)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			if req.Params.Encode() != tt.want.Encode() || req.CSV != tt.wantCSV {
				t.Fatalf("params %s csv %v, want %s csv %v", req.Params.Encode(), req.CSV, tt.want.Encode(), tt.wantCSV)
			}
		})
	}
}

func TestNewHTTPRequest(t *testing.T) {
	base, _ := url.Parse("http://backend:9090/prometheus/?ignored=1#frag")
	tests := []struct {
		req        Request
		wantMethod string
		wantURL    string
		wantBody   string
	}{
		{Request{Endpoint: EndpointQuery, Params: url.Values{"query": {"up"}}}, "POST", "http://backend:9090/prometheus/api/v1/query", "query=up"},
		{Request{Endpoint: EndpointLabelValues, LabelName: "a b", Params: url.Values{"match[]": {"up"}}}, "GET", "http://backend:9090/prometheus/api/v1/label/a%20b/values?match%5B%5D=up", ""},
		{Request{Endpoint: EndpointBuildInfo, Params: url.Values{}}, "GET", "http://backend:9090/prometheus/api/v1/status/buildinfo", ""},
		{Request{Endpoint: EndpointMetadata, Params: url.Values{"limit": {"2"}}}, "GET", "http://backend:9090/prometheus/api/v1/metadata?limit=2", ""},
	}
	for _, tt := range tests {
		t.Run(string(tt.req.Endpoint), func(t *testing.T) {
			hr, err := tt.req.NewHTTPRequest(context.Background(), base)
			if err != nil {
				t.Fatal(err)
			}
			var body string
			if hr.Body != nil {
				b, _ := io.ReadAll(hr.Body)
				body = string(b)
			}
			if hr.Method != tt.wantMethod || hr.URL.String() != tt.wantURL || body != tt.wantBody {
				t.Fatalf("got %s %s %q", hr.Method, hr.URL, body)
			}
			if hr.Header.Get("Authorization") != "" || hr.Header.Get("Cookie") != "" {
				t.Fatal("a fresh request carries caller headers")
			}
		})
	}
}

func TestWriteError(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteError(rec, http.StatusUnprocessableEntity, ErrExecution, `bad "thing"`)
	if rec.Code != 422 || rec.Header().Get("Content-Type") != "application/json" ||
		strings.TrimSpace(rec.Body.String()) != `{"status":"error","errorType":"execution","error":"bad \"thing\""}` {
		t.Fatalf("got %d %q", rec.Code, rec.Body.String())
	}
}
