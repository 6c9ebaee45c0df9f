// Command fairness measures whether one credential flooding promgate with
// heavy queries delays another credential's light queries: the same
// promgate and data with per-caller query admission off
// (--query.max-concurrency-per-caller=-1) and on (the defaults), in the
// same run.
//
//	go run ./bench/fairness [--series 2000] [--flooders 30] [--duration 30s] [--rounds 1]
//
// It builds promgate, starts `promgate serve` on 127.0.0.1, makes a writer,
// a flooding and a light credential with `promgate admin credential
// create`, remote_writes --series series of one hour at 5 s into the
// embedded store, and times the heavy query alone. Then, per mode: the
// flooding credential runs --flooders concurrent loops of the heavy range
// query (429s are retried at once, as an abusive client would), and after
// a warm-up the light credential runs `vector(1)` and `up` one after the
// other for --duration, timing each. promgate is restarted on the same
// data for each mode.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/promgate/promgate/bench/internal/benchkit"
	"github.com/promgate/promgate/internal/datasource/dstest"
)

func main() { benchkit.Main("fairness", run) }

type config struct {
	series, flooders, lightClients, rounds int
	duration, warmup                       time.Duration
	heavy                                  string
}

func run() error {
	var c config
	flag.IntVar(&c.series, "series", 2000, "series written (one hour at 5 s each); more makes the heavy query slower")
	flag.IntVar(&c.flooders, "flooders", 30, "concurrent heavy-query loops of the flooding credential")
	flag.IntVar(&c.lightClients, "light-clients", 2, "concurrent light-query loops of the other credential")
	flag.IntVar(&c.rounds, "rounds", 1, "rounds; each measures both modes, alternating which goes first")
	flag.DurationVar(&c.duration, "duration", 30*time.Second, "light queries are timed for this long per mode")
	flag.DurationVar(&c.warmup, "warmup", 5*time.Second, "flooding before light queries are timed")
	flag.StringVar(&c.heavy, "heavy", `sum by (instance) (rate(bench_metric[5m]))`, "the flooding credential's range query (over the hour written, 15 s step)")
	flag.Parse()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Hour)
	defer cancel()
	dir, bin, cleanup, err := benchkit.Setup(ctx, "fairness")
	if err != nil {
		return err
	}
	defer cleanup()
	dataDir := filepath.Join(dir, "data")

	// Credentials and data, made once; each mode restarts on them.
	pg, err := startServer(ctx, bin, dataDir)
	if err != nil {
		return err
	}
	creds := map[string]benchkit.Credential{}
	for _, spec := range []struct{ name, role, scope string }{
		{"writer", "EDITOR", "write"}, {"flooder", "VIEWER", "read"}, {"light", "VIEWER", "read"},
	} {
		if creds[spec.name], err = pg.CreateCredential(ctx, spec.name, spec.role, spec.scope); err != nil {
			pg.Stop()
			return err
		}
	}
	end := time.Now().Truncate(time.Minute)
	start := end.Add(-time.Hour)
	if err := dstest.RemoteWrite(ctx, pg.URL+"/api/v1/write", creds["writer"].Key, creds["writer"].Token, seriesData(c.series, start, end)); err != nil {
		pg.Stop()
		return err
	}
	heavy := url.Values{"query": {c.heavy}, "start": {strconv.FormatInt(start.Unix(), 10)}, "end": {strconv.FormatInt(end.Unix(), 10)}, "step": {"15"}}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4 * c.flooders, DisableCompression: true}, Timeout: 5 * time.Minute}
	var solo []time.Duration
	for range 3 {
		t0 := time.Now()
		status, err := post(ctx, client, pg.URL, creds["flooder"], "query_range", heavy)
		if err != nil || status != http.StatusOK {
			pg.Stop()
			return fmt.Errorf("heavy query alone: %d %v", status, err)
		}
		solo = append(solo, time.Since(t0))
	}
	pg.Stop()
	fmt.Printf("%d series x 720 samples; heavy query alone (query_range %s, 240 steps): %v, %v, %v\n",
		c.series, c.heavy, solo[0].Round(time.Millisecond), solo[1].Round(time.Millisecond), solo[2].Round(time.Millisecond))
	fmt.Printf("%d flooding loops, %d light loops, %v warm-up, %v timed per mode; load average at start: %s\n",
		c.flooders, c.lightClients, c.warmup, c.duration, loadavg())

	modes := map[string][]string{"off": {"--query.max-concurrency-per-caller=-1"}, "on": nil}
	results := map[string]*result{"off": {}, "on": {}}
	for round := range c.rounds {
		order := []string{"off", "on"}
		if round%2 == 1 {
			slices.Reverse(order)
		}
		for _, mode := range order {
			pg, err := startServer(ctx, bin, dataDir, modes[mode]...)
			if err != nil {
				return err
			}
			err = measure(ctx, c, client, pg, creds, heavy, results[mode])
			if mode == "on" {
				results[mode].metrics = scrape(ctx, client, pg.URL)
			}
			pg.Stop()
			if err != nil {
				return err
			}
		}
	}

	fmt.Printf("\n%-5s %8s %9s %9s %9s %10s %10s %10s\n", "mode", "light n", "p50", "p99", "max", "light err", "heavy 200", "heavy 429")
	for _, mode := range []string{"off", "on"} {
		r := results[mode]
		fmt.Printf("%-5s %8d %9v %9v %9v %10d %10d %10d\n", mode, len(r.light), pct(r.light, 50), pct(r.light, 99), pct(r.light, 100),
			r.lightErrors.Load(), r.heavyOK.Load(), r.heavyRejected.Load())
	}
	on, off := results["on"], results["off"]
	if len(on.light) > 0 && len(off.light) > 0 {
		fmt.Printf("\nlight p99 off/on: %.1fx; p50 off/on: %.1fx; light p99 with the limit on: %v (target < 1s)\n",
			float64(pct(off.light, 99))/float64(pct(on.light, 99)), float64(pct(off.light, 50))/float64(pct(on.light, 50)), pct(on.light, 99))
	}
	fmt.Printf("promgate's metrics at the end of the last \"on\" run:\n%s", on.metrics)
	fmt.Printf("load average at end: %s\n", loadavg())
	return nil
}

type result struct {
	mu                                  sync.Mutex
	light                               []time.Duration
	lightErrors, heavyOK, heavyRejected atomic.Int64
	metrics                             string
}

// measure floods with the heavy query and times light queries meanwhile.
func measure(ctx context.Context, c config, client *http.Client, pg *benchkit.Promgate, creds map[string]benchkit.Credential, heavy url.Values, r *result) error {
	floodCtx, stopFlood := context.WithCancel(ctx)
	defer stopFlood()
	var wg sync.WaitGroup
	for range c.flooders {
		wg.Go(func() {
			for floodCtx.Err() == nil {
				status, err := post(floodCtx, client, pg.URL, creds["flooder"], "query_range", heavy)
				switch {
				case err != nil:
				case status == http.StatusOK:
					r.heavyOK.Add(1)
				case status == http.StatusTooManyRequests:
					r.heavyRejected.Add(1)
				}
			}
		})
	}
	select {
	case <-time.After(c.warmup):
	case <-ctx.Done():
		return ctx.Err()
	}
	lightCtx, stopLight := context.WithTimeout(ctx, c.duration)
	defer stopLight()
	var lwg sync.WaitGroup
	for i := range c.lightClients {
		lwg.Go(func() {
			queries := []string{"vector(1)", "up"}
			for n := i; lightCtx.Err() == nil; n++ {
				t0 := time.Now()
				// The light query itself may outlive the timed window.
				status, err := post(ctx, client, pg.URL, creds["light"], "query", url.Values{"query": {queries[n%2]}})
				took := time.Since(t0)
				if err != nil || status != http.StatusOK {
					r.lightErrors.Add(1)
					continue
				}
				r.mu.Lock()
				r.light = append(r.light, took)
				r.mu.Unlock()
			}
		})
	}
	lwg.Wait()
	stopFlood()
	wg.Wait()
	return nil
}

func post(ctx context.Context, client *http.Client, base string, cred benchkit.Credential, endpoint string, form url.Values) (int, error) {
	u := base + "/api-server/v1/grafana/api/datasources/proxy/1/api/v1/" + endpoint
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(cred.Key, cred.Token)
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// seriesData is n series of bench_metric, a counter sampled every 5 s from
// start to end, spread over 100 instances.
func seriesData(n int, start, end time.Time) []dstest.Series {
	var out []dstest.Series
	for i := range n {
		s := dstest.Series{Labels: map[string]string{"__name__": "bench_metric", "job": "bench", "instance": fmt.Sprintf("host-%d:9100", i%100), "series": strconv.Itoa(i)}}
		v := 0.0
		for t := start; t.Before(end); t = t.Add(5 * time.Second) {
			v += float64(i%7 + 1)
			s.Timestamps = append(s.Timestamps, t.UnixMilli())
			s.Values = append(s.Values, v)
		}
		out = append(out, s)
	}
	return out
}

// scrape returns promgate's query admission metrics.
func scrape(ctx context.Context, client *http.Client, base string) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return ""
	}
	resp, err := client.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var b strings.Builder
	for line := range strings.Lines(string(raw)) {
		if strings.HasPrefix(line, "promgate_query_") {
			b.WriteString("  " + line)
		}
	}
	return b.String()
}

// startServer runs promgate on dataDir, accepting the hour of samples written
// in the past.
func startServer(ctx context.Context, bin, dataDir string, extra ...string) (*benchkit.Promgate, error) {
	return benchkit.Start(ctx, bin, dataDir, append([]string{"--out-of-order-window", "1d"}, extra...)...)
}

func pct(xs []time.Duration, p int) time.Duration {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	i := (len(s)*p + 99) / 100
	return s[max(0, min(len(s)-1, i-1))].Round(time.Millisecond)
}

func loadavg() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(raw))
	return strings.Join(f[:min(3, len(f))], " ")
}
