package app_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/promgate/promgate/internal/access"
	"github.com/promgate/promgate/internal/app"
	"github.com/promgate/promgate/internal/promtest"
	"github.com/promgate/promgate/internal/store/storetest"
)

// The PostgreSQL cluster this test stops and starts: its own, never the
// shared one on 55432 that other tests use.
const (
	outagePort = "55433"
	outageDir  = "/var/tmp/promgate-outage-test"
)

// outageCluster starts (or reuses) the test's own PostgreSQL cluster and
// returns its URL and functions that stop and start it. Without
// PostgreSQL it skips, or fails under CI=true.
func outageCluster(t *testing.T) (url string, stop, start func()) {
	t.Helper()
	script, err := filepath.Abs("../../.ci/postgres.sh")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	running := false
	runScript := func(arg string) (string, error) {
		cmd := exec.Command("bash", script, arg)
		cmd.Env = append(os.Environ(), "PROMGATE_PG_PORT="+outagePort, "PROMGATE_PG_DIR="+outageDir)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Run(); err != nil {
			return "", &scriptError{arg: arg, err: err, stderr: errOut.String()}
		}
		return out.String(), nil
	}
	out, err := runScript("start")
	if err != nil {
		msg := "cannot start a PostgreSQL of this test's own on port " + outagePort + ": " + err.Error()
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg + " (skipped outside CI)")
	}
	m := regexp.MustCompile(`PROMGATE_TEST_POSTGRES_URL='([^']+)'`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("postgres.sh printed no URL: %q", out)
	}
	running = true
	stop = func() {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		if _, err := runScript("stop"); err != nil {
			t.Fatal(err)
		}
		running = false
	}
	start = func() {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		if _, err := runScript("start"); err != nil {
			t.Fatal(err)
		}
		running = true
	}
	// Runs last: the cluster is this test's alone.
	t.Cleanup(func() { _, _ = runScript("stop") })
	url = storetest.SchemaURL(t, m[1])
	// Runs before the schema is dropped, should the test end mid-outage.
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		if !running {
			_, _ = runScript("start")
		}
	})
	return url, stop, start
}

type scriptError struct {
	arg, stderr string
	err         error
}

func (e *scriptError) Error() string {
	return "postgres.sh " + e.arg + ": " + e.err.Error() + ": " + strings.TrimSpace(e.stderr)
}

type answer struct {
	status     int
	retryAfter string
	errorType  string
	body       string
}

func do(t *testing.T, method, url, user, pass string, body string, header map[string]string) answer {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	c := http.Client{Timeout: 30 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var e struct {
		ErrorType string `json:"errorType"`
	}
	_ = json.Unmarshal(b, &e)
	return answer{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), errorType: e.ErrorType, body: string(b)}
}

// waitStatus polls url until it answers want, for at most d.
func waitStatus(t *testing.T, url string, want int, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		a := do(t, http.MethodGet, url, "", "", "", nil)
		if a.status == want {
			return time.Since(start)
		}
		if time.Since(start) > d {
			t.Fatalf("%s still answers %d %q after %v, want %d", url, a.status, a.body, d, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestPostgresOutage stops the real PostgreSQL under a running promgate:
// readiness goes 503 (health stays 200), every request that needs the store
// answers 503 with error type "unavailable" and Retry-After instead of 500,
// and when PostgreSQL is back everything works again without a restart.
func TestPostgresOutage(t *testing.T) {
	url, stopPG, startPG := outageCluster(t)
	s := promtest.Start(t, func(c *app.Config) { c.StoreURL = url })

	freshKey, freshToken := s.Credential(t, access.RoleViewer, access.ScopeRead, "")
	query := s.URL + "/api-server/v1/grafana/api/datasources/proxy/1/api/v1/query?query=up"
	if a := do(t, http.MethodGet, query, s.Key, s.Token, "", nil); a.status != http.StatusOK {
		t.Fatalf("before the outage: %d %s", a.status, a.body)
	}
	waitStatus(t, s.URL+"/-/ready", http.StatusOK, 10*time.Second)

	stopPG()
	took := waitStatus(t, s.URL+"/-/ready", http.StatusServiceUnavailable, 15*time.Second)
	t.Logf("/-/ready answered 503 %v after PostgreSQL stopped", took.Round(time.Millisecond))
	if a := do(t, http.MethodGet, s.URL+"/-/healthy", "", "", "", nil); a.status != http.StatusOK {
		t.Errorf("/-/healthy during the outage: %d %s", a.status, a.body)
	}
	// Past the credential cache's lifetime: every credential needs the store.
	time.Sleep(2100 * time.Millisecond)

	jsonCT := map[string]string{"Content-Type": "application/json"}
	needStore := []struct {
		name, method, path, user, pass, body string
		header                               map[string]string
	}{
		{"query", http.MethodGet, "/api-server/v1/grafana/api/datasources/proxy/1/api/v1/query?query=up", s.Key, s.Token, "", nil},
		{"never used credential", http.MethodGet, "/api-server/v1/grafana/api/datasources/proxy/1/api/v1/query?query=up", freshKey, freshToken, "", nil},
		{"remote_write", http.MethodPost, "/api/v1/write", s.Key, s.Token, "", map[string]string{"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy"}},
		{"data source list", http.MethodGet, "/api-server/v1/grafana/api/datasources", s.Key, s.Token, "", nil},
		{"me", http.MethodGet, "/api-server/v1/me", s.Key, s.Token, "", nil},
		{"login", http.MethodPost, "/api-server/v1/login", "", "", `{"login":"admin","password":"` + promtest.OwnerPassword + `"}`, jsonCT},
		{"create credential", http.MethodPost, "/api-server/v1/global-credentials", s.Key, s.Token, `{"name":"x","role":"VIEWER"}`, jsonCT},
		{"data sources API", http.MethodGet, "/api-server/v1/datasources", s.Key, s.Token, "", nil},
	}
	for _, tc := range needStore {
		a := do(t, tc.method, s.URL+tc.path, tc.user, tc.pass, tc.body, tc.header)
		n, err := strconv.Atoi(a.retryAfter)
		if a.status != http.StatusServiceUnavailable || a.errorType != "unavailable" || err != nil || n < 1 {
			t.Errorf("%s during the outage: %d Retry-After %q %s; want 503, errorType unavailable, Retry-After", tc.name, a.status, a.retryAfter, a.body)
		}
	}
	if a := do(t, http.MethodGet, query, "", "", "", nil); a.status != http.StatusUnauthorized {
		t.Errorf("no credentials during the outage: %d %s, want 401 (no store needed)", a.status, a.body)
	}

	startPG()
	took = waitStatus(t, s.URL+"/-/ready", http.StatusOK, 30*time.Second)
	t.Logf("/-/ready answered 200 %v after PostgreSQL started", took.Round(time.Millisecond))
	if a := do(t, http.MethodGet, query, s.Key, s.Token, "", nil); a.status != http.StatusOK {
		t.Errorf("query after the outage: %d %s", a.status, a.body)
	}
	if a := do(t, http.MethodPost, s.URL+"/api-server/v1/global-credentials", s.Key, s.Token, `{"name":"after","role":"VIEWER"}`, jsonCT); a.status/100 != 2 {
		t.Errorf("create credential after the outage: %d %s", a.status, a.body)
	}

	logs := s.Logs()
	if n := strings.Count(logs, "store unreachable"); n != 1 {
		t.Errorf("the outage was logged %d times as unreachable, want once:\n%s", n, logs)
	}
	if n := strings.Count(logs, "store reachable again"); n != 1 {
		t.Errorf("the recovery was logged %d times, want once", n)
	}
}
