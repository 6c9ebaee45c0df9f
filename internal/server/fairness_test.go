package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/promgate/promgate/internal/access"
	"github.com/promgate/promgate/internal/app"
	"github.com/promgate/promgate/internal/promtest"
	"github.com/promgate/promgate/internal/server"
)

// fairClient bounds every request of the fairness tests.
var fairClient = &http.Client{Timeout: 30 * time.Second}

// slowBackend is a Prometheus-shaped backend on 127.0.0.1: queries that
// name slow_metric block until release is closed (or the caller leaves);
// everything else answers at once.
type slowBackend struct {
	*httptest.Server
	arrived chan struct{}
	release chan struct{}
	once    sync.Once
}

func newSlowBackend(t *testing.T) *slowBackend {
	t.Helper()
	b := &slowBackend{arrived: make(chan struct{}, 100), release: make(chan struct{})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b.Server = &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.FormValue("query"), "slow_metric") {
			b.arrived <- struct{}{}
			select {
			case <-b.release:
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"success","data":{"resultType":"vector","result":[]}}`)
	})}}
	b.Start()
	t.Cleanup(func() {
		b.unblock()
		b.Close()
	})
	return b
}

func (b *slowBackend) unblock() { b.once.Do(func() { close(b.release) }) }

// addRemote adds a remote data source through the management API and
// returns its id.
func addRemote(t *testing.T, s *promtest.Server, backendURL string) int64 {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"name": "slow", "url": backendURL, "env": "test"})
	req, _ := http.NewRequestWithContext(ctx(t), "POST", s.URL+"/api-server/v1/datasources", bytes.NewReader(body))
	req.SetBasicAuth(s.Key, s.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := fairClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out struct {
		Data struct {
			ID int64 `json:"id"`
		} `json:"data"`
	}
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(raw, &out) != nil || out.Data.ID == 0 {
		t.Fatalf("add data source: %d %s", resp.StatusCode, raw)
	}
	return out.Data.ID
}

type answer struct {
	err        error
	status     int
	retryAfter string
	errorType  string
	took       time.Duration
}

// query runs one instant query as key:token; it may run in a goroutine,
// so it reports failure in the answer, not through t.
func query(ctx context.Context, s *promtest.Server, key, token string, ds int64, q string) answer {
	u := fmt.Sprintf("%s%s%d/api/v1/query?query=%s", s.URL, server.ProxyPrefix, ds, url.QueryEscape(q))
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return answer{err: err}
	}
	req.SetBasicAuth(key, token)
	start := time.Now()
	resp, err := fairClient.Do(req)
	if err != nil {
		return answer{err: fmt.Errorf("query %q: %w", q, err)}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var e struct {
		ErrorType string `json:"errorType"`
	}
	_ = json.Unmarshal(raw, &e)
	return answer{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), errorType: e.ErrorType, took: time.Since(start)}
}

// metric reads one sample of /metrics: name with the given label pairs
// (none: the first sample of the family); -1 when absent.
func metric(t *testing.T, s *promtest.Server, name string, lbls ...string) float64 {
	t.Helper()
	resp, err := fairClient.Get(s.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	mf, ok := families[name]
	if !ok {
		return -1
	}
next:
	for _, m := range mf.GetMetric() {
		for i := 0; i+1 < len(lbls); i += 2 {
			found := false
			for _, lp := range m.GetLabel() {
				if lp.GetName() == lbls[i] && lp.GetValue() == lbls[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		}
	}
	return -1
}

// waitMetric polls /metrics until name has value want, for at most 10 s.
func waitMetric(t *testing.T, s *promtest.Server, want float64, name string, lbls ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := metric(t, s, name, lbls...)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s%v = %v after 10s, want %v", name, lbls, got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestOneCallerCannotStarveAnother: a credential that floods gets its share
// of the query slots (a quarter of --query.max-concurrency by default), a
// short queue behind them, and then a quick 429 with Retry-After in
// Prometheus' format; another credential's queries, on the embedded and on
// a remote data source, are not delayed meanwhile; /metrics shows it.
func TestOneCallerCannotStarveAnother(t *testing.T) {
	// 8 slots: by default a caller may run 2 at once and queue 4 more.
	s := promtest.Start(t, func(c *app.Config) { c.MaxConcurrency = 8 })
	qctx := ctx(t)
	backend := newSlowBackend(t)
	remote := addRemote(t, s, backend.URL)
	floodKey, floodToken := s.Credential(t, access.RoleViewer, access.ScopeRead, "")
	lightKey, lightToken := s.Credential(t, access.RoleViewer, access.ScopeRead, "")

	const flood = 6 // 2 running + 4 queued
	results := make(chan answer, flood)
	for range flood {
		go func() { results <- query(qctx, s, floodKey, floodToken, remote, "slow_metric") }()
	}
	for range 2 {
		select {
		case <-backend.arrived:
		case <-time.After(10 * time.Second):
			t.Fatal("the flooding credential's first queries never reached the backend")
		}
	}
	waitMetric(t, s, 4, "promgate_query_queued")
	select {
	case <-backend.arrived:
		t.Fatal("a third query of one caller reached the backend: no per-caller limit")
	case <-time.After(100 * time.Millisecond):
	}

	over := query(qctx, s, floodKey, floodToken, remote, "slow_metric")
	if over.status != http.StatusTooManyRequests || over.retryAfter == "" || over.errorType != "too_many_requests" {
		t.Fatalf("query over the caller's share: %+v, want 429 too_many_requests with Retry-After", over)
	}
	// "At once" with room for a busy machine; the queue timeout is 10 s.
	if over.took > 3*time.Second {
		t.Errorf("429 took %v, want it at once", over.took)
	}

	for _, c := range []struct {
		ds    int64
		query string
	}{{1, "vector(1)"}, {1, "up"}, {remote, "up"}} {
		a := query(qctx, s, lightKey, lightToken, c.ds, c.query)
		if a.status != http.StatusOK || a.took > 3*time.Second {
			t.Errorf("other credential's %q on data source %d while one floods: %d in %v, want 200 at once", c.query, c.ds, a.status, a.took)
		}
	}

	if got := metric(t, s, "promgate_query_inflight"); got != 2 {
		t.Errorf("promgate_query_inflight = %v, want 2 (the flooder's share)", got)
	}
	if got := metric(t, s, "promgate_query_rejected_total", "reason", "caller_queue_full"); got != 1 {
		t.Errorf(`promgate_query_rejected_total{reason="caller_queue_full"} = %v, want 1`, got)
	}

	backend.unblock()
	for range flood {
		if a := <-results; a.status != http.StatusOK {
			t.Errorf("a queued query after the backend answered: %+v, want 200", a)
		}
	}
	waitMetric(t, s, 0, "promgate_query_inflight")
	waitMetric(t, s, 0, "promgate_query_queued")
}
