// Command dashboard measures the query cache the way dashboards use it: 12
// range-query panels over the last 6 hours at a 30 s step, refreshed 20
// times 30 s apart, straight to a real Prometheus and through promgate (a
// remote data source with the query cache on), in the same run, against
// the same data, which grows by remote_write between refreshes as a
// scraping Prometheus would.
//
//	eval "$(bash .ci/prometheus.sh)"
//	go run ./bench/dashboard
//
// It prints the median panel latency after the first refresh (target:
// through promgate <= 1/3 of direct), Prometheus' CPU per refresh from
// /proc (target: <= 1/5 of direct) and checks that every answer through
// promgate equals the direct one (same series, same values).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/promgate/promgate/bench/internal/benchkit"
	"github.com/promgate/promgate/internal/datasource/dstest"
)

// panels are the dashboard's queries: rates, breakdowns, quantiles, ratios
// and gauges over request, latency and memory series.
var panels = []string{
	`sum(rate(http_requests_total[5m]))`,
	`sum by (code) (rate(http_requests_total[5m]))`,
	`sum by (handler) (rate(http_requests_total[5m]))`,
	`topk(5, sum by (instance) (rate(http_requests_total[5m])))`,
	`histogram_quantile(0.99, sum by (le) (rate(request_duration_seconds_bucket[5m])))`,
	`histogram_quantile(0.5, sum by (le, instance) (rate(request_duration_seconds_bucket[5m])))`,
	`sum(rate(http_requests_total{code="500"}[5m])) / sum(rate(http_requests_total[5m]))`,
	`sum(avg_over_time(process_memory_bytes[10m]))`,
	`max by (instance) (process_memory_bytes)`,
	`count by (handler) (http_requests_total)`,
	`sum(increase(http_requests_total[1h]))`,
	`quantile(0.9, rate(http_requests_total[5m]))`,
}

const scrape = 15 * time.Second

type config struct {
	promBin   string
	refreshes int
	interval  time.Duration
	instances int
}

func main() { benchkit.Main("dashboard", run) }

func run() error {
	var c config
	flag.StringVar(&c.promBin, "prometheus", os.Getenv(dstest.EnvBin), "path to a prometheus binary (see .ci/prometheus.sh)")
	flag.IntVar(&c.refreshes, "refreshes", 20, "dashboard refreshes")
	flag.DurationVar(&c.interval, "interval", 30*time.Second, "time between refreshes (real time: the cache's freshness window follows the clock)")
	flag.IntVar(&c.instances, "instances", 100, "instances; each has 20 request counters, 10 latency buckets (half of them) and a memory gauge")
	flag.Parse()
	if c.promBin == "" {
		return errors.New("need --prometheus or " + dstest.EnvBin + " (see .ci/prometheus.sh)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(c.refreshes+10)*max(c.interval, time.Minute))
	defer cancel()
	dir, bin, cleanup, err := benchkit.Setup(ctx, "dashboard")
	if err != nil {
		return err
	}
	defer cleanup()
	prom, err := dstest.StartPrometheus(ctx, c.promBin, filepath.Join(dir, "prom"))
	if err != nil {
		return err
	}
	defer prom.Stop()

	// History: 7 hours up to now, written oldest first (Prometheus takes
	// nothing older than an hour behind its newest sample).
	now := time.Now().Truncate(scrape)
	gen := &generator{instances: c.instances}
	loadStart := time.Now()
	var nSeries, nSamples int
	for from := now.Add(-7 * time.Hour); from.Before(now); from = from.Add(30 * time.Minute) {
		to := from.Add(30 * time.Minute)
		if to.After(now) {
			to = now.Add(scrape)
		}
		batch := gen.samples(from, to)
		nSeries = len(batch)
		nSamples += len(batch) * len(batch[0].Timestamps)
		if err := dstest.RemoteWrite(ctx, prom.URL+"/api/v1/write", "", "", batch); err != nil {
			return err
		}
	}
	written := now.Add(scrape)
	fmt.Printf("data: %d series, %d samples over 7h at %s, written in %s\n", nSeries, nSamples, scrape, time.Since(loadStart).Round(time.Millisecond))

	// One credential asks for every panel at once: its share of query
	// slots is the dashboard's width.
	pg, err := benchkit.Start(ctx, bin, filepath.Join(dir, "promgate-data"), "--query.max-concurrency-per-caller", strconv.Itoa(len(panels)))
	if err != nil {
		return err
	}
	defer pg.Stop()
	cred, err := pg.CreateCredential(ctx, "bench", "VIEWER", "read")
	if err != nil {
		return err
	}
	out, err := exec.CommandContext(ctx, bin, "admin", "datasource", "add", "--data-dir", pg.DataDir, "--name", "prometheus",
		"--url", prom.URL, "--env", "bench", "--output", "json").Output()
	if err != nil {
		return fmt.Errorf("admin datasource add: %w", err)
	}
	var ds struct{ ID int64 }
	if err := json.Unmarshal(out, &ds); err != nil {
		return fmt.Errorf("datasource add output %q: %w", out, err)
	}
	time.Sleep(1100 * time.Millisecond) // the server notices the new data source
	direct := target{name: "direct", base: prom.URL}
	through := target{name: "promgate", base: fmt.Sprintf("%s/api-server/v1/grafana/api/datasources/proxy/%d", pg.URL, ds.ID), user: cred.Key, password: cred.Token}

	fmt.Printf("dashboard: %d panels, last 6h at a 30s step, %d refreshes %s apart; panels of a refresh run at once, direct and through promgate in turn\n",
		len(panels), c.refreshes, c.interval)
	var lat = map[string][]time.Duration{}
	var first = map[string][]time.Duration{}
	var cpu = map[string][]time.Duration{}
	var pgCPU []time.Duration
	var cacheHeaders []string
	next := time.Now()
	for r := range c.refreshes {
		if wait := time.Until(next); wait > 0 {
			time.Sleep(wait)
		}
		next = next.Add(c.interval)
		// New samples up to now, as scrapes would have brought them; not
		// while panels run, so the CPU counted is the queries'.
		if t := time.Now().Truncate(scrape); t.After(written) {
			if err := dstest.RemoteWrite(ctx, prom.URL+"/api/v1/write", "", "", gen.samples(written, t.Add(scrape))); err != nil {
				return err
			}
			written = t.Add(scrape)
		}
		end := time.Now().Truncate(30 * time.Second) // Grafana's step alignment
		start := end.Add(-6 * time.Hour)
		order := []target{direct, through}
		if r%2 == 1 {
			order = []target{through, direct}
		}
		answers := map[string][][]byte{}
		for _, t := range order {
			before := benchkit.CPU(prom.Pid())
			pgBefore := benchkit.CPU(pg.Cmd.Process.Pid)
			res, err := refresh(ctx, t, start, end)
			if err != nil {
				return fmt.Errorf("refresh %d %s: %w", r, t.name, err)
			}
			cpu[t.name] = append(cpu[t.name], benchkit.CPU(prom.Pid())-before)
			if t.name == "promgate" {
				pgCPU = append(pgCPU, benchkit.CPU(pg.Cmd.Process.Pid)-pgBefore)
				cacheHeaders = append(cacheHeaders, res[0].cache)
			}
			for _, p := range res {
				if r == 0 {
					first[t.name] = append(first[t.name], p.took)
				} else {
					lat[t.name] = append(lat[t.name], p.took)
				}
				answers[t.name] = append(answers[t.name], p.body)
			}
		}
		for i := range panels {
			if err := sameAnswer(answers["direct"][i], answers["promgate"][i]); err != nil {
				return fmt.Errorf("refresh %d panel %q: %w", r, panels[i], err)
			}
		}
	}
	fmt.Printf("answers: all %d panel answers through promgate equal the direct ones (same series, same values)\n", len(panels)*c.refreshes)
	fmt.Printf("cache header of panel 1 by refresh: %s\n", strings.Join(cacheHeaders, ", "))
	d1, p1 := pct(first["direct"], 50), pct(first["promgate"], 50)
	fmt.Printf("first refresh   p50 panel latency: direct %8s  promgate %8s  ratio %.2f\n", round(d1), round(p1), float64(p1)/float64(d1))
	if c.refreshes > 1 {
		d, p := pct(lat["direct"], 50), pct(lat["promgate"], 50)
		fmt.Printf("later refreshes p50 panel latency: direct %8s  promgate %8s  ratio %.2f (target <= 0.33)\n", round(d), round(p), float64(p)/float64(d))
		d90, p90 := pct(lat["direct"], 90), pct(lat["promgate"], 90)
		fmt.Printf("later refreshes p90 panel latency: direct %8s  promgate %8s  ratio %.2f\n", round(d90), round(p90), float64(p90)/float64(d90))
		dc, pc := sum(cpu["direct"][1:])/time.Duration(c.refreshes-1), sum(cpu["promgate"][1:])/time.Duration(c.refreshes-1)
		fmt.Printf("later refreshes Prometheus CPU per refresh: direct %8s  through promgate %8s  ratio %.2f (target <= 0.20)\n", round(dc), round(pc), float64(pc)/float64(dc))
		fmt.Printf("later refreshes promgate CPU per refresh: %s\n", round(sum(pgCPU[1:])/time.Duration(c.refreshes-1)))
	}
	fmt.Printf("first refresh Prometheus CPU: direct %s, through promgate %s; promgate CPU %s\n", round(cpu["direct"][0]), round(cpu["promgate"][0]), round(pgCPU[0]))
	return nil
}

// generator makes the series: per instance 20 request counters (10
// handlers x 2 codes), a memory gauge, and for half the instances a
// latency histogram of 10 buckets.
type generator struct{ instances int }

func (g *generator) samples(from, to time.Time) []dstest.Series {
	var out []dstest.Series
	add := func(lbls map[string]string, val func(step int64) float64) {
		s := dstest.Series{Labels: lbls}
		for t := from; t.Before(to); t = t.Add(scrape) {
			s.Timestamps = append(s.Timestamps, t.UnixMilli())
			s.Values = append(s.Values, val(t.UnixMilli()/scrape.Milliseconds()))
		}
		out = append(out, s)
	}
	for i := range g.instances {
		inst := fmt.Sprintf("10.0.%d.%d:9100", i/250, i%250)
		for h := range 10 {
			for _, code := range []string{"200", "500"} {
				k := float64(1 + (i*7+h*3)%11)
				if code == "500" {
					k /= 20
				}
				add(map[string]string{"__name__": "http_requests_total", "instance": inst, "handler": fmt.Sprintf("/api/v%d", h), "code": code},
					func(step int64) float64 { return float64(step%100000) * k })
			}
		}
		add(map[string]string{"__name__": "process_memory_bytes", "instance": inst},
			func(step int64) float64 { return float64(1<<28 + (step*int64(i+1)*7919)%(1<<24)) })
		if i%2 == 0 {
			for b, le := range []string{"0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf"} {
				add(map[string]string{"__name__": "request_duration_seconds_bucket", "instance": inst, "le": le},
					func(step int64) float64 { return float64(step%100000) * float64(b+1) * float64(1+i%5) })
			}
		}
	}
	return out
}

type target struct {
	name, base     string
	user, password string
}

type panelResult struct {
	took  time.Duration
	body  []byte
	cache string
}

var client = &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}

// refresh runs every panel at once, as a dashboard does, and returns them
// in panel order.
func refresh(ctx context.Context, t target, start, end time.Time) ([]panelResult, error) {
	out := make([]panelResult, len(panels))
	errs := make([]error, len(panels))
	var wg sync.WaitGroup
	for i, q := range panels {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i], errs[i] = ask(ctx, t, q, start, end)
		}()
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

func ask(ctx context.Context, t target, q string, start, end time.Time) (panelResult, error) {
	form := url.Values{"query": {q}, "start": {strconv.FormatInt(start.Unix(), 10)}, "end": {strconv.FormatInt(end.Unix(), 10)}, "step": {"30"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.base+"/api/v1/query_range", strings.NewReader(form.Encode()))
	if err != nil {
		return panelResult{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	// The same on both sides: promgate answers identity, so Prometheus
	// must not be made to compress.
	req.Header.Set("Accept-Encoding", "identity")
	if t.user != "" {
		req.SetBasicAuth(t.user, t.password)
	}
	began := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return panelResult{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	took := time.Since(began)
	if err != nil {
		return panelResult{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return panelResult{}, fmt.Errorf("%q: HTTP %d: %.300s", q, resp.StatusCode, body)
	}
	return panelResult{took: took, body: body, cache: resp.Header.Get("X-Promgate-Cache")}, nil
}

// sameAnswer compares two answers' results: the same series in the same
// order with the same values (as text).
func sameAnswer(want, got []byte) error {
	var w, g struct {
		Status string `json:"status"`
		Data   struct {
			ResultType string `json:"resultType"`
			Result     any    `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(want, &w); err != nil {
		return fmt.Errorf("direct answer: %w", err)
	}
	if err := json.Unmarshal(got, &g); err != nil {
		return fmt.Errorf("promgate answer: %w", err)
	}
	if w.Status != "success" || !reflect.DeepEqual(w, g) {
		return fmt.Errorf("answers differ:\ndirect:   %.600s\npromgate: %.600s", want, got)
	}
	if res, _ := w.Data.Result.([]any); len(res) == 0 {
		return fmt.Errorf("empty result: %.300s", want)
	}
	return nil
}

func pct(xs []time.Duration, p int) time.Duration {
	s := slices.Sorted(slices.Values(xs))
	return s[min(len(s)-1, len(s)*p/100)]
}

func sum(xs []time.Duration) time.Duration {
	var t time.Duration
	for _, x := range xs {
		t += x
	}
	return t
}

func round(d time.Duration) time.Duration {
	if d >= 10*time.Millisecond {
		return d.Round(100 * time.Microsecond)
	}
	return d.Round(10 * time.Microsecond)
}
