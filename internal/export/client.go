package export

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultURL is the embedded data source of a local promgate.
const DefaultURL = "http://127.0.0.1:8030/api-server/v1/grafana/api/datasources/proxy/1"

// APIError is an error answered by the server: the Prometheus API's errorType
// and error, and the HTTP status when there was one.
type APIError struct {
	StatusCode int    // 0 when a 2xx response carried status "error"
	Status     string // e.g. "400 Bad Request"
	Type       string // e.g. "bad_data"
	Message    string
	// HTML is set when the answer was a web page rather than the API's
	// JSON: the URL points at something other than a Prometheus API.
	HTML bool
}

func (e *APIError) Error() string {
	var b strings.Builder
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, "HTTP %s", e.Status)
	} else {
		b.WriteString("server error")
	}
	if e.Type != "" {
		fmt.Fprintf(&b, ": %s", e.Type)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	return b.String()
}

// Client calls the Prometheus query API under a base URL (a promgate data
// source proxy, or any Prometheus-compatible server) with basic auth.
type Client struct {
	base       *url.URL
	user, pass string
	hasAuth    bool
	http       *http.Client
	// Timeout bounds one request (and is sent as the API's timeout parameter); 0: none.
	Timeout time.Duration
}

// ErrHalfCredential is returned for a key without a token or a token without a key.
var ErrHalfCredential = errors.New("a credential is a key and a token; only one of them was given")

// NewClient parses baseURL; a key:token@ userinfo in it is used as basic
// auth, key and token (when not empty) replacing its halves. hc may be nil.
func NewClient(baseURL, key, token string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(strings.TrimSpace(baseURL))
	if err != nil {
		return nil, fmt.Errorf("parsing URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("URL %q: scheme must be http or https", u.Redacted())
	}
	if u.Host == "" {
		return nil, fmt.Errorf("URL %q: no host", u.Redacted())
	}
	c := &Client{http: hc}
	if u.User != nil {
		c.user = u.User.Username()
		c.pass, _ = u.User.Password()
		c.hasAuth = true
		u.User = nil
	}
	// key and token each replace their half of the URL's userinfo.
	if key != "" {
		c.user, c.hasAuth = key, true
	}
	if token != "" {
		c.pass, c.hasAuth = token, true
	}
	if c.hasAuth && (c.user == "" || c.pass == "") {
		return nil, ErrHalfCredential
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	u.RawQuery, u.Fragment = "", ""
	c.base = u
	if c.http == nil {
		c.http = &http.Client{Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			MaxIdleConnsPerHost: 16,
			IdleConnTimeout:     30 * time.Second,
		}}
	}
	return c, nil
}

// BaseURL returns the base URL without credentials.
func (c *Client) BaseURL() string { return c.base.String() }

// HasCredential reports whether requests carry basic auth.
func (c *Client) HasCredential() bool { return c.hasAuth }

// maxGETQuery is where requests switch to POST so long PromQL is not cut by URL limits.
const maxGETQuery = 4000

// get performs an API call and returns the body of a 2xx response. The caller
// closes it; closing also releases the per-request timeout.
func (c *Client) get(ctx context.Context, endpoint string, params url.Values) (io.ReadCloser, error) {
	cancel := context.CancelFunc(func() {})
	if c.Timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, c.Timeout)
		params.Set("timeout", strconv.FormatFloat(c.Timeout.Seconds(), 'f', -1, 64)+"s")
	}
	u := *c.base
	u.Path += endpoint
	enc := params.Encode()
	var req *http.Request
	var err error
	if len(enc) <= maxGETQuery {
		u.RawQuery = enc
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	} else {
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, u.String(), strings.NewReader(enc))
		if req != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	}
	if err != nil {
		cancel()
		return nil, fmt.Errorf("building request: %w", err)
	}
	if c.hasAuth {
		req.SetBasicAuth(c.user, c.pass)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "promgate-cli")
	resp, err := c.http.Do(req)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("requesting %s: %w", endpoint, err)
	}
	if resp.StatusCode/100 != 2 || isHTML(resp.Header.Get("Content-Type")) {
		defer cancel()
		defer resp.Body.Close()
		return nil, readAPIError(resp)
	}
	return &cancelBody{ReadCloser: resp.Body, cancel: cancel}, nil
}

type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

func readAPIError(resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	e := &APIError{StatusCode: resp.StatusCode, Status: resp.Status}
	var pe struct {
		Status    string `json:"status"`
		ErrorType string `json:"errorType"`
		Error     string `json:"error"`
	}
	if json.Unmarshal(body, &pe) == nil && (pe.Error != "" || pe.ErrorType != "") {
		e.Type, e.Message = pe.ErrorType, pe.Error
		return e
	}
	msg := strings.TrimSpace(string(body))
	if isHTML(resp.Header.Get("Content-Type")) || looksHTML(msg) {
		// A web page (a UI, a login page, a 404 page): its first line says nothing.
		e.HTML = true
		e.Message = "the server answered a web page, not the Prometheus API"
		return e
	}
	// Not the API's JSON (an auth layer or a proxy): keep its text, briefly.
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	if len(msg) > 300 {
		msg = msg[:300] + "..."
	}
	e.Message = msg
	return e
}

func isHTML(contentType string) bool {
	mt, _, _ := mime.ParseMediaType(contentType)
	return mt == "text/html" || mt == "application/xhtml+xml"
}

func looksHTML(body string) bool {
	head := strings.ToLower(body[:min(len(body), 15)])
	return strings.HasPrefix(head, "<!doctype html") || strings.HasPrefix(head, "<html")
}

// formatSeconds writes ms as a decimal seconds parameter.
func formatSeconds(ms int64) string {
	return string(appendTimestamp(nil, ms))
}

// Query starts an instant query; t is the evaluation time, zero for the server's now.
func (c *Client) Query(ctx context.Context, query string, t time.Time) (io.ReadCloser, error) {
	p := url.Values{"query": {query}}
	if !t.IsZero() {
		p.Set("time", formatSeconds(t.UnixMilli()))
	}
	return c.get(ctx, "/api/v1/query", p)
}

// QueryRange starts a range query over [start, end] (milliseconds) every step.
func (c *Client) QueryRange(ctx context.Context, query string, startMs, endMs, stepMs int64) (io.ReadCloser, error) {
	p := url.Values{
		"query": {query},
		"start": {formatSeconds(startMs)},
		"end":   {formatSeconds(endMs)},
		"step":  {formatSeconds(stepMs)},
	}
	return c.get(ctx, "/api/v1/query_range", p)
}

// IsAPIError reports whether err came from the server's answer.
func IsAPIError(err error) bool {
	var e *APIError
	return errors.As(err, &e)
}
