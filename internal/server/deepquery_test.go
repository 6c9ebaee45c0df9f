package server_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/promgate/promgate/internal/promtest"
)

// TestDeeplyNestedQueryRefusedQuickly: the PromQL parser's type checks cost
// the square of an expression's depth, and neither it nor the engine's parse
// honours a timeout, so a few KiB of "1+1+...+1" or "((((1))))" from any
// read credential kept a core busy for minutes. Such a query is refused
// before any parser sees it, at once, on every endpoint that parses PromQL;
// queries of ordinary depth still answer.
func TestDeeplyNestedQueryRefusedQuickly(t *testing.T) {
	s := promtest.Start(t)
	base := s.BaseURL + "/api/v1/"
	const n = 20000
	deep := map[string]string{
		"binary chain": strings.Repeat("1+", n) + "1",
		"parentheses":  strings.Repeat("(", n) + "1" + strings.Repeat(")", n),
		"aggregations": strings.Repeat("sum(", n) + "up" + strings.Repeat(")", n),
		"powers":       strings.Repeat("2^", n) + "1",
	}
	for name, q := range deep {
		for _, ep := range []struct {
			path  string
			extra url.Values
		}{
			{"query", nil},
			{"query", url.Values{"format": {"csv"}}},
			{"query_range", url.Values{"start": {"0"}, "end": {"60"}, "step": {"15"}}},
			{"query_exemplars", url.Values{"start": {"0"}, "end": {"60"}}},
			{"format_query", nil},
		} {
			t.Run(name+"/"+ep.path+ep.extra.Get("format"), func(t *testing.T) {
				form := url.Values{"query": {q}}
				for k, v := range ep.extra {
					form[k] = v
				}
				start := time.Now()
				code, b := do(t, "POST", base+ep.path, form)
				took := time.Since(start)
				if code != 400 || b.ErrorType != "bad_data" || !strings.Contains(b.Error, "nest") {
					t.Fatalf("got %d %+v after %v, want 400 bad_data naming the nesting", code, b, took)
				}
				if took > 2*time.Second {
					t.Fatalf("refused only after %v", took)
				}
			})
		}
	}
	ordinary := []string{
		strings.Repeat("vector(1)+", 200) + "vector(1)",
		strings.Repeat("(", 100) + "1" + strings.Repeat(")", 100),
		`sum by (job) (rate(up{job=~"a|b|(c+d)"}[5m])) / on(job) group_left() (1 - -count(up))`,
	}
	for _, q := range ordinary {
		code, b := do(t, "POST", base+"query", url.Values{"query": {q}})
		if code != 200 || b.Status != "success" {
			t.Fatalf("%.60s...: got %d %+v, want 200", q, code, b)
		}
	}
}
