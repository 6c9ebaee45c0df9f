// Package benchkit is the set-up the benchmark programs share: build
// promgate, start `promgate serve` on 127.0.0.1 and wait until it is
// ready, make a credential with the admin CLI, stop it; and what they
// measure with: a process's CPU time and the median of a series.
package benchkit

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// Build builds promgate from the repository root (the working directory)
// into dir and returns the binary's path.
func Build(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "promgate")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/promgate").CombinedOutput(); err != nil {
		return "", fmt.Errorf("build promgate: %w\n%s", err, out)
	}
	return bin, nil
}

// FreeAddr returns a 127.0.0.1 address nothing listens on (at the time).
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().String(), nil
}

// WaitReady polls url until it answers 200, for at most timeout.
func WaitReady(ctx context.Context, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s not ready after %v", url, timeout)
}

// Promgate is a running `promgate serve`.
type Promgate struct {
	URL, DataDir string
	Cmd          *exec.Cmd
	bin          string
}

// Start runs `promgate serve` on a free 127.0.0.1 port with dataDir and
// extra flags, logging warnings to stderr, and waits until it is ready.
func Start(ctx context.Context, bin, dataDir string, extra ...string) (*Promgate, error) {
	addr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	p := &Promgate{URL: "http://" + addr, DataDir: dataDir, bin: bin}
	args := append([]string{"serve", "--listen", addr, "--data-dir", dataDir, "--log.level", "warn"}, extra...)
	p.Cmd = exec.CommandContext(ctx, bin, args...)
	p.Cmd.Stderr = os.Stderr
	if err := p.Cmd.Start(); err != nil {
		return nil, fmt.Errorf("start promgate: %w", err)
	}
	if err := WaitReady(ctx, p.URL+"/-/ready", 2*time.Minute); err != nil {
		p.Stop()
		return nil, err
	}
	return p, nil
}

// Stop ends the server and waits for it.
func (p *Promgate) Stop() {
	if p.Cmd.Process != nil {
		_ = p.Cmd.Process.Signal(os.Interrupt)
		_ = p.Cmd.Wait()
	}
}

// Credential is a key and token.
type Credential struct{ Key, Token string }

// CreateCredential makes a global credential on the server's data dir
// with `promgate admin credential create`.
func (p *Promgate) CreateCredential(ctx context.Context, name, role, scope string) (Credential, error) {
	out, err := exec.CommandContext(ctx, p.bin, "admin", "credential", "create", "--data-dir", p.DataDir,
		"--global", "--role", role, "--scope", scope, "--name", name, "--output", "json").Output()
	if err != nil {
		return Credential{}, fmt.Errorf("create credential %s: %w", name, err)
	}
	var c Credential
	if err := json.Unmarshal(out, &c); err != nil {
		return Credential{}, fmt.Errorf("credential output %q: %w", out, err)
	}
	return c, nil
}

// Main runs a benchmark program's run and exits 1, naming the program,
// if it fails.
func Main(name string, run func() error) {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "%s bench: %v\n", name, err)
		os.Exit(1)
	}
}

// Setup makes a temporary directory and builds promgate into it; cleanup
// removes the directory.
func Setup(ctx context.Context, name string) (dir, bin string, cleanup func(), err error) {
	dir, err = os.MkdirTemp("", "promgate-bench-"+name+"-")
	if err != nil {
		return "", "", nil, fmt.Errorf("temporary directory: %w", err)
	}
	cleanup = func() { _ = os.RemoveAll(dir) }
	if bin, err = Build(ctx, dir); err != nil {
		cleanup()
		return "", "", nil, err
	}
	return dir, bin, cleanup, nil
}
