package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/promgate/promgate/internal/testkit"
)

// serveResult is how one `promgate serve` attempt ended.
type serveResult struct {
	err      error
	panicked any
	took     time.Duration
	logs     string
}

// serveMustFail runs `promgate serve` with args on a free address and
// expects it to give up by itself: it fails the test if serve becomes
// ready instead (and stops it), or does not return within a minute.
func serveMustFail(t *testing.T, args ...string) serveResult {
	t.Helper()
	t.Setenv("PROMGATE_OWNER_PASSWORD", "")
	addr := testkit.FreeAddr(t)
	hasListen := false
	for _, a := range args {
		if a == "--listen" || strings.HasPrefix(a, "--listen=") {
			hasListen = true
		}
	}
	if !hasListen {
		args = append([]string{"--listen", addr}, args...)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs := &testkit.LogBuffer{}
	done := make(chan serveResult, 1)
	start := time.Now()
	go func() {
		var res serveResult
		defer func() {
			res.panicked = recover()
			res.took = time.Since(start)
			done <- res
		}()
		res.err = run(ctx, append([]string{"serve"}, args...), nil, io.Discard, logs)
	}()
	deadline := time.After(time.Minute)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case res := <-done:
			res.logs = logs.String()
			if res.panicked != nil {
				t.Fatalf("serve panicked: %v\nlogs:\n%s", res.panicked, res.logs)
			}
			if res.err == nil {
				t.Fatalf("serve returned no error\nlogs:\n%s", res.logs)
			}
			if code := exitCode(res.err); code != 1 {
				t.Errorf("exit status %d, want 1 (err: %v)", code, res.err)
			}
			t.Logf("serve refused after %v: %v", res.took.Round(time.Millisecond), res.err)
			if msg := res.err.Error(); strings.Contains(msg, "\n") {
				t.Errorf("the error is not one line: %q", msg)
			}
			return res
		case <-tick.C:
			if !hasListen && ready(addr) {
				cancel()
				res := <-done
				t.Fatalf("serve started instead of refusing (%v)\nlogs:\n%s", res.err, logs.String())
			}
		case <-deadline:
			t.Fatalf("serve neither failed nor became ready within a minute\nlogs:\n%s", logs.String())
		}
	}
}

func ready(addr string) bool {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get("http://" + addr + "/-/ready")
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// startServe runs `promgate serve` until the test ends and waits until it
// is ready; it returns the address and a function that stops it.
func startServe(t *testing.T, dir string, extra ...string) (addr string, stop func()) {
	t.Helper()
	t.Setenv("PROMGATE_OWNER_PASSWORD", "")
	addr = testkit.FreeAddr(t)
	srv := serveInTest(t, append([]string{"--listen", addr, "--data-dir", dir}, extra...)...)
	var once sync.Once
	stop = func() { once.Do(func() { srv.stop(t) }) }
	t.Cleanup(stop)
	srv.waitReady(t, &http.Client{Timeout: time.Second}, "http://"+addr)
	return addr, stop
}

// TestStartupFailures: each start-up fault ends `promgate serve` with one
// line that names what failed and what to do, exit status 1, and no panic;
// everything opened before the fault is closed again, so a later start on
// the same data dir works.
func TestStartupFailures(t *testing.T) {
	refused := testkit.FreeAddr(t) // nothing listens here
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string) []string
		want  []string
	}{
		{
			name: "postgres unreachable",
			setup: func(t *testing.T, dir string) []string {
				return []string{"--store.url", "postgres://promgate:secret-pw@" + refused + "/promgate?sslmode=disable&connect_timeout=5"}
			},
			want: []string{"PostgreSQL", refused, "--store.url"},
		},
		{
			name: "unsupported store URL",
			setup: func(t *testing.T, dir string) []string {
				return []string{"--store.url", "mysql://x"}
			},
			want: []string{"mysql://x", "postgres://"},
		},
		{
			name: "secret key file with garbage",
			setup: func(t *testing.T, dir string) []string {
				key := filepath.Join(t.TempDir(), "key")
				if err := os.WriteFile(key, []byte("not a key\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				return []string{"--secret-key-file", key}
			},
			want: []string{"secret key", "--secret-key-file"},
		},
		{
			name: "secret key file in a missing directory",
			setup: func(t *testing.T, dir string) []string {
				blocker := filepath.Join(t.TempDir(), "file")
				if err := os.WriteFile(blocker, nil, 0o600); err != nil {
					t.Fatal(err)
				}
				return []string{"--secret-key-file", filepath.Join(blocker, "key")}
			},
			want: []string{"secret key", "--secret-key-file"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("PROMGATE_STORE_URL", "")
			dir := t.TempDir()
			args := append([]string{"--data-dir", dir}, tc.setup(t, dir)...)
			res := serveMustFail(t, args...)
			for _, w := range tc.want {
				if !strings.Contains(res.err.Error(), w) {
					t.Errorf("error %q does not mention %q", res.err, w)
				}
			}
			if strings.Contains(res.err.Error()+res.logs, "secret-pw") {
				t.Errorf("the store password leaked: %v\n%s", res.err, res.logs)
			}
			// Everything was closed: the same data dir starts normally.
			_, stop := startServe(t, dir)
			stop()
		})
	}
}

// TestSecondServeOnSameDataDir: a second `promgate serve` on a data dir in
// use is refused at once, before it touches anything, with a message naming
// the data dir and the process holding it; the first keeps running.
func TestSecondServeOnSameDataDir(t *testing.T) {
	dir := t.TempDir()
	addr, _ := startServe(t, dir)
	res := serveMustFail(t, "--data-dir", dir)
	for _, w := range []string{dir, "in use", fmt.Sprint(os.Getpid())} {
		if !strings.Contains(res.err.Error(), w) {
			t.Errorf("error %q does not mention %q", res.err, w)
		}
	}
	if res.took > 2*time.Second {
		t.Errorf("refused after %v; the lock should refuse at once", res.took)
	}
	if !ready(addr) {
		t.Error("the first server is no longer ready")
	}
}

// TestListenAddressInUse: an address in use is reported at once, before the
// data dir is touched.
func TestListenAddressInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dir := filepath.Join(t.TempDir(), "data")
	res := serveMustFail(t, "--data-dir", dir, "--listen", ln.Addr().String())
	for _, w := range []string{ln.Addr().String(), "address already in use", "--listen"} {
		if !strings.Contains(res.err.Error(), w) {
			t.Errorf("error %q does not mention %q", res.err, w)
		}
	}
	if res.took > 2*time.Second {
		t.Errorf("refused after %v; binding first should refuse at once", res.took)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the data dir was touched before the address was bound: %v", err)
	}
}

// copyDir copies a data dir (regular files and directories only).
func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		dst := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o700)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// seedDataDir runs promgate once, as a user would, and adds users and
// credentials: a data dir with a TSDB, a secret key and a store of several
// pages.
func seedDataDir(t *testing.T) string {
	t.Helper()
	t.Setenv("PROMGATE_STORE_URL", "")
	dir := t.TempDir()
	_, stop := startServe(t, dir)
	dd := "--data-dir=" + dir
	for i := range 40 {
		mustAdmin(t, "", "credential", "create", dd, "--global", "--role", "VIEWER", "--name", fmt.Sprintf("c%d-%s", i, strings.Repeat("x", 180)))
	}
	mustAdmin(t, "alice-password\n", "user", "add", dd, "--login", "alice", "--role", "EDITOR", "--password-stdin")
	stop()
	return dir
}

// TestDamagedStoreRefused: an emptied or damaged promgate.db beside earlier
// state is refused with a message that says to restore a backup, and the
// file is left as it was.
func TestDamagedStoreRefused(t *testing.T) {
	seed := seedDataDir(t)
	db := filepath.Join(seed, "promgate.db")
	fi, err := os.Stat(db)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() < 64<<10 {
		t.Fatalf("seed store is only %d bytes; the damage below needs a bigger one", fi.Size())
	}
	if _, err := os.Stat(db + "-wal"); err == nil {
		t.Logf("note: %s-wal is present after a clean stop", db)
	}
	garbage := bytes.Repeat([]byte{0xA5, 0x5A, 0x00, 0xFF}, 1024) // 4 KiB
	tests := []struct {
		name   string
		damage func(t *testing.T, path string)
		want   []string
	}{
		{"empty file", func(t *testing.T, path string) {
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
		}, []string{"empty", "backup"}},
		{"deleted file", func(t *testing.T, path string) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		}, []string{"missing", "backup"}},
		{"no users left", func(t *testing.T, path string) {
			db, err := sql.Open("sqlite", path)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.Exec(`DELETE FROM users; DELETE FROM credentials`); err != nil {
				t.Fatal(err)
			}
		}, []string{"has no users", "backup"}},
		{"garbage in the middle", func(t *testing.T, path string) {
			writeAt(t, path, garbage, (fi.Size()/2)&^4095)
		}, []string{"damaged", "backup"}},
		{"garbage header", func(t *testing.T, path string) {
			writeAt(t, path, garbage[:100], 0)
		}, []string{"damaged", "backup"}},
		{"truncated", func(t *testing.T, path string) {
			if err := os.Truncate(path, fi.Size()/2+1000); err != nil {
				t.Fatal(err)
			}
		}, []string{"damaged", "backup"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			copyDir(t, seed, dir)
			path := filepath.Join(dir, "promgate.db")
			tc.damage(t, path)
			before, _ := os.ReadFile(path)
			res := serveMustFail(t, "--data-dir", dir)
			for _, w := range append([]string{path}, tc.want...) {
				if !strings.Contains(res.err.Error(), w) {
					t.Errorf("error %q does not mention %q", res.err, w)
				}
			}
			after, _ := os.ReadFile(path)
			if !bytes.Equal(before, after) {
				t.Errorf("the store file changed: %d bytes before, %d after", len(before), len(after))
			}
			if strings.Contains(res.logs, "created the first OWNER") {
				t.Errorf("a new OWNER was created:\n%s", res.logs)
			}
		})
	}
}

func writeAt(t *testing.T, path string, b []byte, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestServeFlagMistakes: a mistyped flag or a --listen that is not
// host:port is a mistake in the flags (exit status 2, as the README says),
// and the message says what --listen wants; nothing is created.
func TestServeFlagMistakes(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"unknown flag", []string{"--lisen", "127.0.0.1:0"}, []string{"-lisen"}},
		{"port without colon", []string{"--listen", "8030"}, []string{"--listen", "host:port", ":8030"}},
		{"host without port", []string{"--listen", "localhost"}, []string{"--listen", "host:port"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var stderr testkit.LogBuffer
			err := run(ctx, append([]string{"serve", "--data-dir", dir}, tt.args...), nil, io.Discard, &stderr)
			if err == nil {
				t.Fatal("no error")
			}
			if code := exitCode(err); code != 2 {
				t.Errorf("exit status %d, want 2 (err: %v)", code, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q: %v", w, err)
				}
			}
			if strings.Contains(err.Error(), "stop what uses this one") {
				t.Errorf("error blames another process: %v", err)
			}
			if _, serr := os.Stat(dir); !errors.Is(serr, os.ErrNotExist) {
				t.Errorf("data dir created: %v", serr)
			}
		})
	}
}
