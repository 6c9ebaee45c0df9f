// Package promapi reads a Prometheus HTTP API request once, into a canonical
// form that the rest of promgate (access checks, label enforcement, the data
// sources) works on, and writes errors in Prometheus' format.
//
// Reading once matters: label-enforcing proxies have leaked through GET and
// POST values being read differently by the proxy and by the backend. Here
// the canonical form is the only thing a backend ever sees.
package promapi

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// Endpoint is a read endpoint of Prometheus' HTTP API that promgate
// serves, named as in Prometheus' /api/v1/<name>.
type Endpoint string

// The endpoints; endpointTable has the path and parameters of each.
const (
	EndpointQuery          Endpoint = "query"
	EndpointQueryRange     Endpoint = "query_range"
	EndpointSeries         Endpoint = "series"
	EndpointLabels         Endpoint = "labels"
	EndpointLabelValues    Endpoint = "label_values" // /api/v1/label/<name>/values
	EndpointMetadata       Endpoint = "metadata"
	EndpointQueryExemplars Endpoint = "query_exemplars"
	EndpointFormatQuery    Endpoint = "format_query"
	EndpointBuildInfo      Endpoint = "buildinfo" // /api/v1/status/buildinfo
)

// MaxFormBytes bounds a POST form body.
const MaxFormBytes = 8 << 20

// labelValuesPath is the one path with a variable segment.
const labelValuesPath = "label/{name}/values"

type endpointSpec struct {
	endpoint Endpoint
	path     string   // under /api/v1/
	single   []string // parameters read once (FormValue in Prometheus)
	multi    []string // parameters read as lists (r.Form[...] in Prometheus)
	postable bool     // Prometheus registers a POST route for it
}

// endpointTable is the one list of the read endpoints promgate serves:
// their paths and parameters. Any other path is not found, and any other
// parameter is dropped before a request reaches a data source.
var endpointTable = [...]endpointSpec{
	{endpoint: EndpointQuery, path: "query", single: []string{"query", "time", "timeout", "limit", "lookback_delta", "stats"}, postable: true},
	{endpoint: EndpointQueryRange, path: "query_range", single: []string{"query", "start", "end", "step", "timeout", "limit", "lookback_delta", "stats"}, postable: true},
	{endpoint: EndpointSeries, path: "series", single: []string{"start", "end", "limit"}, multi: []string{"match[]"}, postable: true},
	{endpoint: EndpointLabels, path: "labels", single: []string{"start", "end", "limit"}, multi: []string{"match[]"}, postable: true},
	{endpoint: EndpointLabelValues, path: labelValuesPath, single: []string{"start", "end", "limit"}, multi: []string{"match[]"}},
	{endpoint: EndpointMetadata, path: "metadata", single: []string{"metric", "limit", "limit_per_metric"}},
	{endpoint: EndpointQueryExemplars, path: "query_exemplars", single: []string{"query", "start", "end"}, postable: true},
	{endpoint: EndpointFormatQuery, path: "format_query", single: []string{"query"}, postable: true},
	{endpoint: EndpointBuildInfo, path: "status/buildinfo"},
}

// Endpoints lists every endpoint, for code that must handle each one.
func Endpoints() []Endpoint {
	out := make([]Endpoint, len(endpointTable))
	for i, sp := range endpointTable {
		out[i] = sp.endpoint
	}
	return out
}

func spec(e Endpoint) (endpointSpec, bool) {
	for _, sp := range endpointTable {
		if sp.endpoint == e {
			return sp, true
		}
	}
	return endpointSpec{}, false
}

// Request is a canonical read request.
type Request struct {
	Endpoint  Endpoint
	LabelName string     // for EndpointLabelValues
	Params    url.Values // only the endpoint's known parameters, each single one at most once
	// CSV is set when the caller asked for CSV (format=csv or Accept:
	// text/csv) on query or query_range; it is not forwarded.
	CSV bool
}

// ParsePath maps the part of a URL after a data source's base
// ("api/v1/query", "api/v1/label/job/values", ...) to an endpoint. Anything
// else, including admin APIs and paths with empty or dot segments, is not
// found.
func ParsePath(rest string) (endpoint Endpoint, labelName string, ok bool) {
	rest, found := strings.CutPrefix(rest, "api/v1/")
	if !found {
		return "", "", false
	}
	for _, sp := range endpointTable {
		if sp.path == rest {
			return sp.endpoint, "", true
		}
	}
	segs := strings.Split(rest, "/")
	if len(segs) == 3 && segs[0] == "label" && segs[2] == "values" && segs[1] != "" && segs[1] != "." && segs[1] != ".." {
		return EndpointLabelValues, segs[1], true
	}
	return "", "", false
}

// ParseRequest reads r for the given endpoint. Single-valued parameters may
// appear in the URL and the form body, but only with one value: a request
// that gives two different values is refused instead of guessing which one
// a backend would read.
func ParseRequest(r *http.Request, endpoint Endpoint, labelName string) (*Request, error) {
	sp, ok := spec(endpoint)
	if !ok {
		return nil, &Error{Status: http.StatusNotFound, Type: ErrNotFound, Msg: "unknown API endpoint"}
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodPost:
		if !sp.postable {
			return nil, &Error{Status: http.StatusMethodNotAllowed, Type: ErrBadData, Msg: fmt.Sprintf("method %s not allowed for %s", r.Method, endpoint)}
		}
	default:
		return nil, &Error{Status: http.StatusMethodNotAllowed, Type: ErrBadData, Msg: fmt.Sprintf("method %s not allowed for %s", r.Method, endpoint)}
	}

	query, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, &Error{Status: http.StatusBadRequest, Type: ErrBadData, Msg: fmt.Sprintf("invalid query string: %v", err)}
	}
	body := url.Values{}
	if r.Method == http.MethodPost && r.Body != nil {
		if body, err = readFormBody(r); err != nil {
			return nil, &Error{Status: http.StatusBadRequest, Type: ErrBadData, Msg: err.Error()}
		}
	}

	req := &Request{Endpoint: endpoint, LabelName: labelName, Params: url.Values{}}
	for _, name := range sp.single {
		// Only a parameter given more than once needs a sorted copy; the
		// common case (one place, one value) allocates nothing.
		values := query[name]
		if len(body[name])+len(values) > 1 {
			values = append(slices.Clone(body[name]), values...)
			slices.Sort(values)
			values = slices.Compact(values)
		} else if len(values) == 0 {
			values = body[name]
		}
		switch len(values) {
		case 0:
		case 1:
			req.Params.Set(name, values[0])
		default:
			return nil, &Error{Status: http.StatusBadRequest, Type: ErrBadData, Msg: fmt.Sprintf("parameter %q given more than once with different values", name)}
		}
	}
	for _, name := range sp.multi {
		// Both places count, as in Prometheus; duplicates change nothing.
		if values := append(slices.Clone(body[name]), query[name]...); len(values) > 0 {
			req.Params[name] = values
		}
	}
	if endpoint == EndpointQuery || endpoint == EndpointQueryRange {
		req.CSV = wantsCSV(r, query, body)
	}
	if q := req.Params.Get("query"); q != "" {
		if err := checkNesting(q); err != nil {
			return nil, err
		}
	}
	return req, nil
}

func readFormBody(r *http.Request) (url.Values, error) {
	ct := r.Header.Get("Content-Type")
	mediaType, _, err := mime.ParseMediaType(ct)
	if ct != "" && err != nil {
		return nil, fmt.Errorf("invalid Content-Type %q", ct)
	}
	if ct == "" || mediaType != "application/x-www-form-urlencoded" {
		if mediaType == "multipart/form-data" {
			if err := r.ParseMultipartForm(MaxFormBytes); err != nil {
				return nil, fmt.Errorf("read multipart form: %w", err)
			}
			return r.MultipartForm.Value, nil
		}
		// Prometheus ignores bodies it cannot read as a form; so do we.
		return url.Values{}, nil
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, MaxFormBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read form body: %w", err)
	}
	if len(raw) > MaxFormBytes {
		return nil, fmt.Errorf("form body larger than %d bytes", MaxFormBytes)
	}
	values, err := url.ParseQuery(string(raw))
	if err != nil {
		return nil, fmt.Errorf("invalid form body: %w", err)
	}
	return values, nil
}

func wantsCSV(r *http.Request, query, body url.Values) bool {
	for _, f := range append(slices.Clone(body["format"]), query["format"]...) {
		if strings.EqualFold(f, "csv") {
			return true
		}
	}
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err == nil && mt == "text/csv" {
			return true
		}
	}
	return false
}

// Path is the request's API path, /api/v1/..., unescaped as in url.URL.Path.
func (req *Request) Path() string {
	sp, _ := spec(req.Endpoint)
	if sp.path == labelValuesPath {
		return "/api/v1/label/" + req.LabelName + "/values"
	}
	return "/api/v1/" + sp.path
}

// NewHTTPRequest builds a fresh request for a backend whose API is under
// base (for example http://prom:9090 or a Mimir /prometheus prefix): POST
// with a form body where Prometheus accepts POST, GET otherwise. Nothing of
// the caller's request but the canonical parameters is carried over.
func (req *Request) NewHTTPRequest(ctx context.Context, base *url.URL) (*http.Request, error) {
	u := *base
	u.Path = strings.TrimSuffix(base.Path, "/") + req.Path()
	u.RawPath = ""
	u.RawQuery = ""
	u.Fragment = ""
	encoded := req.Params.Encode()
	sp, _ := spec(req.Endpoint)
	if sp.postable {
		hr, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewBufferString(encoded))
		if err != nil {
			return nil, fmt.Errorf("build backend request: %w", err)
		}
		hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return hr, nil
	}
	u.RawQuery = encoded
	hr, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("build backend request: %w", err)
	}
	return hr, nil
}
