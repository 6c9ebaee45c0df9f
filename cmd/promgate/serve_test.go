package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/promgate/promgate/internal/testkit"
)

// serving is one `promgate serve` a test runs in-process.
type serving struct {
	logs   *testkit.LogBuffer
	cancel context.CancelFunc
	ended  chan struct{}
	err    error // run's result, once ended is closed
}

// serveInTest runs `promgate serve args...` until stop (or the test's end).
func serveInTest(t *testing.T, args ...string) *serving {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &serving{logs: &testkit.LogBuffer{}, cancel: cancel, ended: make(chan struct{})}
	go func() {
		defer close(s.ended)
		s.err = run(ctx, append([]string{"serve"}, args...), nil, io.Discard, s.logs)
	}()
	t.Cleanup(cancel)
	return s
}

// waitReady waits up to 30 s until client sees /-/ready at baseURL answer 200.
func (s *serving) waitReady(t *testing.T, client *http.Client, baseURL string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Get(baseURL + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		select {
		case <-s.ended:
			t.Fatalf("serve ended before it was ready: %v\n%s", s.err, s.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready after 30s (last error %v); logs:\n%s", err, s.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop shuts serve down and checks that it returned nil within 30 s.
func (s *serving) stop(t *testing.T) {
	t.Helper()
	s.cancel()
	select {
	case <-s.ended:
		if s.err != nil {
			t.Errorf("serve returned %v\nlogs:\n%s", s.err, s.logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Error("serve did not shut down within 30s")
	}
}

// TestServeEndToEnd runs `promgate serve` as a user would, makes a
// credential with `promgate admin`, asks the reference's curl-shaped URL
// for `up`, and shuts down gracefully.
func TestServeEndToEnd(t *testing.T) {
	addr := testkit.FreeAddr(t)
	dir := t.TempDir()
	t.Setenv("PROMGATE_DATA_DIR", dir) // environment instead of a flag
	t.Setenv("PROMGATE_OWNER_PASSWORD", "")

	ctx := context.Background()
	srv := serveInTest(t, "--listen", addr)
	logs := srv.logs
	srv.waitReady(t, http.DefaultClient, "http://"+addr)
	pw, err := os.ReadFile(filepath.Join(dir, "initial-owner-password"))
	if err != nil || len(bytes.TrimSpace(pw)) < 12 {
		t.Fatalf("initial owner password file: %q, %v", pw, err)
	}
	if strings.Contains(logs.String(), strings.TrimSpace(string(pw))) {
		t.Fatal("the initial password was logged")
	}

	var out bytes.Buffer
	if err := run(ctx, []string{"admin", "credential", "create", "--global", "--role", "VIEWER", "--name", "curl", "--output", "json"}, nil, &out, io.Discard); err != nil {
		t.Fatalf("admin credential create: %v", err)
	}
	var cred struct{ Key, Token string }
	if err := json.Unmarshal(out.Bytes(), &cred); err != nil {
		t.Fatalf("credential JSON %q: %v", out.String(), err)
	}
	resp, err := http.Get("http://" + cred.Key + ":" + cred.Token + "@" + addr + "/api-server/v1/grafana/api/datasources/proxy/1/api/v1/query?query=up")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"job":"promgate"`) || !strings.Contains(string(body), `"1"]`) {
		t.Fatalf("up: %d %s", resp.StatusCode, body)
	}
	if strings.Contains(logs.String(), cred.Token) {
		t.Fatal("a token was logged")
	}

	srv.stop(t)
}

func TestServeFlagErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"bad log level", []string{"--log.level", "loud"}, nil, "log.level"},
		{"stray argument", []string{"now"}, nil, "no arguments"},
		{"bad env duration", nil, map[string]string{"PROMGATE_QUERY_TIMEOUT": "soon"}, "PROMGATE_QUERY_TIMEOUT"},
		{"missing config file", []string{"--config.file", "/nonexistent/promgate.yml"}, nil, "config file"},
		{"zero max samples", []string{"--query.max-samples", "0"}, nil, "query.max-samples"},
		{"negative per-caller share", []string{"--query.max-concurrency-per-caller", "-2"}, nil, "query.max-concurrency-per-caller"},
		{"negative queue", nil, map[string]string{"PROMGATE_QUERY_MAX_QUEUED_PER_CALLER": "-1"}, "query.max-queued-per-caller"},
		{"zero queue timeout", []string{"--query.queue-timeout", "0s"}, nil, "query.queue-timeout"},
		{"zero evaluation interval", []string{"--query.default-evaluation-interval", "0s"}, nil, "query.default-evaluation-interval"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			args := append([]string{"serve", "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0"}, tt.args...)
			err := run(context.Background(), args, nil, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) || exitCode(err) != 2 && tt.name != "missing config file" {
				t.Fatalf("err = %v (exit %d), want it to mention %q", err, exitCode(err), tt.want)
			}
		})
	}
}
