// Package dstest runs a real Prometheus (a binary built from its Go module,
// see .ci/prometheus.sh) on 127.0.0.1 and fills it by remote_write, for the
// data source tests and the proxy benchmark.
package dstest

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"
)

// EnvBin names the environment variable holding the Prometheus binary.
const EnvBin = "PROMGATE_TEST_PROMETHEUS_BIN"

// Prometheus is a running Prometheus.
type Prometheus struct {
	URL    string // http://127.0.0.1:port, or https:// when served over TLS
	cmd    *exec.Cmd
	done   chan error
	logs   *bytes.Buffer
	client *http.Client
}

// TLS serves Prometheus over TLS through its own --web.config.file.
type TLS struct {
	CertFile, KeyFile string // the server's certificate and key (PEM files)
	// ClientCAFile, when set, is the CA client certificates must come from,
	// and ClientAuth Prometheus' client_auth_type (e.g.
	// RequireAndVerifyClientCert).
	ClientCAFile, ClientAuth string
	// Client is how the readiness check connects (trusting the server's
	// CA, presenting a client certificate when one is required).
	Client *tls.Config
}

// StartPrometheusTLS is StartPrometheus serving https with t.
func StartPrometheusTLS(ctx context.Context, bin, dir string, t TLS) (*Prometheus, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("prometheus dir: %w", err)
	}
	web := fmt.Sprintf("tls_server_config:\n  cert_file: %q\n  key_file: %q\n", t.CertFile, t.KeyFile)
	if t.ClientCAFile != "" {
		web += fmt.Sprintf("  client_ca_file: %q\n  client_auth_type: %q\n", t.ClientCAFile, t.ClientAuth)
	}
	webFile := filepath.Join(dir, "web.yml")
	if err := os.WriteFile(webFile, []byte(web), 0o600); err != nil {
		return nil, fmt.Errorf("write prometheus web config: %w", err)
	}
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: t.Client}}
	return start(ctx, bin, dir, "https", client, nil, "--web.config.file="+webFile)
}

// StartPrometheus starts bin with its data under dir, remote_write
// receiving on, no scrape targets, and waits until it is ready.
func StartPrometheus(ctx context.Context, bin, dir string) (*Prometheus, error) {
	return start(ctx, bin, dir, "http", &http.Client{Timeout: 2 * time.Second}, nil)
}

// StartPrometheusConfig is StartPrometheus with the configuration file
// config returns for the address Prometheus listens on (so that it can
// scrape itself), e.g. scrape configs and a remote_write.
func StartPrometheusConfig(ctx context.Context, bin, dir string, config func(addr string) string) (*Prometheus, error) {
	return start(ctx, bin, dir, "http", &http.Client{Timeout: 2 * time.Second}, config)
}

func start(ctx context.Context, bin, dir, scheme string, client *http.Client, config func(addr string) string, extraArgs ...string) (*Prometheus, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("prometheus dir: %w", err)
	}
	if config == nil {
		config = func(string) string { return "global:\n  scrape_interval: 1h\n" }
	}
	cfg := filepath.Join(dir, "prometheus.yml")
	var lastErr error
	for range 3 { // a free port can be taken between probing and use
		addr, err := freeAddr()
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(cfg, []byte(config(addr)), 0o600); err != nil {
			return nil, fmt.Errorf("write prometheus config: %w", err)
		}
		p := &Prometheus{URL: scheme + "://" + addr, done: make(chan error, 1), logs: &bytes.Buffer{}, client: client}
		args := append([]string{"--config.file=" + cfg, "--storage.tsdb.path=" + filepath.Join(dir, "data"),
			"--web.listen-address=" + addr, "--web.enable-remote-write-receiver", "--log.level=warn"}, extraArgs...)
		p.cmd = exec.Command(bin, args...)
		p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
		if err := p.cmd.Start(); err != nil {
			return nil, fmt.Errorf("start prometheus: %w", err)
		}
		go func() { p.done <- p.cmd.Wait() }()
		if lastErr = p.waitReady(ctx); lastErr == nil {
			return p, nil
		}
		p.Stop()
	}
	return nil, lastErr
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr, nil
}

func (p *Prometheus) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+"/-/ready", nil)
		if resp, err := p.client.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-p.done:
			p.done <- err
			return fmt.Errorf("prometheus exited: %v: %s", err, p.logs.String())
		case <-ctx.Done():
			return fmt.Errorf("prometheus not ready: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Pid is the process id of the running Prometheus.
func (p *Prometheus) Pid() int { return p.cmd.Process.Pid }

// Stop kills Prometheus and waits for it.
func (p *Prometheus) Stop() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
	}
	p.cmd = nil
}

// Series is one series to write: labels (with __name__) and samples.
type Series struct {
	Labels     map[string]string
	Timestamps []int64 // milliseconds, increasing
	Values     []float64
}

// RemoteWrite sends series to url (.../api/v1/write) as remote_write 1.0,
// in batches, with optional basic auth.
func RemoteWrite(ctx context.Context, url, user, password string, series []Series) error {
	const batch = 2000
	client := &http.Client{Timeout: 30 * time.Second}
	for start := 0; start < len(series); start += batch {
		var wr prompb.WriteRequest
		for _, s := range series[start:min(start+batch, len(series))] {
			ts := prompb.TimeSeries{}
			for k, v := range s.Labels {
				ts.Labels = append(ts.Labels, prompb.Label{Name: k, Value: v})
			}
			sortLabels(ts.Labels)
			for i := range s.Timestamps {
				ts.Samples = append(ts.Samples, prompb.Sample{Timestamp: s.Timestamps[i], Value: s.Values[i]})
			}
			wr.Timeseries = append(wr.Timeseries, ts)
		}
		raw, err := wr.Marshal()
		if err != nil {
			return fmt.Errorf("marshal write request: %w", err)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(snappy.Encode(nil, raw)))
		if err != nil {
			return fmt.Errorf("remote write: %w", err)
		}
		req.Header.Set("Content-Type", "application/x-protobuf")
		req.Header.Set("Content-Encoding", "snappy")
		req.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
		if user != "" {
			req.SetBasicAuth(user, password)
		}
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("remote write: %w", err)
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		_ = resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("remote write: HTTP %d: %s", resp.StatusCode, body)
		}
	}
	return nil
}

func sortLabels(ls []prompb.Label) {
	for i := 1; i < len(ls); i++ {
		for j := i; j > 0 && ls[j].Name < ls[j-1].Name; j-- {
			ls[j], ls[j-1] = ls[j-1], ls[j]
		}
	}
}

// ErrNoBinary is returned by Bin when the variable is unset.
var ErrNoBinary = errors.New(EnvBin + " is not set: run `eval \"$(bash .ci/prometheus.sh)\"` to build and point at Prometheus 3.16.0")

// Bin returns the Prometheus binary from the environment.
func Bin() (string, error) {
	bin := os.Getenv(EnvBin)
	if bin == "" {
		return "", ErrNoBinary
	}
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("%s=%s: %w", EnvBin, bin, err)
	}
	return bin, nil
}
