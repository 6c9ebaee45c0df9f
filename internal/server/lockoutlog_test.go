package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/promgate/promgate/internal/access"
	"github.com/promgate/promgate/internal/promtest"
)

// TestEveryLockoutIsLogged: the log limiter keeps one line per message per
// interval, so one attacker tripping the failure limit on a key every few
// seconds hid every other key's and address's lockout from the log. Each
// key (and client) that starts a refusal gets its own line.
func TestEveryLockoutIsLogged(t *testing.T) {
	s := promtest.Start(t)
	keys := []string{}
	for range 3 {
		k, _ := s.Credential(t, access.RoleViewer, access.ScopeRead, "")
		keys = append(keys, k)
	}
	// A well-formed token that belongs to another credential.
	_, wrongToken := s.Credential(t, access.RoleViewer, access.ScopeRead, "")
	for _, k := range keys {
		for range 15 {
			req, _ := http.NewRequestWithContext(ctx(t), "GET", s.URL+"/api-server/v1/grafana/api/datasources/proxy/1/api/v1/query?query=up", nil)
			req.SetBasicAuth(k, wrongToken)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}
	}
	logs := s.Logs()
	for _, k := range keys {
		found := false
		for line := range strings.SplitSeq(logs, "\n") {
			if strings.Contains(line, "further failing attempts refused") && strings.Contains(line, k) {
				found = true
			}
		}
		if !found {
			t.Errorf("no lockout line names key %s; log:\n%s", k, grepLines(logs, "further failing"))
		}
	}
}

func grepLines(s, sub string) string {
	var out []string
	for line := range strings.SplitSeq(s, "\n") {
		if strings.Contains(line, sub) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
