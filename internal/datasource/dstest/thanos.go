package dstest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/promgate/promgate/internal/testkit"
)

// EnvThanosBin names the environment variable holding the Thanos binary
// (v0.39.2, built by .ci/thanos.sh).
const EnvThanosBin = "PROMGATE_TEST_THANOS_BIN"

// ErrNoThanos is returned by ThanosBin when the variable is unset.
var ErrNoThanos = errors.New(EnvThanosBin + " is not set: run `eval \"$(bash .ci/thanos.sh)\"` to build and point at Thanos 0.39.2")

// ThanosBin returns the Thanos binary from the environment.
func ThanosBin() (string, error) {
	bin := os.Getenv(EnvThanosBin)
	if bin == "" {
		return "", ErrNoThanos
	}
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("%s=%s: %w", EnvThanosBin, bin, err)
	}
	return bin, nil
}

// ReplicaLabel is the external label each receiver announces its copy
// under; the querier deduplicates along it.
const ReplicaLabel = "receive_replica"

// Thanos is a running Thanos: ingesting receivers in one hashring that
// replicate every write to all of them, and a querier over them.
type Thanos struct {
	Receivers []*ThanosReceiver
	// QueryURL is the querier's HTTP base: QueryURL+"/api/v1/query".
	QueryURL string
	query    *proc
	client   *http.Client
}

// ThanosReceiver is one receiver.
type ThanosReceiver struct {
	// WriteURL takes remote_write (Thanos' /api/v1/receive).
	WriteURL string
	// HTTPURL serves /-/ready and /metrics.
	HTTPURL string
	p       *proc
}

// proc is a started binary, its logs and its end.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan error
	logs *testkit.LogBuffer
}

func startProc(name, bin string, args ...string) (*proc, error) {
	p := &proc{name: name, cmd: exec.Command(bin, args...), done: make(chan error, 1), logs: &testkit.LogBuffer{}}
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	return p, nil
}

// exited reports, without waiting, whether the process ended.
func (p *proc) exited() error {
	select {
	case err := <-p.done:
		p.done <- err
		return fmt.Errorf("%s exited: %v: %s", p.name, err, tail(p.logs.String()))
	default:
		return nil
	}
}

func (p *proc) kill() {
	if p == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
	}
}

func tail(s string) string {
	if len(s) > 4000 {
		return "..." + s[len(s)-4000:]
	}
	return s
}

// StartThanos starts n receivers under dir in one hashring with
// replication factor n (a write is acknowledged once a quorum of them has
// it, so writes go on with one receiver down), each with its own ports on
// 127.0.0.1 (Cap'n Proto included: the default one would clash), and a
// querier over them deduplicating along ReplicaLabel. It returns once a
// write through the first receiver has been acknowledged and is visible
// through the querier.
func StartThanos(ctx context.Context, bin, dir string, n int) (_ *Thanos, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("thanos dir: %w", err)
	}
	th := &Thanos{client: &http.Client{Timeout: 5 * time.Second}}
	defer func() {
		if err != nil {
			th.Stop()
		}
	}()
	type ports struct{ grpc, http, write, capnp string }
	all := make([]ports, n)
	type endpoint struct {
		Address          string `json:"address"`
		CapNProtoAddress string `json:"capnproto_address"`
	}
	var endpoints []endpoint
	for i := range all {
		for _, a := range []*string{&all[i].grpc, &all[i].http, &all[i].write, &all[i].capnp} {
			if *a, err = freeAddr(); err != nil {
				return nil, err
			}
		}
		endpoints = append(endpoints, endpoint{Address: all[i].grpc, CapNProtoAddress: all[i].capnp})
	}
	ring, err := json.Marshal([]any{map[string]any{"hashring": "default", "endpoints": endpoints}})
	if err != nil {
		return nil, fmt.Errorf("hashring: %w", err)
	}
	ringFile := filepath.Join(dir, "hashring.json")
	if err := os.WriteFile(ringFile, ring, 0o600); err != nil {
		return nil, fmt.Errorf("write hashring: %w", err)
	}
	queryArgs := []string{"query", "--log.level=warn", "--query.replica-label=" + ReplicaLabel}
	for i, pt := range all {
		p, err := startProc(fmt.Sprintf("thanos receiver %d", i), bin, "receive",
			"--log.level=warn",
			"--grpc-address="+pt.grpc, "--http-address="+pt.http,
			"--remote-write.address="+pt.write, "--receive.capnproto-address="+pt.capnp,
			"--receive.hashrings-file="+ringFile, "--receive.local-endpoint="+pt.grpc,
			fmt.Sprintf("--receive.replication-factor=%d", n),
			"--tsdb.path="+filepath.Join(dir, fmt.Sprintf("receive-%d", i)),
			fmt.Sprintf("--label=%s=\"r%d\"", ReplicaLabel, i))
		if err != nil {
			return nil, err
		}
		th.Receivers = append(th.Receivers, &ThanosReceiver{WriteURL: "http://" + pt.write + "/api/v1/receive", HTTPURL: "http://" + pt.http, p: p})
		queryArgs = append(queryArgs, "--endpoint="+pt.grpc)
	}
	qgrpc, err := freeAddr()
	if err != nil {
		return nil, err
	}
	qhttp, err := freeAddr()
	if err != nil {
		return nil, err
	}
	queryArgs = append(queryArgs, "--grpc-address="+qgrpc, "--http-address="+qhttp)
	if th.query, err = startProc("thanos query", bin, queryArgs...); err != nil {
		return nil, err
	}
	th.QueryURL = "http://" + qhttp

	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	for _, r := range th.Receivers {
		if err := th.waitReady(ctx, r.HTTPURL, r.p); err != nil {
			return nil, err
		}
	}
	if err := th.waitReady(ctx, th.QueryURL, th.query); err != nil {
		return nil, err
	}
	// A receiver answers "TSDB not ready" for its first seconds, and the
	// querier finds its endpoints a little later: write one sample until
	// it is taken, then wait until the querier shows it.
	probe := []Series{{Labels: map[string]string{"__name__": "promgate_thanos_probe"}, Timestamps: []int64{time.Now().UnixMilli()}, Values: []float64{1}}}
	for {
		err := RemoteWrite(ctx, th.Receivers[0].WriteURL, "", "", probe)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("thanos receivers never took a write: %w", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for {
		n, err := th.count(ctx, "promgate_thanos_probe")
		if err == nil && n > 0 {
			return th, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("thanos query never showed the probe sample (last error %v): %s", err, tail(th.query.logs.String()))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (th *Thanos) waitReady(ctx context.Context, base string, p *proc) error {
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/-/ready", nil)
		if resp, err := th.client.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if err := p.exited(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %w: %s", p.name, ctx.Err(), tail(p.logs.String()))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// count is the number of series an instant query through the querier
// returns.
func (th *Thanos) count(ctx context.Context, query string) (int, error) {
	var res []json.RawMessage
	err := th.Query(ctx, query, time.Now(), &res)
	return len(res), err
}

// Query runs an instant query on the querier directly (deduplicated, with
// partial answers allowed, as a reader behind promgate gets them) and
// decodes data.result into v.
func (th *Thanos) Query(ctx context.Context, query string, at time.Time, v any) error {
	q := url.Values{"query": {query}, "time": {fmt.Sprintf("%.3f", float64(at.UnixMilli())/1000)}, "dedup": {"true"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, th.QueryURL+"/api/v1/query?"+q.Encode(), nil)
	if err != nil {
		return fmt.Errorf("thanos query: %w", err)
	}
	resp, err := th.client.Do(req)
	if err != nil {
		return fmt.Errorf("thanos query: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("thanos query: read answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("thanos query %q: HTTP %d: %s", query, resp.StatusCode, tail(string(body)))
	}
	var out struct {
		Data struct {
			Result json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return fmt.Errorf("thanos query: decode answer: %w", err)
	}
	if err := json.Unmarshal(out.Data.Result, v); err != nil {
		return fmt.Errorf("thanos query: decode result: %w", err)
	}
	return nil
}

// KillReceiver kills receiver i (SIGKILL: no flush, no goodbye).
func (th *Thanos) KillReceiver(i int) { th.Receivers[i].p.kill() }

// Logs are the last lines every process logged, for a failing test.
func (th *Thanos) Logs() string {
	var b strings.Builder
	for i, r := range th.Receivers {
		fmt.Fprintf(&b, "--- receiver %d\n%s\n", i, tail(r.p.logs.String()))
	}
	if th.query != nil {
		fmt.Fprintf(&b, "--- query\n%s\n", tail(th.query.logs.String()))
	}
	return b.String()
}

// Stop kills every process and waits for them.
func (th *Thanos) Stop() {
	for _, r := range th.Receivers {
		r.p.kill()
	}
	th.query.kill()
}
