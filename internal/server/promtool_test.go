package server_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/promgate/promgate/internal/promtest"
	"github.com/promgate/promgate/internal/server"
	"github.com/promgate/promgate/internal/testpeer"
)

// promtoolBin returns Prometheus' promtool given by PROMGATE_TEST_PROMTOOL_BIN
// (.ci/prometheus.sh builds it). Without it the test fails under CI and
// skips locally.
func promtoolBin(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("PROMGATE_TEST_PROMTOOL_BIN")
	if bin == "" {
		testpeer.Missing(t, testpeer.Promtool, `PROMGATE_TEST_PROMTOOL_BIN is not set; build it with: eval "$(bash .ci/prometheus.sh)"`)
	}
	return bin
}

// TestPromtoolQuery: the proxy base URL works as a server URL for
// `promtool query`, with basic auth from promtool's --http.config.file.
func TestPromtoolQuery(t *testing.T) {
	bin := promtoolBin(t)
	s := promtest.Start(t)
	cfg := filepath.Join(t.TempDir(), "http.yml")
	body := "basic_auth:\n  username: " + s.Key + "\n  password: " + s.Token + "\n"
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	base := s.URL + server.ProxyPrefix + "1"
	now := time.Now()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"instant", []string{"query", "instant", "--http.config.file=" + cfg, base, `up{job="promgate"}`}, `up{instance=`},
		{"range", []string{"query", "range", "--http.config.file=" + cfg, "--start=" + now.Add(-time.Minute).Format(time.RFC3339), "--end=" + now.Add(time.Minute).Format(time.RFC3339), "--step=15s", base, `up`}, "=>"},
		{"series", []string{"query", "series", "--http.config.file=" + cfg, "--match=up", base}, `job="promgate"`},
		{"labels", []string{"query", "labels", "--http.config.file=" + cfg, base, "job"}, "promgate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, bin, tt.args...).CombinedOutput()
			if err != nil || !strings.Contains(string(out), tt.want) {
				t.Fatalf("promtool %s: %v\n%s", strings.Join(tt.args[:2], " "), err, out)
			}
		})
	}
	// Without credentials promtool gets the 401.
	out, err := exec.Command(bin, "query", "instant", base, "up").CombinedOutput()
	if err == nil || !strings.Contains(strings.ToLower(string(out)), "401") && !strings.Contains(strings.ToLower(string(out)), "unauthorized") {
		t.Fatalf("promtool without credentials: %v\n%s", err, out)
	}
}
