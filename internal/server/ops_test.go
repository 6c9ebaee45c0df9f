package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/promgate/promgate/internal/access"
	"github.com/promgate/promgate/internal/app"
	"github.com/promgate/promgate/internal/promtest"
	"github.com/promgate/promgate/internal/server"
)

// TestAuditLogEndpoint: the security events the server records are readable
// by an OWNER and by nobody else.
func TestAuditLogEndpoint(t *testing.T) {
	s := promtest.Start(t)
	viewerKey, viewerToken := s.Credential(t, access.RoleViewer, access.ScopeRead, "")
	// A failed login attempt is a security event too.
	req, _ := http.NewRequestWithContext(ctx(t), "GET", s.BaseURL+"/api/v1/query?query=up", nil)
	req.SetBasicAuth(viewerKey, "pgt_wrong")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}

	code, b := doAuth(t, s.Key, s.Token, "GET", s.URL+"/api-server/v1/audit?limit=50")
	if code != 200 || !strings.Contains(string(b.Data), "credential.create") {
		t.Fatalf("owner audit: %d %s", code, b.Data)
	}
	if strings.Contains(string(b.Data), viewerToken) || strings.Contains(string(b.Data), s.Token) {
		t.Fatal("audit log holds a token")
	}
	if code, _ := doAuth(t, viewerKey, viewerToken, "GET", s.URL+"/api-server/v1/audit"); code != http.StatusForbidden {
		t.Fatalf("viewer audit: %d, want 403", code)
	}
	if code, _ := doAuth(t, s.Key, s.Token, "GET", s.URL+"/api-server/v1/audit?limit=-1"); code != http.StatusBadRequest {
		t.Fatalf("bad limit: %d, want 400", code)
	}
}

// TestRateLimitPerCredential: past its burst a credential gets 429 with
// Retry-After, while another credential is unaffected.
func TestRateLimitPerCredential(t *testing.T) {
	s := promtest.Start(t, func(c *app.Config) { c.RatePerCredential = 1 })
	other, otherToken := s.Credential(t, access.RoleViewer, access.ScopeRead, "")
	u := s.URL + server.ProxyPrefix + "1/api/v1/query?query=up"
	var limited bool
	for range 5 { // burst is 2 at 1 request/s
		req, _ := http.NewRequestWithContext(ctx(t), "GET", u, nil)
		req.SetBasicAuth(s.Key, s.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests {
			limited = resp.Header.Get("Retry-After") != ""
			break
		}
	}
	if !limited {
		t.Fatal("no 429 with Retry-After after 5 quick requests at 1/s")
	}
	if code, _ := doAuth(t, other, otherToken, "GET", u); code != http.StatusOK {
		t.Fatalf("other credential: %d, want 200", code)
	}
}
