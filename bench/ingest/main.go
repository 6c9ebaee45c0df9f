// Command ingest measures promgate's embedded store against Prometheus
// itself in the same run: remote_write ingestion throughput and instant
// query latency, over loopback, with the same data and the same queries.
//
//	go run ./bench/ingest --prometheus $(bash .ci/prometheus.sh >/dev/null; echo ~/.cache/promgate-ci/bin/prometheus)
//
// It prints each ratio (promgate / Prometheus): ingestion >= 0.9 and query
// latency <= 1.1 are the targets.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"

	"github.com/promgate/promgate/bench/internal/benchkit"
)

type target struct {
	name        string
	writeURL    string
	queryURL    string // .../api/v1/query
	user, token string
}

func main() { benchkit.Main("ingest", run) }

func run() error {
	promBin := flag.String("prometheus", os.Getenv("PROMGATE_TEST_PROMETHEUS_BIN"), "path to a prometheus binary")
	series := flag.Int("series", 10_000, "number of series")
	steps := flag.Int("steps", 60, "samples per series per round")
	writers := flag.Int("writers", 4, "concurrent remote_write senders")
	rounds := flag.Int("rounds", 3, "alternating rounds per target")
	queryRuns := flag.Int("query-runs", 200, "runs of each query per target")
	flag.Parse()
	if *promBin == "" {
		return errors.New("need --prometheus or PROMGATE_TEST_PROMETHEUS_BIN (see .ci/prometheus.sh)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	dir, promgateBin, cleanup, err := benchkit.Setup(ctx, "ingest")
	if err != nil {
		return err
	}
	defer cleanup()

	prom, stopProm, err := startPrometheus(ctx, *promBin, dir)
	if err != nil {
		return err
	}
	defer stopProm()
	pg, stopPG, err := startPromgate(ctx, promgateBin, dir)
	if err != nil {
		return err
	}
	defer stopPG()

	fmt.Printf("data: %d series x %d samples per round, %d writers, %d rounds per target\n", *series, *steps, *writers, *rounds)
	rates := map[string][]float64{}
	base := time.Now().Add(-time.Duration(*rounds**steps) * 15 * time.Second).Truncate(time.Second)
	for r := range *rounds {
		bodies, samples := encodeRound(*series, *steps, *writers, base.Add(time.Duration(r**steps)*15*time.Second))
		for _, t := range []target{prom, pg} { // same bodies, alternating order
			took, err := ingest(ctx, t, bodies)
			if err != nil {
				return fmt.Errorf("%s round %d: %w", t.name, r, err)
			}
			rates[t.name] = append(rates[t.name], float64(samples)/took.Seconds())
		}
	}
	pgRate, promRate := benchkit.Median(rates["promgate"]), benchkit.Median(rates["prometheus"])
	fmt.Printf("ingestion  prometheus %10.0f samples/s   promgate %10.0f samples/s   ratio %.2f (target >= 0.90)\n", promRate, pgRate, pgRate/promRate)

	queries := []string{
		`count(bench_metric)`,
		`sum by (job) (rate(bench_metric[5m]))`,
		`topk(5, bench_metric)`,
		`histogram_quantile(0.9, sum by (le) (rate(bench_metric[5m])))`,
		`bench_metric{instance="i-42"}`,
	}
	evalAt := base.Add(time.Duration(*rounds**steps-1) * 15 * time.Second)
	var ratios []float64
	for _, q := range queries {
		lat := map[string][]time.Duration{}
		for i := range *queryRuns {
			order := []target{prom, pg}
			if i%2 == 1 {
				order = []target{pg, prom}
			}
			for _, t := range order {
				d, err := query(ctx, t, q, evalAt)
				if err != nil {
					return fmt.Errorf("%s query %q: %w", t.name, q, err)
				}
				lat[t.name] = append(lat[t.name], d)
			}
		}
		p, g := benchkit.Median(lat["prometheus"]), benchkit.Median(lat["promgate"])
		ratio := float64(g) / float64(p)
		ratios = append(ratios, ratio)
		fmt.Printf("query %-62q prometheus %8s  promgate %8s  ratio %.2f\n", q, p.Round(time.Microsecond), g.Round(time.Microsecond), ratio)
	}
	fmt.Printf("query latency ratio, median over queries: %.2f (target <= 1.10)\n", benchkit.Median(ratios))
	return nil
}

// encodeRound builds remote_write 1.0 bodies: each writer owns a slice of
// the series and sends one body per timestamp, in time order.
func encodeRound(series, steps, writers int, start time.Time) ([][][]byte, int) {
	bodies := make([][][]byte, writers)
	per := series / writers
	for w := range writers {
		for s := range steps {
			ts := start.Add(time.Duration(s) * 15 * time.Second).UnixMilli()
			req := prompb.WriteRequest{}
			for i := w * per; i < (w+1)*per; i++ {
				req.Timeseries = append(req.Timeseries, prompb.TimeSeries{
					Labels: []prompb.Label{
						{Name: "__name__", Value: "bench_metric"},
						{Name: "instance", Value: "i-" + strconv.Itoa(i)},
						{Name: "job", Value: "job-" + strconv.Itoa(i%10)},
						{Name: "le", Value: strconv.Itoa(i % 8)},
					},
					Samples: []prompb.Sample{{Timestamp: ts, Value: float64(s * (i%7 + 1))}},
				})
			}
			raw, err := req.Marshal()
			if err != nil {
				panic(err) // marshalling our own message cannot fail
			}
			bodies[w] = append(bodies[w], snappy.Encode(nil, raw))
		}
	}
	return bodies, per * writers * steps
}

func ingest(ctx context.Context, t target, bodies [][][]byte) (time.Duration, error) {
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, len(bodies))
	for _, own := range bodies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, b := range own {
				if err := write(ctx, t, b); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return time.Since(start), <-errs
}

func write(ctx context.Context, t target, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.writeURL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("Content-Encoding", "snappy")
	req.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	if t.user != "" {
		req.SetBasicAuth(t.user, t.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("remote_write: HTTP %d: %s", resp.StatusCode, msg)
	}
	return nil
}

func query(ctx context.Context, t target, q string, at time.Time) (time.Duration, error) {
	form := url.Values{"query": {q}, "time": {strconv.FormatInt(at.Unix(), 10)}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.queryURL, bytes.NewBufferString(form.Encode()))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	// Both sides asked the same: Go's transport would ask for gzip, which
	// Prometheus honours and promgate (always identity) does not, so
	// Prometheus alone paid for compressing.
	req.Header.Set("Accept-Encoding", "identity")
	if t.user != "" {
		req.SetBasicAuth(t.user, t.token)
	}
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	took := time.Since(start)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("HTTP %d: %s", resp.StatusCode, body)
	}
	return took, nil
}

func startPrometheus(ctx context.Context, bin, dir string) (target, func(), error) {
	addr, err := benchkit.FreeAddr()
	if err != nil {
		return target{}, nil, err
	}
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte("global:\n  scrape_interval: 15s\n"), 0o600); err != nil {
		return target{}, nil, err
	}
	cmd := exec.CommandContext(ctx, bin, "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "prom-data"),
		"--web.listen-address="+addr, "--web.enable-remote-write-receiver", "--log.level=warn")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return target{}, nil, fmt.Errorf("start prometheus: %w", err)
	}
	stop := func() { _ = cmd.Process.Signal(os.Interrupt); _ = cmd.Wait() }
	if err := benchkit.WaitReady(ctx, "http://"+addr+"/-/ready", time.Minute); err != nil {
		stop()
		return target{}, nil, err
	}
	return target{name: "prometheus", writeURL: "http://" + addr + "/api/v1/write", queryURL: "http://" + addr + "/api/v1/query"}, stop, nil
}

func startPromgate(ctx context.Context, bin, dir string) (target, func(), error) {
	pg, err := benchkit.Start(ctx, bin, filepath.Join(dir, "promgate-data"))
	if err != nil {
		return target{}, nil, err
	}
	cred, err := pg.CreateCredential(ctx, "bench", "EDITOR", "read,write")
	if err != nil {
		pg.Stop()
		return target{}, nil, err
	}
	return target{name: "promgate", writeURL: pg.URL + "/api/v1/write",
		queryURL: pg.URL + "/api-server/v1/grafana/api/datasources/proxy/1/api/v1/query", user: cred.Key, token: cred.Token}, pg.Stop, nil
}
