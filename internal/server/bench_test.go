package server_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/promgate/promgate/internal/access"
	"github.com/promgate/promgate/internal/promtest"
	"github.com/promgate/promgate/internal/server"
)

// fixedPrincipal is the unauthenticated baseline: it lets every request in
// as an OWNER without looking at any header.
type fixedPrincipal struct{}

func (fixedPrincipal) Require(bool) func(http.Handler) http.Handler {
	p := &access.Principal{Kind: access.KindGlobalCredential, Role: access.RoleOwner, Scope: access.ScopeRead, CredentialID: 1}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r.WithContext(access.WithPrincipal(r.Context(), p)))
		})
	}
}

// BenchmarkAuthOverhead measures `up` through the full server with real
// key:token authentication against the same server without any, in the
// same run, 8 concurrent clients, and reports their throughput ratio
// (target >= 0.95).
func BenchmarkAuthOverhead(b *testing.B) {
	s := promtest.Start(b)
	open := httptest.NewServer(server.New(server.Options{Registry: s.App.Sources, Auth: fixedPrincipal{}}))
	defer open.Close()
	path := server.ProxyPrefix + "1/api/v1/query?query=up"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

	run := func(url string, auth bool, n int) time.Duration {
		const workers = 8
		var wg sync.WaitGroup
		start := time.Now()
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < n; i += workers {
					req, _ := http.NewRequest("GET", url+path, nil)
					if auth {
						req.SetBasicAuth(s.Key, s.Token)
					}
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						b.Errorf("status %d", resp.StatusCode)
						return
					}
				}
			}()
		}
		wg.Wait()
		return time.Since(start)
	}
	run(s.URL, true, 200) // warm the credential cache and connections
	run(open.URL, false, 200)
	b.ResetTimer()
	var authed, unauthed time.Duration
	for i := 0; i < 4; i++ { // alternate so drift hits both alike
		authed += run(s.URL, true, max(b.N/4, 100))
		unauthed += run(open.URL, false, max(b.N/4, 100))
	}
	b.ReportMetric(float64(unauthed)/float64(authed), "authed/unauthed-throughput")
	b.ReportMetric(float64(authed.Nanoseconds())/float64(4*max(b.N/4, 100)), "authed-ns/req")
	b.ReportMetric(float64(unauthed.Nanoseconds())/float64(4*max(b.N/4, 100)), "unauthed-ns/req")
}
