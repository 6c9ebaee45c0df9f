// Command proxy measures what promgate's remote data source proxy costs:
// the same queries sent straight to a backend and through a promgate whose
// data source points at it, in the same run, with concurrent clients.
//
//	go run ./bench/proxy [--prometheus BIN] [--clients 16] [--rounds 8] [--up-requests 8000] [--series-requests 120] [--pin]
//
// The backend is a real Prometheus when --prometheus (default
// $PROMGATE_TEST_PROMETHEUS_BIN) is given, else a second promgate
// (embedded store). Data goes in by remote_write: a few `up` series and
// 10,000 `bench_series` series.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
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

func main() { benchkit.Main("proxy", run) }

type config struct {
	promBin                 string
	clients, rounds         int
	upRequests, bigRequests int
	series                  int
	pin                     bool
}

// target is where queries go: a base URL of the Prometheus API plus auth.
type target struct {
	name, base, user, password string
}

func run() error {
	var c config
	flag.StringVar(&c.promBin, "prometheus", os.Getenv(dstest.EnvBin), "Prometheus binary for the backend (default: a second promgate)")
	flag.IntVar(&c.clients, "clients", 16, "concurrent clients")
	flag.IntVar(&c.rounds, "rounds", 8, "alternating rounds per target and query")
	flag.IntVar(&c.upRequests, "up-requests", 8000, "requests per round for `up`")
	flag.IntVar(&c.bigRequests, "series-requests", 120, "requests per round for the 10k-series query")
	flag.IntVar(&c.series, "series", 10000, "series the big query returns")
	flag.BoolVar(&c.pin, "pin", false, "pin the backend to CPU 0 and promgate and the clients to CPU 1 (taskset), as when the backend has its own machine")
	flag.Parse()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	dir, bin, cleanup, err := benchkit.Setup(ctx, "proxy")
	if err != nil {
		return err
	}
	defer cleanup()

	// The backend.
	var backend target
	var backendPid int
	var writeURL, writeUser, writePW string
	backendKind := ""
	if c.promBin != "" {
		prom, err := dstest.StartPrometheus(ctx, c.promBin, filepath.Join(dir, "prom"))
		if err != nil {
			return err
		}
		defer prom.Stop()
		backend, backendPid = target{name: "direct", base: prom.URL}, prom.Pid()
		writeURL = prom.URL + "/api/v1/write"
		backendKind = "Prometheus 3.16.0"
	} else {
		pg, err := startPromgate(ctx, bin, filepath.Join(dir, "backend"), c.clients)
		if err != nil {
			return err
		}
		defer pg.Stop()
		backend = target{name: "direct", base: pg.URL + "/api-server/v1/grafana/api/datasources/proxy/1", user: pg.cred.Key, password: pg.cred.Token}
		backendPid = pg.Cmd.Process.Pid
		writeURL, writeUser, writePW = pg.URL+"/api/v1/write", pg.cred.Key, pg.cred.Token
		backendKind = "promgate (embedded store)"
	}
	now := time.Now().Truncate(time.Second)
	if err := dstest.RemoteWrite(ctx, writeURL, writeUser, writePW, seriesData(c.series, now)); err != nil {
		return err
	}

	// The front, set up with the admin CLI as an operator would.
	front, err := startPromgate(ctx, bin, filepath.Join(dir, "front"), c.clients)
	if err != nil {
		return err
	}
	defer front.Stop()
	args := []string{"admin", "datasource", "add", "--data-dir", front.DataDir, "--name", "backend", "--url", backend.base, "--env", "bench", "--output", "json"}
	if backend.user != "" {
		pwFile := filepath.Join(dir, "backend-password")
		if err := os.WriteFile(pwFile, []byte(backend.password), 0o600); err != nil {
			return err
		}
		args = append(args, "--basic-auth-user", backend.user, "--basic-auth-password-file", pwFile)
	}
	out, err := exec.CommandContext(ctx, bin, args...).Output()
	if err != nil {
		return fmt.Errorf("admin datasource add: %w", err)
	}
	var ds struct{ ID int64 }
	if err := json.Unmarshal(out, &ds); err != nil {
		return fmt.Errorf("datasource add output %q: %w", out, err)
	}
	proxied := target{name: "proxied", base: fmt.Sprintf("%s/api-server/v1/grafana/api/datasources/proxy/%d", front.URL, ds.ID), user: front.cred.Key, password: front.cred.Token}
	time.Sleep(1100 * time.Millisecond) // the server's data source cache TTL
	if c.pin {
		for pid, cpu := range map[int]string{backendPid: "0", front.Cmd.Process.Pid: "1", os.Getpid(): "1"} {
			if out, err := exec.CommandContext(ctx, "taskset", "-a", "-cp", cpu, strconv.Itoa(pid)).CombinedOutput(); err != nil {
				return fmt.Errorf("taskset: %v: %s", err, out)
			}
		}
		fmt.Println("pinned: backend on CPU 0; promgate front and the load generator on CPU 1")
	}

	// No compression: both paths then answer identity, so the comparison
	// is of the proxy hop alone (promgate answers identity, and asks its
	// backends for identity, whatever the caller accepts).
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2 * c.clients, MaxIdleConns: 4 * c.clients, IdleConnTimeout: time.Minute, DisableCompression: true}, Timeout: time.Minute}
	evalAt := strconv.FormatInt(now.Unix(), 10)
	queries := []struct {
		name     string
		query    string
		requests int
	}{
		{"up", "up", c.upRequests},
		{fmt.Sprintf("%d-series", c.series), "bench_series", c.bigRequests},
	}
	fmt.Printf("backend: %s; %d clients; %d rounds alternating direct/proxied; GOMAXPROCS of all processes share %d CPUs\n", backendKind, c.clients, c.rounds, numCPU())
	fmt.Printf("%-13s %11s %11s %6s %10s %10s %10s %10s %10s %10s %10s\n", "query", "direct r/s", "proxied r/s", "ratio",
		"p50 direct", "p50 proxy", "added p50", "front CPU", "1c direct", "1c proxy", "1c added")
	type result struct {
		name            string
		ratio           float64
		added, addedSeq time.Duration
		bytes           int64
	}
	var results []result
	for _, q := range queries {
		form := url.Values{"query": {q.query}, "time": {evalAt}}
		// Warm both paths (connections, caches) and check they agree.
		var sizes [2]int64
		for i, t := range []target{backend, proxied} {
			for range 20 {
				n, _, err := do(ctx, client, t, form)
				if err != nil {
					return fmt.Errorf("warm-up %s %s: %w", t.name, q.name, err)
				}
				sizes[i] = n
			}
		}
		if sizes[0] != sizes[1] {
			return fmt.Errorf("%s: direct answer %d bytes, proxied %d", q.name, sizes[0], sizes[1])
		}
		rates := map[string][]float64{}
		lats := map[string][]time.Duration{}
		var cpu time.Duration
		for r := range c.rounds {
			order := []target{backend, proxied}
			if r%2 == 1 {
				order = []target{proxied, backend}
			}
			for _, t := range order {
				cpuBefore := benchkit.CPU(front.Cmd.Process.Pid)
				took, lat, err := load(ctx, client, t, form, q.requests, c.clients)
				if err != nil {
					return fmt.Errorf("%s %s: %w", t.name, q.name, err)
				}
				if t.name == "proxied" {
					cpu += benchkit.CPU(front.Cmd.Process.Pid) - cpuBefore
				}
				rates[t.name] = append(rates[t.name], float64(q.requests)/took.Seconds())
				lats[t.name] = append(lats[t.name], lat...)
			}
		}
		// Unloaded latency: one client, alternating direct and proxied, so
		// queueing on the saturated machine does not hide the hop's cost.
		seq := map[string][]time.Duration{}
		for i := range max(q.requests/10, 20) {
			order := []target{backend, proxied}
			if i%2 == 1 {
				order = []target{proxied, backend}
			}
			for _, t := range order {
				t0 := time.Now()
				if _, _, err := do(ctx, client, t, form); err != nil {
					return fmt.Errorf("sequential %s %s: %w", t.name, q.name, err)
				}
				seq[t.name] = append(seq[t.name], time.Since(t0))
			}
		}
		dRate, pRate := benchkit.Median(rates["direct"]), benchkit.Median(rates["proxied"])
		d50, p50 := pct(lats["direct"], 50), pct(lats["proxied"], 50)
		s50d, s50p := pct(seq["direct"], 50), pct(seq["proxied"], 50)
		cpuPerReq := cpu / time.Duration(q.requests*c.rounds)
		fmt.Printf("%-13s %11.0f %11.0f %6.2f %10s %10s %10s %10s %10s %10s %10s\n", q.name, dRate, pRate, pRate/dRate,
			round(d50), round(p50), round(p50-d50), round(cpuPerReq), round(s50d), round(s50p), round(s50p-s50d))
		results = append(results, result{q.name, pRate / dRate, p50 - d50, s50p - s50d, sizes[0]})
	}
	fmt.Println()
	for _, r := range results {
		fmt.Printf("%s (%d-byte answer): %d clients: throughput ratio %.2f (target >= 0.90), added median latency %s; 1 client: added median latency %s (target <= 0.5ms)\n",
			r.name, r.bytes, c.clients, r.ratio, round(r.added), round(r.addedSeq))
	}
	return nil
}

// seriesData is a few `up` series and n `bench_series` series, 10 samples
// each over the last 2.5 minutes.
func seriesData(n int, now time.Time) []dstest.Series {
	var out []dstest.Series
	add := func(lbls map[string]string, v float64) {
		s := dstest.Series{Labels: lbls}
		for i := 9; i >= 0; i-- {
			s.Timestamps = append(s.Timestamps, now.Add(-time.Duration(i)*15*time.Second).UnixMilli())
			s.Values = append(s.Values, v+float64(i))
		}
		out = append(out, s)
	}
	for i := range 4 {
		add(map[string]string{"__name__": "up", "job": "bench", "instance": fmt.Sprintf("host-%d:9100", i)}, 1)
	}
	for i := range n {
		add(map[string]string{"__name__": "bench_series", "job": "bench", "instance": fmt.Sprintf("host-%d:9100", i%100), "series": strconv.Itoa(i)}, float64(i))
	}
	return out
}

// load sends requests POST form queries from clients goroutines and
// returns the wall time and every request's latency.
func load(ctx context.Context, client *http.Client, t target, form url.Values, requests, clients int) (time.Duration, []time.Duration, error) {
	var next atomic.Int64
	lat := make([]time.Duration, requests)
	errs := make(chan error, clients)
	var wg sync.WaitGroup
	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(requests) {
					return
				}
				t0 := time.Now()
				if _, _, err := do(ctx, client, t, form); err != nil {
					errs <- err
					return
				}
				lat[i] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		return 0, nil, err
	}
	return took, lat, nil
}

// do runs one query and reads the whole answer.
func do(ctx context.Context, client *http.Client, t target, form url.Values) (int64, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.base+"/api/v1/query", strings.NewReader(form.Encode()))
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if t.user != "" {
		req.SetBasicAuth(t.user, t.password)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return n, resp.StatusCode, err
	}
	if resp.StatusCode != http.StatusOK {
		return n, resp.StatusCode, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return n, resp.StatusCode, nil
}

// promgate is a running promgate with the one credential that sends
// all the load.
type promgate struct {
	*benchkit.Promgate
	cred benchkit.Credential
}

// startPromgate starts `promgate serve`; one credential sends all the
// load, so its query share is raised to the number of clients.
func startPromgate(ctx context.Context, bin, dataDir string, clients int) (*promgate, error) {
	pg, err := benchkit.Start(ctx, bin, dataDir,
		"--query.max-concurrency", strconv.Itoa(max(20, clients)), "--query.max-concurrency-per-caller", strconv.Itoa(clients))
	if err != nil {
		return nil, err
	}
	cred, err := pg.CreateCredential(ctx, "bench", "OWNER", "read,write")
	if err != nil {
		pg.Stop()
		return nil, err
	}
	return &promgate{pg, cred}, nil
}

func numCPU() int {
	raw, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return 0
	}
	return strings.Count(string(raw), "processor\t:")
}

func pct(xs []time.Duration, p int) time.Duration {
	s := slices.Sorted(slices.Values(xs))
	return s[min(len(s)-1, len(s)*p/100)]
}

func round(d time.Duration) time.Duration {
	switch {
	case d >= 10*time.Millisecond || d <= -10*time.Millisecond:
		return d.Round(100 * time.Microsecond)
	case d >= time.Millisecond || d <= -time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}
