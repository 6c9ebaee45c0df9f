package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/promgate/promgate/internal/testkit"
)

// TestServeQueryLimitFlags runs `promgate serve` with the query limit flags
// and checks they reach the server: a query over --query.max-samples fails
// with Prometheus' 422 execution error (JSON and CSV alike), one under it
// answers, and /metrics shows every limit.
func TestServeQueryLimitFlags(t *testing.T) {
	addr := testkit.FreeAddr(t)
	dir := t.TempDir()
	t.Setenv("PROMGATE_OWNER_PASSWORD", "")

	ctx := context.Background()
	srv := serveInTest(t, "--listen", addr, "--data-dir", dir,
		"--query.max-samples", "1000", "--query.max-concurrency", "12",
		"--query.max-concurrency-per-caller", "2", "--query.max-queued-per-caller", "1")
	client := &http.Client{Timeout: 30 * time.Second}
	srv.waitReady(t, client, "http://"+addr)
	var out bytes.Buffer
	if err := run(ctx, []string{"admin", "credential", "create", "--data-dir", dir, "--global", "--role", "VIEWER", "--name", "limits", "--output", "json"}, nil, &out, io.Discard); err != nil {
		t.Fatalf("admin credential create: %v", err)
	}
	var cred struct{ Key, Token string }
	if err := json.Unmarshal(out.Bytes(), &cred); err != nil {
		t.Fatalf("credential JSON %q: %v", out.String(), err)
	}
	get := func(path string) (int, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+path, nil)
		req.SetBasicAuth(cred.Key, cred.Token)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	base := "/api-server/v1/grafana/api/datasources/proxy/1/api/v1/query?query="
	tests := []struct {
		name, query, extra string
		status             int
		body               string
	}{
		// A subquery at 1s steps holds one sample per step.
		{"under the limit", "count_over_time(vector(1)[2m:1s])", "", 200, `"120"`},
		{"over the limit", "count_over_time(vector(1)[1h:1s])", "", 422, `"errorType":"execution","error":"query processing would load too many samples into memory`},
		{"over the limit as CSV", "count_over_time(vector(1)[1h:1s])", "&format=csv", 422, `"errorType":"execution"`},
	}
	for _, tt := range tests {
		status, body := get(base + url.QueryEscape(tt.query) + "&time=1700000000" + tt.extra)
		if status != tt.status || !strings.Contains(body, tt.body) {
			t.Errorf("%s: %d %s, want %d with %s", tt.name, status, body, tt.status, tt.body)
		}
	}

	_, metrics := get("/metrics")
	for _, want := range []string{
		"promgate_query_max_samples 1000",
		`promgate_query_concurrency_limit{scope="total"} 12`,
		`promgate_query_concurrency_limit{scope="caller"} 2`,
		"prometheus_engine_queries_concurrent_max 12",
		"promgate_query_inflight ",
		"promgate_query_queued 0",
		`promgate_query_rejected_total{reason="caller_queue_full"} 0`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	srv.stop(t)
}
