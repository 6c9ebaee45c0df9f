// Package testpeer is how tests say that a real peer they need (PostgreSQL,
// a Prometheus, promtool or Thanos binary, Chromium, Python with requests) is
// missing. Locally such a test skips; under CI=true it fails, so CI cannot
// pass without having run it. Each skip is also appended to the file named
// by PROMGATE_TEST_PEER_LOG, which test.sh sets, so that one line at the end
// of the run can say which peers were missing and how many tests skipped
// (`go test` itself prints "ok" for a package whose tests all skipped).
package testpeer

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// EnvLog names the file skips are appended to; unset, nothing is recorded.
const EnvLog = "PROMGATE_TEST_PEER_LOG"

// Peer names used by the tests (the summary groups by them).
const (
	PostgreSQL = "postgresql"
	Prometheus = "prometheus"
	Thanos     = "thanos"
	Promtool   = "promtool"
	Chromium   = "chromium"
	PythonReq  = "python3-requests"
	Hydra      = "hydra" // Ory Hydra, the OpenID provider of the OIDC tests
	Memcached  = "memcached"
)

// Missing skips t because peer is missing, or fails it under CI=true. how
// says how to get the peer; it is printed with the skip and in the summary.
func Missing(t testing.TB, peer, how string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is missing and CI=true: CI must run the tests that need it; %s", peer, how)
	}
	if err := record(os.Getenv(EnvLog), peer, t.Name(), how); err != nil {
		t.Logf("testpeer: recording the skip: %v", err)
	}
	t.Skipf("skipping: %s is missing; %s", peer, how)
}

// record appends one tab-separated line: peer, package dir, test, how.
func record(path, peer, test, how string) error {
	if path == "" {
		return nil
	}
	line := strings.Join([]string{clean(peer), clean(packageDir()), clean(test), clean(how)}, "\t") + "\n"
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	// One write with O_APPEND: lines from test binaries running in parallel
	// do not interleave.
	if _, err := f.WriteString(line); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, s)
}

// packageDir is the test's package directory relative to the module root
// (go test runs a test binary in its package directory).
func packageDir() string {
	wd, err := os.Getwd()
	if err != nil {
		return "?"
	}
	for dir := wd; ; {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			if rel, err := filepath.Rel(dir, wd); err == nil {
				return filepath.ToSlash(rel)
			}
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return wd
}

// Skip is one recorded skip.
type Skip struct {
	Peer, Package, Test, How string
}

// ReadLog parses a log written by Missing; malformed lines are an error.
func ReadLog(data string) ([]Skip, error) {
	var out []Skip
	for i, line := range strings.Split(data, "\n") {
		if line == "" {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 4 {
			return nil, fmt.Errorf("line %d: want 4 tab-separated fields, got %d", i+1, len(f))
		}
		out = append(out, Skip{Peer: f[0], Package: f[1], Test: f[2], How: f[3]})
	}
	return out, nil
}
