package datasource

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/promgate/promgate/internal/promapi"
)

// TestResult is the outcome of "Test connection", in words for a person.
type TestResult struct {
	OK         bool    `json:"ok"`
	Message    string  `json:"message"`
	Version    string  `json:"version,omitempty"`
	HTTPStatus int     `json:"httpStatus,omitempty"`
	DurationMs float64 `json:"durationMs"`
}

// probe is one request's outcome.
type probe struct {
	status int
	ct     string
	body   []byte
	loc    string
	err    error
}

// Test asks the backend for its build info, and when that is not there
// (some Prometheus-compatible stores lack it) for the query 1+1, and says
// what happened.
func (rm *Remote) Test(ctx context.Context) TestResult {
	start := time.Now()
	res := rm.test(ctx)
	res.DurationMs = float64(time.Since(start).Microseconds()) / 1000
	res.Message = rm.redact.Replace(res.Message)
	return res
}

func (rm *Remote) test(ctx context.Context) TestResult {
	ctx, cancel := context.WithTimeout(ctx, rm.timeout)
	defer cancel()
	bi := rm.probe(ctx, &promapi.Request{Endpoint: promapi.EndpointBuildInfo, Params: url.Values{}})
	if bi.err != nil {
		return rm.failure(ctx, bi.err)
	}
	switch {
	case bi.status == http.StatusOK && jsonContentType(bi.ct):
		var out struct {
			Status string `json:"status"`
			Data   struct {
				Version string `json:"version"`
			} `json:"data"`
		}
		if json.Unmarshal(bi.body, &out) == nil && out.Status == "success" {
			v := out.Data.Version
			if v == "" {
				v = "(version not reported)"
			}
			return TestResult{OK: true, HTTPStatus: bi.status, Version: out.Data.Version, Message: "Data source is working: Prometheus " + v}
		}
	case bi.status >= 300 && bi.status < 400:
		return TestResult{HTTPStatus: bi.status, Message: fmt.Sprintf("HTTP %d from backend: redirect to %s; check the URL (http or https, path prefix)", bi.status, bi.loc)}
	case bi.status == http.StatusUnauthorized || bi.status == http.StatusForbidden || bi.status == http.StatusProxyAuthRequired:
		return TestResult{HTTPStatus: bi.status, Message: fmt.Sprintf("HTTP %d from backend: %s; check the basic auth user and password or the bearer token", bi.status, snippet(bi.body))}
	}
	// No build info: a working query API is just as good.
	q := rm.probe(ctx, &promapi.Request{Endpoint: promapi.EndpointQuery, Params: url.Values{"query": {"1+1"}}})
	if q.err == nil && q.status == http.StatusOK && jsonContentType(q.ct) {
		var out struct {
			Status string `json:"status"`
		}
		if json.Unmarshal(q.body, &out) == nil && out.Status == "success" {
			return TestResult{OK: true, HTTPStatus: q.status, Message: fmt.Sprintf("Data source is working: it answered the query 1+1 (no build info: HTTP %d)", bi.status)}
		}
	}
	if bi.status == http.StatusOK && !jsonContentType(bi.ct) {
		return TestResult{HTTPStatus: bi.status, Message: fmt.Sprintf("HTTP 200 from backend, but not the Prometheus API (%s): check the URL's path prefix (e.g. /prometheus for Mimir)", describeBody(bi.ct, bi.body))}
	}
	return TestResult{HTTPStatus: bi.status, Message: fmt.Sprintf("HTTP %d from backend: %s", bi.status, snippet(bi.body))}
}

func (rm *Remote) failure(ctx context.Context, err error) TestResult {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return TestResult{Message: fmt.Sprintf("No answer from the data source within %s", rm.timeout)}
	}
	return TestResult{Message: "Cannot reach the data source: " + rm.describeNetError(err)}
}

func (rm *Remote) probe(ctx context.Context, req *promapi.Request) probe {
	hr, err := rm.newRequest(ctx, req)
	if err != nil {
		return probe{err: err}
	}
	resp, err := rm.rt.RoundTrip(hr)
	if err != nil {
		return probe{err: err}
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return probe{err: err}
	}
	return probe{status: resp.StatusCode, ct: resp.Header.Get("Content-Type"), body: body, loc: resp.Header.Get("Location")}
}

// snippet is the start of a body as one line: the "error" of a Prometheus
// error, else the first 200 characters.
func snippet(body []byte) string {
	var perr struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &perr) == nil && perr.Error != "" {
		body = []byte(perr.Error)
	}
	s := strings.ToValidUTF8(string(body[:min(len(body), 200)]), "")
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return isControl(r) || r == ' ' }), " ")
	if s == "" {
		return "(empty body)"
	}
	return s
}
