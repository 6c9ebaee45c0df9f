package promtest

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/promgate/promgate/internal/mgmtapi"
	"github.com/promgate/promgate/internal/testkit"
)

// Caller is one way of calling the API: a key and token, or a session
// cookie with its CSRF token, plus extra headers.
type Caller struct {
	Key, Token string
	Cookie     *http.Cookie
	CSRF       string
	Header     http.Header
}

// Owner calls s with its global OWNER credential.
func (s *Server) Owner() Caller { return Caller{Key: s.Key, Token: s.Token} }

// Do sends a request and returns the status and body. A string body that
// does not start with "{" is sent as a form; any other body as JSON.
func (c Caller) Do(t testing.TB, method, url string, body any) (int, []byte) {
	t.Helper()
	var req *http.Request
	if s, ok := body.(string); ok {
		var err error
		if req, err = http.NewRequest(method, url, strings.NewReader(s)); err != nil {
			t.Fatal(err)
		}
		if s != "" && !strings.HasPrefix(s, "{") {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		} else {
			req.Header.Set("Content-Type", "application/json")
		}
	} else {
		req = testkit.JSONRequest(t, method, url, body)
	}
	if c.Key != "" {
		req.SetBasicAuth(c.Key, c.Token)
	}
	if c.Cookie != nil {
		req.AddCookie(c.Cookie)
	}
	if c.CSRF != "" {
		req.Header.Set("X-CSRF-Token", c.CSRF)
	}
	for k, v := range c.Header {
		req.Header[k] = v
	}
	resp, out := testkit.Do(t, req)
	return resp.StatusCode, out
}

// DecodeData decodes a success answer's data into v.
func DecodeData(t testing.TB, body []byte, v any) {
	t.Helper()
	var env struct {
		Status string          `json:"status"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil || env.Status != "success" {
		t.Fatalf("not a success answer: %s", body)
	}
	if err := json.Unmarshal(env.Data, v); err != nil {
		t.Fatalf("decode data: %v: %s", err, body)
	}
}

// AddDataSource creates a data source on s through the API.
func AddDataSource(t testing.TB, s *Server, in map[string]any) mgmtapi.View {
	t.Helper()
	status, body := s.Owner().Do(t, http.MethodPost, s.URL+"/api-server/v1/datasources", in)
	if status != http.StatusCreated {
		t.Fatalf("create data source: %d %s", status, body)
	}
	var v mgmtapi.View
	DecodeData(t, body, &v)
	return v
}

// PromError is a Prometheus-format error body.
type PromError struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
}

// DecodeError decodes a Prometheus-format error body.
func DecodeError(t testing.TB, body []byte) PromError {
	t.Helper()
	var e PromError
	if err := json.Unmarshal(body, &e); err != nil || e.Status != "error" {
		t.Fatalf("not a Prometheus error: %s", body)
	}
	return e
}

// Recorder is a fake backend on 127.0.0.1 that records every request and
// answers with handle (a small valid Prometheus answer when nil).
type Recorder struct {
	*httptest.Server
	mu       sync.Mutex
	requests []Recorded
	handle   http.HandlerFunc
}

// Recorded is one request a Recorder saw.
type Recorded struct {
	Method, Path, RawQuery string
	Header                 http.Header
	Form                   string
}

// NewRecorder starts a Recorder that stops when the test ends.
func NewRecorder(t testing.TB, handle http.HandlerFunc) *Recorder {
	t.Helper()
	rec := &Recorder{handle: handle}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rec.Server = &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.requests = append(rec.requests, Recorded{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Header: r.Header.Clone(), Form: string(body)})
		rec.mu.Unlock()
		if rec.handle != nil {
			rec.handle(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Set-Cookie", "backend=session")
		w.Header().Set("X-Backend-Secret", "internal")
		_, _ = io.WriteString(w, `{"status":"success","data":{"resultType":"vector","result":[]}}`)
	})}}
	rec.Start()
	t.Cleanup(rec.Close)
	return rec
}

// Seen returns the requests seen so far.
func (r *Recorder) Seen() []Recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Recorded(nil), r.requests...)
}

// Reset forgets the requests seen.
func (r *Recorder) Reset() {
	r.mu.Lock()
	r.requests = nil
	r.mu.Unlock()
}

// StartRecorded starts a promgate whose data source points at a fake
// backend (a Recorder answering with handle) that records everything it
// receives; extra is laid over the data source settings.
func StartRecorded(t testing.TB, handle http.HandlerFunc, extra map[string]any) (*Server, *Recorder, mgmtapi.View) {
	t.Helper()
	rec := NewRecorder(t, handle)
	front := Start(t)
	in := map[string]any{
		"name": "recorded", "url": rec.URL + "/prefix", "env": "test",
		"basicAuthUser": "dsuser", "basicAuthPassword": "ds-password-123",
		"headers": map[string]string{"X-Scope-OrgID": "tenant-a"},
	}
	for k, v := range extra {
		in[k] = v
	}
	ds := AddDataSource(t, front, in)
	return front, rec, ds
}

// Reply is a backend handler answering status, ct and body with headers a
// proxy must not pass on.
func Reply(status int, ct, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", ct)
		w.Header().Set("Set-Cookie", "backend=1")
		w.Header().Set("X-Backend-Secret", "x")
		w.Header().Set("WWW-Authenticate", `Basic realm="backend"`)
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}
