package datasource_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/promgate/promgate/internal/promtest"
	"github.com/promgate/promgate/internal/server"
)

const proxyPath = server.ProxyPrefix

// httpClient has a bound on every request a test makes.
var httpClient = &http.Client{Timeout: 30 * time.Second}

type caller struct {
	key, token string
	cookie     *http.Cookie
	csrf       string
	header     http.Header
}

func owner(s *promtest.Server) caller { return caller{key: s.Key, token: s.Token} }

// do sends a request and returns the status and body.
func (c caller) do(t testing.TB, method, url string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if c.key != "" {
		req.SetBasicAuth(c.key, c.token)
	}
	if c.cookie != nil {
		req.AddCookie(c.cookie)
	}
	if c.csrf != "" {
		req.Header.Set("X-CSRF-Token", c.csrf)
	}
	if s, ok := body.(string); ok && s != "" && !strings.HasPrefix(s, "{") {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return resp.StatusCode, out
}

// dsView is the API's answer for one data source.
type dsView struct {
	ID                   int64             `json:"id"`
	UID                  string            `json:"uid"`
	Name                 string            `json:"name"`
	URL                  string            `json:"url"`
	Env                  string            `json:"env"`
	Site                 string            `json:"site"`
	BasicAuthUser        string            `json:"basicAuthUser"`
	HasBasicAuthPassword *bool             `json:"hasBasicAuthPassword"`
	HasBearerToken       *bool             `json:"hasBearerToken"`
	Headers              map[string]string `json:"headers"`
	TimeoutSeconds       float64           `json:"timeoutSeconds"`
	Embedded             bool              `json:"embedded"`
}

func decodeData(t testing.TB, body []byte, v any) {
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

// addDataSource creates a data source on s through the API.
func addDataSource(t testing.TB, s *promtest.Server, in map[string]any) dsView {
	t.Helper()
	status, body := owner(s).do(t, http.MethodPost, s.URL+"/api-server/v1/datasources", in)
	if status != http.StatusCreated {
		t.Fatalf("create data source: %d %s", status, body)
	}
	var v dsView
	decodeData(t, body, &v)
	return v
}

// promErr is a Prometheus-format error body.
type promErr struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
}

func decodeErr(t testing.TB, body []byte) promErr {
	t.Helper()
	var e promErr
	if err := json.Unmarshal(body, &e); err != nil || e.Status != "error" {
		t.Fatalf("not a Prometheus error: %s", body)
	}
	return e
}

// recorder is a fake backend on 127.0.0.1 that records every request and
// answers with handle (a small valid Prometheus answer when nil).
type recorder struct {
	*httptest.Server
	mu       sync.Mutex
	requests []recorded
	handle   http.HandlerFunc
}

type recorded struct {
	method, path, rawQuery string
	header                 http.Header
	form                   string
}

func newRecorder(t testing.TB, handle http.HandlerFunc) *recorder {
	t.Helper()
	rec := &recorder{handle: handle}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rec.Server = &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.requests = append(rec.requests, recorded{method: r.Method, path: r.URL.Path, rawQuery: r.URL.RawQuery, header: r.Header.Clone(), form: string(body)})
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

func (r *recorder) seen() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recorded(nil), r.requests...)
}

func (r *recorder) reset() {
	r.mu.Lock()
	r.requests = nil
	r.mu.Unlock()
}

// closedPort returns a 127.0.0.1 address nothing listens on.
func closedPort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}
