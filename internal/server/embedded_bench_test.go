//go:build unix

package server_test

import (
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"github.com/promgate/promgate/internal/promtest"
	"github.com/promgate/promgate/internal/server"
)

// BenchmarkEmbeddedQuery is the embedded data source's path without the
// network: the server handler (no authentication) answering an instant
// query from the embedded store, one request after another. cpu-ns/op is
// the process's CPU time per request, steadier than wall time on a shared
// machine.
func BenchmarkEmbeddedQuery(b *testing.B) {
	s := promtest.Start(b)
	h := server.New(server.Options{Registry: s.App.Sources, Auth: fixedPrincipal{}})
	for _, q := range []string{"up", "vector(1)"} {
		b.Run(q, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, server.ProxyPrefix+"1/api/v1/query?query="+q, nil)
			b.ReportAllocs()
			cpu0 := processCPU()
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
			b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// processCPU is the CPU time (user+system) the process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
