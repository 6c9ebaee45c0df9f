package server_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/promgate/promgate/internal/access"
	"github.com/promgate/promgate/internal/app"
	"github.com/promgate/promgate/internal/promtest"
	"github.com/promgate/promgate/internal/server"
)

// TestCSVKeepsItsQuerySlotUntilTheQueryEnds: a caller that asks for CSV and
// hangs up must not get its query slot back while the embedded engine still
// runs the query; otherwise hanging up and asking again runs any number of
// queries at once past the per-caller share, and other callers wait in the
// engine's own queue. Every query the engine runs is one admission counts.
func TestCSVKeepsItsQuerySlotUntilTheQueryEnds(t *testing.T) {
	// 4 slots: a caller may run 1 at once.
	s := promtest.Start(t, func(c *app.Config) { c.MaxConcurrency = 4 })
	key, token := s.Credential(t, access.RoleViewer, access.ScopeRead, "")
	// About 3.5 M subquery steps: long enough to watch, and the engine does
	// not notice a cancel inside it.
	const heavy = "count_over_time(vector(1)[40d:1s])"
	u := fmt.Sprintf("%s%s1/api/v1/query?format=csv&query=%s", s.URL, server.ProxyPrefix, url.QueryEscape(heavy))

	for round := range 3 {
		qctx, cancel := context.WithCancel(ctx(t))
		req, err := http.NewRequestWithContext(qctx, "GET", u, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth(key, token)
		done := make(chan struct{})
		go func() {
			defer close(done)
			if resp, err := fairClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}()
		waitMetric(t, s, 1, "promgate_query_inflight")
		cancel() // the caller hangs up while its query runs
		<-done
		deadline := time.Now().Add(20 * time.Second)
		for {
			// Admission first: a slot given back after its query ended
			// then never reads as fewer than the engine's count.
			inflight := metric(t, s, "promgate_query_inflight")
			engine := metric(t, s, "prometheus_engine_queries")
			if engine < 0 {
				t.Fatal("prometheus_engine_queries missing from /metrics")
			}
			if engine > inflight {
				t.Fatalf("round %d: the engine runs %v queries while admission counts %v: the slot was given back before the query ended", round, engine, inflight)
			}
			if engine == 0 && inflight == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: query still running after 20 s (engine %v, inflight %v)", round, engine, inflight)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}
