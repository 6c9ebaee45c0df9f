package server_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"

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

// writer admits every request as a write-scoped EDITOR credential.
type writer struct{}

func (writer) Require(bool) func(http.Handler) http.Handler {
	p := &access.Principal{Kind: access.KindGlobalCredential, Role: access.RoleEditor, Scope: access.ScopeWrite, CredentialID: 1}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r.WithContext(access.WithPrincipal(r.Context(), p)))
		})
	}
}

// TestRemoteWriteBodyBounded: a body over MaxWriteBytes is refused before
// the receiver stores anything; one under it is written.
func TestRemoteWriteBodyBounded(t *testing.T) {
	s := promtest.Start(t)
	h := httptest.NewServer(server.New(server.Options{
		Registry: s.App.Sources, Auth: writer{}, Write: http.HandlerFunc(s.App.TSDB.ServeAPI), MaxWriteBytes: 4096,
	}))
	defer h.Close()
	body := func(series int) []byte {
		req := prompb.WriteRequest{}
		for i := range series {
			req.Timeseries = append(req.Timeseries, prompb.TimeSeries{
				Labels:  []prompb.Label{{Name: "__name__", Value: "bounded"}, {Name: "i", Value: strconv.Itoa(i * 7919)}},
				Samples: []prompb.Sample{{Timestamp: time.Now().UnixMilli(), Value: 1}},
			})
		}
		raw, _ := req.Marshal()
		return snappy.Encode(nil, raw)
	}
	post := func(b []byte) int {
		req, _ := http.NewRequestWithContext(ctx(t), "POST", h.URL+"/api/v1/write", bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/x-protobuf")
		req.Header.Set("Content-Encoding", "snappy")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	small, large := body(10), body(2000)
	if len(small) >= 4096 || len(large) <= 4096 {
		t.Fatalf("test bodies are %d and %d bytes", len(small), len(large))
	}
	if code := post(large); code < 400 || code >= 500 {
		t.Fatalf("large body: status %d, want a 4xx", code)
	}
	if code := post(small); code != http.StatusNoContent {
		t.Fatalf("small body: status %d, want 204", code)
	}
}
