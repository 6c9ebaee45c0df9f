package enforce

import (
	"errors"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
)

// fuzzSeeds is a varied corpus of valid (and a few invalid) PromQL.
var fuzzSeeds = []string{
	`up`,
	`up{job="api",instance=~"a.*"}`,
	`{__name__=~".+"}`,
	`{__name__=~".*",job!=""}`,
	`{"my.metric", "my.label"="x"}`,
	`{"asserts_env"="dev", __name__="up"}`,
	`sum by ("my.label", job) (rate(http_requests_total{code=~"5.."}[5m]))`,
	`histogram_quantile(0.99, sum without (instance) (rate(h_bucket[5m])))`,
	`histogram_quantile(0.5, rate(native_hist[1m]))`,
	`up or {asserts_env="dev"}`,
	`up unless on() down`,
	`a * on(instance) group_left(x, y) b`,
	`a / ignoring(code) group_right b`,
	`a == bool on() b`,
	`a and b or c unless d`,
	`count by (asserts_env) ({__name__=~".+"})`,
	`count_values("value", up)`,
	`topk(3, sum by (job) (up))`,
	`topk(scalar(count(secret)), up)`,
	`quantile(0.9, up)`,
	`limitk(2, up)`,
	`limit_ratio(0.5, up)`,
	`stddev(up) > 0`,
	`max_over_time(rate(x[1m])[30m:1m])`,
	`sum_over_time({__name__=~".+"}[1h:5m] offset 1h)`,
	`max_over_time(up[10m:] @ end())`,
	`up @ end()`,
	`up @ start() offset -5m`,
	`up @ 1700000000.123 offset 1h30m`,
	`rate(up[5m] @ start() offset 1m)`,
	`rate(x[5m] anchored)`,
	`increase(x[5m] smoothed)`,
	`up offset step()`,
	`rate(x[step()*5])`,
	`rate(x[1m+30s])`,
	`x offset (1m + 30s)`,
	`max_over_time(x[range():step()])`,
	`absent(up{asserts_env="dev"})`,
	`absent_over_time(nope{a="b",a="c"}[1h])`,
	`label_replace(up, "asserts_env", "dev", "", "")`,
	`label_join(up, "asserts_env", ",", "job", "instance")`,
	`vector(1)`,
	`scalar(up) + time()`,
	`-1.5e3 + 0x1F * -Inf`,
	`NaN`,
	`"a string"`,
	`sort_desc(timestamp(up))`,
	`sort_by_label(up, "job")`,
	`info(up)`,
	`info(rate(x[5m]), {__name__="build_info", version=~".+"})`,
	`double_exponential_smoothing(x[5m], 0.5, 0.1)`,
	`predict_linear(x[1h], 3600)`,
	`clamp(x, 0, 1) ^ 2 % 3 atan2 y`,
	`1 < bool 2`,
	`(((up)))`,
	`-(-up)`,
	`x fill(0) + y`,
	`x + fill_left(1) fill_right(2) y`,
	`start() + end()`,
	`day_of_week(vector(time()))`,
	`up{job=~"a|b", job!~"c", instance!="", zone=""}`,
	`{job="a\"b\\c\n"}`,
	`up{"job"='x'}`,
	"up{job=`raw`}",
	`# comment` + "\n" + `up`,
	`up{`,
	`sum(`,
	`{}`,
	`rate(x[5m:1m:1m])`,
	`foo @ 1 @ 2`,
}

func FuzzRewriteQuery(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	policies := []*Policy{
		mustPolicy(f, `{asserts_env="prod", "my.label"=~"a|b"}`, parser.Options{}),
		// A policy on __name__ with every parser feature on exercises the
		// name-clearing path and the experimental syntax.
		mustPolicy(f, `{__name__=~"x.*", env="prod", team!~"r.*"}`, parser.Options{
			EnableExperimentalFunctions: true,
			EnableBinopFillModifiers:    true,
			EnableUnquotedUTF8Names:     true,
		}),
	}
	f.Fuzz(func(t *testing.T, q string) {
		for _, p := range policies {
			fuzzOne(t, p, q)
		}
	})
}

func fuzzOne(t *testing.T, p *Policy, q string) {
	orig, origErr := parser.NewParser(p.ParserOptions()).ParseExpr(q)
	got, err := p.RewriteQuery(q)
	if origErr != nil {
		var pe *ParseError
		if err == nil || !errors.As(err, &pe) {
			t.Fatalf("RewriteQuery(%q) = %q, %v; want *ParseError (parser says %v)", q, got, err, origErr)
		}
		return
	}
	if err != nil {
		if errors.Is(err, ErrRefused) && hasCall(orig, "info") {
			return
		}
		t.Fatalf("RewriteQuery(%q) failed on valid input: %v", q, err)
	}
	if err := checkConfined(p, got); err != nil {
		t.Fatalf("RewriteQuery(%q) = %q: %v", q, got, err)
	}
	// The rewrite adds matchers; it must not add or lose selectors.
	again, _ := parser.NewParser(p.ParserOptions()).ParseExpr(got)
	if a, b := countSelectors(orig), countSelectors(again); a != b {
		t.Fatalf("RewriteQuery(%q) = %q: %d selectors, want %d", q, got, b, a)
	}
}

func hasCall(e parser.Expr, name string) bool {
	found := false
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if c, ok := n.(*parser.Call); ok && c.Func.Name == name {
			found = true
		}
		return nil
	})
	return found
}

func countSelectors(e parser.Expr) int {
	n := 0
	parser.Inspect(e, func(node parser.Node, _ []parser.Node) error {
		if _, ok := node.(*parser.VectorSelector); ok {
			n++
		}
		return nil
	})
	return n
}
