package enforce

import (
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql/parser"
)

// dashboardQueries is a typical Grafana dashboard's worth of PromQL.
var dashboardQueries = []string{
	`up{job="api"}`,
	`sum by (job) (rate(http_requests_total{code=~"5.."}[5m]))`,
	`sum by (job) (rate(http_requests_total{code=~"5.."}[5m])) / sum by (job) (rate(http_requests_total[5m]))`,
	`histogram_quantile(0.99, sum by (le, service) (rate(http_request_duration_seconds_bucket{service=~"checkout|payments"}[5m])))`,
	`100 * (1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[5m])))`,
	`node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes * 100 < 10`,
	`topk(10, sum by (pod) (container_memory_working_set_bytes{namespace="prod", container!=""}))`,
	`increase(kube_pod_container_status_restarts_total[1h]) > 0`,
	`max_over_time(rate(process_cpu_seconds_total[1m])[1h:1m])`,
	`sum(rate(grpc_server_handled_total{grpc_code!="OK"}[5m])) by (grpc_service) or on() vector(0)`,
}

// BenchmarkRewriteQuery reports the cost per query of rewriting the
// dashboard set, as wall time (ns/query) and process CPU time
// (cpu-ns/query, robust to other load on the machine); the target is
// < 20µs per query.
func BenchmarkRewriteQuery(b *testing.B) {
	p := mustPolicy(b, `{asserts_env="prod", team=~"payments|risk"}`, parser.Options{})
	b.ReportAllocs()
	cpu0 := processCPU()
	for b.Loop() {
		for _, q := range dashboardQueries {
			if _, err := p.RewriteQuery(q); err != nil {
				b.Fatal(err)
			}
		}
	}
	reportPerQuery(b, cpu0)
}

// BenchmarkParseOnly is the floor: what parsing alone costs per query.
func BenchmarkParseOnly(b *testing.B) {
	pp := parser.NewParser(parser.Options{})
	b.ReportAllocs()
	cpu0 := processCPU()
	for b.Loop() {
		for _, q := range dashboardQueries {
			if _, err := pp.ParseExpr(q); err != nil {
				b.Fatal(err)
			}
		}
	}
	reportPerQuery(b, cpu0)
}

func reportPerQuery(b *testing.B, cpu0 time.Duration) {
	n := float64(b.N * len(dashboardQueries))
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/query")
	if cpu := processCPU() - cpu0; cpu > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/n, "cpu-ns/query")
	}
}
