// Command remotewrite measures remote_write to a backend through promgate
// against remote_write straight to that backend, in the same run with the
// same bodies (only the timestamps move on), and promgate's CPU per
// million samples forwarded, read from /proc/<pid>/stat of the promgate
// process (a child of this program, wired through internal/app).
//
//	go run ./bench/remotewrite --prometheus ~/.cache/promgate-ci/bin/prometheus
//	go run ./bench/remotewrite --thanos ~/.cache/promgate-ci/bin/thanos
//
// The backend is a real Prometheus with --web.enable-remote-write-receiver,
// or with --thanos a real Thanos receiver (one, no replication). The target
// is a throughput ratio (promgate / direct) of at least 0.9.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"

	"github.com/promgate/promgate/bench/internal/benchkit"
	"github.com/promgate/promgate/internal/access"
	"github.com/promgate/promgate/internal/app"
	"github.com/promgate/promgate/internal/audit"
	"github.com/promgate/promgate/internal/datasource"
	"github.com/promgate/promgate/internal/datasource/dstest"
	"github.com/promgate/promgate/internal/manage"
	"github.com/promgate/promgate/internal/server"
)

func main() {
	var err error
	if len(os.Args) > 1 && os.Args[1] == "child-serve" {
		err = childServe(os.Args[2:])
	} else {
		err = run()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "remotewrite:", err)
		os.Exit(1)
	}
}

// sampleStep is the time between a series' samples. All rounds together
// stay within the last hour: a Thanos receiver refuses samples further
// behind its newest one ("out of bounds").
const sampleStep = time.Second

// target is where a round's bodies go.
type target struct {
	name        string
	url         string
	user, token string
}

func run() error {
	promBin := flag.String("prometheus", os.Getenv(dstest.EnvBin), "Prometheus binary: the backend (with --web.enable-remote-write-receiver)")
	thanosBin := flag.String("thanos", "", "Thanos binary: a Thanos receiver is the backend instead of Prometheus")
	series := flag.Int("series", 16_000, "series in all")
	perBody := flag.Int("per-body", 2000, "series per remote_write body (Prometheus' max_samples_per_send)")
	steps := flag.Int("steps", 30, "samples per series per round")
	writers := flag.Int("writers", 8, "concurrent senders (Prometheus' shards)")
	rounds := flag.Int("rounds", 10, "rounds per target, alternating which goes first")
	selector := flag.String("selector", "", `label selector of the writer's credential, e.g. {job=~"job-.*"} (default: none)`)
	flag.Parse()
	if *promBin == "" && *thanosBin == "" {
		return errors.New("need --prometheus (or " + dstest.EnvBin + ") or --thanos")
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, 30*time.Minute)
	defer cancelT()
	dir, err := os.MkdirTemp("", "promgate-bench-remotewrite")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	var (
		backendName, writeURL, queryURL string
		backendPid                      int
	)
	if *thanosBin != "" {
		th, err := dstest.StartThanos(ctx, *thanosBin, filepath.Join(dir, "thanos"), 1)
		if err != nil {
			return err
		}
		defer th.Stop()
		backendName, writeURL, queryURL = "thanos receive", th.Receivers[0].WriteURL, th.QueryURL
	} else {
		prom, err := dstest.StartPrometheus(ctx, *promBin, filepath.Join(dir, "prometheus"))
		if err != nil {
			return err
		}
		defer prom.Stop()
		backendName, writeURL, queryURL, backendPid = "prometheus", prom.URL+"/api/v1/write", prom.URL, prom.Pid()
	}

	gate, err := startChild(ctx, dir, queryURL, writeURL, *selector)
	if err != nil {
		return err
	}
	defer gate.stop()

	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 2 * *writers, DisableCompression: true}}
	direct := target{name: "direct", url: writeURL}
	through := target{name: "promgate", url: gate.writeURL, user: gate.key, token: gate.token}
	fmt.Printf("backend %s; %d series in bodies of %d, %d samples per series per round, %d senders, %d rounds per target, selector %q\n",
		backendName, *series, *perBody, *steps, *writers, *rounds, *selector)

	rates := map[string][]float64{}
	var gateCPU, backendCPUDirect time.Duration
	var gateSamples, directSamples int
	slot := time.Now().Add(-time.Duration(2*(*rounds+1)**steps+1) * sampleStep).Truncate(time.Second)
	// One round each first, not measured: the backend creates the series
	// and both paths open their connections.
	for _, t := range []target{direct, through} {
		bodies, _ := encodeRound(*series, *perBody, *steps, *writers, slot)
		slot = slot.Add(time.Duration(*steps) * sampleStep)
		if _, err := send(ctx, client, t, bodies); err != nil {
			return fmt.Errorf("%s warm-up: %w", t.name, err)
		}
	}
	for r := range *rounds {
		order := []target{direct, through}
		if r%2 == 1 {
			order = []target{through, direct}
		}
		for _, t := range order {
			bodies, samples := encodeRound(*series, *perBody, *steps, *writers, slot)
			slot = slot.Add(time.Duration(*steps) * sampleStep)
			gate0, err := benchkit.ProcessCPU(gate.pid)
			if err != nil {
				return err
			}
			back0, _ := benchkit.ProcessCPU(backendPid)
			took, err := send(ctx, client, t, bodies)
			if err != nil {
				return fmt.Errorf("%s round %d: %w", t.name, r, err)
			}
			gate1, err := benchkit.ProcessCPU(gate.pid)
			if err != nil {
				return err
			}
			back1, _ := benchkit.ProcessCPU(backendPid)
			rates[t.name] = append(rates[t.name], float64(samples)/took.Seconds())
			if t.name == "promgate" {
				gateCPU += gate1 - gate0
				gateSamples += samples
			} else {
				backendCPUDirect += back1 - back0
				directSamples += samples
			}
		}
	}
	// Each round's two runs are next to each other in time: the ratio of
	// each pair cancels most of what other load on the machine does to
	// both, and the median pair is reported.
	var pairs []float64
	for i := range rates["direct"] {
		pairs = append(pairs, rates["promgate"][i]/rates["direct"][i])
	}
	fmt.Printf("  pair ratios:")
	for _, p := range pairs {
		fmt.Printf(" %.2f", p)
	}
	fmt.Println()
	d, g := benchkit.Median(rates["direct"]), benchkit.Median(rates["promgate"])
	fmt.Printf("throughput (median round)  direct %10.0f samples/s   through promgate %10.0f samples/s\n", d, g)
	fmt.Printf("throughput ratio promgate/direct, median of %d pairs: %.2f (target >= 0.90)\n", len(pairs), benchkit.Median(pairs))
	fmt.Printf("promgate CPU: %.3f s per million samples forwarded (%s for %d samples)\n",
		gateCPU.Seconds()/(float64(gateSamples)/1e6), gateCPU.Round(time.Millisecond), gateSamples)
	if backendPid != 0 {
		fmt.Printf("for scale, %s's own CPU going direct: %.3f s per million samples ingested\n",
			backendName, backendCPUDirect.Seconds()/(float64(directSamples)/1e6))
	}
	return nil
}

// encodeRound builds remote_write 1.0 bodies, as Prometheus sends them:
// each sender owns a slice of the series and sends, per timestamp, bodies
// of perBody series, in time order.
func encodeRound(series, perBody, steps, writers int, start time.Time) ([][][]byte, int) {
	bodies := make([][][]byte, writers)
	per := series / writers
	for w := range writers {
		for s := range steps {
			ts := start.Add(time.Duration(s) * sampleStep).UnixMilli()
			for from := w * per; from < (w+1)*per; from += perBody {
				req := prompb.WriteRequest{}
				for i := from; i < min(from+perBody, (w+1)*per); i++ {
					req.Timeseries = append(req.Timeseries, prompb.TimeSeries{
						Labels: []prompb.Label{
							{Name: "__name__", Value: "bench_metric"},
							{Name: "instance", Value: "i-" + strconv.Itoa(i)},
							{Name: "job", Value: "job-" + strconv.Itoa(i%10)},
							{Name: "team", Value: "a"},
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
	}
	return bodies, per * writers * steps
}

// send has each sender post its bodies in order, each once acknowledged
// before the next, and returns the wall time of the whole round.
func send(ctx context.Context, client *http.Client, t target, bodies [][][]byte) (time.Duration, error) {
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, len(bodies))
	for _, own := range bodies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, b := range own {
				if err := post(ctx, client, t, b); err != nil {
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

func post(ctx context.Context, client *http.Client, t target, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("Content-Encoding", "snappy")
	req.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	if t.user != "" {
		req.SetBasicAuth(t.user, t.token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("remote_write: HTTP %d: %s", resp.StatusCode, msg)
	}
	return nil
}

// gateChild is the promgate process this program measures.
type gateChild struct {
	pid        int
	writeURL   string
	key, token string
	stop       func()
}

// childInfo is what the child prints once it serves.
type childInfo struct {
	Addr     string `json:"addr"`
	DS       int64  `json:"ds"`
	Key      string `json:"key"`
	Token    string `json:"token"`
	Problems string `json:"problems,omitempty"`
}

// startChild runs this program again as a promgate (internal/app, as
// `promgate serve` wires it) with a data source writing to writeURL and a
// writer credential, so its CPU time is promgate's alone.
func startChild(ctx context.Context, dir, queryURL, writeURL, selector string) (*gateChild, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, self, "child-serve", "--data-dir", filepath.Join(dir, "promgate"),
		"--url", queryURL, "--write-url", writeURL, "--selector", selector)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe() // closed when we end: the child then stops
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start promgate child: %w", err)
	}
	stop := func() { _ = stdin.Close(); _ = cmd.Wait() }
	line, err := bufio.NewReader(stdout).ReadBytes('\n')
	if err != nil {
		stop()
		return nil, fmt.Errorf("promgate child: %w", err)
	}
	var info childInfo
	if err := json.Unmarshal(line, &info); err != nil || info.Problems != "" {
		stop()
		return nil, fmt.Errorf("promgate child: %s", line)
	}
	return &gateChild{pid: cmd.Process.Pid, writeURL: fmt.Sprintf("http://%s%s%d/api/v1/write", info.Addr, server.ProxyPrefix, info.DS),
		key: info.Key, token: info.Token, stop: stop}, nil
}

// childServe is the child: promgate on 127.0.0.1 until stdin closes.
func childServe(args []string) error {
	fs := flag.NewFlagSet("child-serve", flag.ContinueOnError)
	dataDir := fs.String("data-dir", "", "")
	readURL := fs.String("url", "", "")
	writeURL := fs.String("write-url", "", "")
	selector := fs.String("selector", "", "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	a, err := app.New(ctx, app.Config{DataDir: *dataDir, OwnerPassword: "bench-owner-password", Version: "bench", Logger: logger})
	if err != nil {
		return err
	}
	defer a.Close()
	actor := audit.Actor{Name: "bench"}
	ds, err := a.Manage.CreateDataSource(ctx, actor, datasource.Settings{Name: "backend", URL: *readURL, WriteURL: *writeURL, Env: "bench"})
	if err != nil {
		return err
	}
	cred, token, err := a.Manage.CreateCredential(ctx, actor, manage.CredentialSpec{
		Name: "bench-writer", Role: access.RoleEditor, Scope: access.ScopeWrite, Selector: *selector, CreatedBy: "bench",
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: a.Handler, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	out, _ := json.Marshal(childInfo{Addr: ln.Addr().String(), DS: ds.ID, Key: cred.Key, Token: token})
	if _, err := fmt.Printf("%s\n", out); err != nil {
		return err
	}
	// Until the parent closes stdin (or dies), or is told to stop.
	done := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); close(done) }()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	select {
	case <-done:
	case <-sig:
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}
