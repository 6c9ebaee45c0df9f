package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type createdCredential struct{ Key, Token string }

func createCredential(t *testing.T, dir string, args ...string) createdCredential {
	t.Helper()
	out := mustAdmin(t, "", append([]string{"credential", "create", "--data-dir=" + dir, "--output", "json"}, args...)...)
	var c createdCredential
	if err := json.Unmarshal([]byte(out), &c); err != nil || c.Key == "" {
		t.Fatalf("credential JSON %q: %v", out, err)
	}
	return c
}

func queryStatus(t *testing.T, addr string, c createdCredential) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/api-server/v1/grafana/api/datasources/proxy/1/api/v1/query?query=up", nil)
	req.SetBasicAuth(c.Key, c.Token)
	client := http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

// TestBackupWhileServingAndRestore: `promgate admin backup` copies the
// store while the server runs and writes go on; after the store is lost,
// the README's restore steps bring back every user and credential the
// backup holds.
func TestBackupWhileServingAndRestore(t *testing.T) {
	t.Setenv("PROMGATE_STORE_URL", "")
	dir := t.TempDir()
	addr, stop := startServe(t, dir)
	dd := "--data-dir=" + dir
	mustAdmin(t, "alice-password\n", "user", "add", dd, "--login", "alice", "--role", "EDITOR", "--password-stdin")
	alice := createCredential(t, dir, "--user", "alice", "--name", "alice-ci")
	global := createCredential(t, dir, "--global", "--role", "VIEWER", "--name", "dashboards")

	// Writes keep going while the backup runs.
	var wg sync.WaitGroup
	stopWriting := make(chan struct{})
	var writeErr atomic.Pointer[error]
	var written atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stopWriting:
				return
			default:
			}
			if _, errOut, err := admin(t, "", "credential", "create", dd, "--global", "--role", "VIEWER", "--name", fmt.Sprintf("during-%d", i)); err != nil {
				err := fmt.Errorf("%v: %s", err, errOut)
				writeErr.Store(&err)
				return
			}
			written.Add(1)
		}
	}()
	for deadline := time.Now().Add(time.Minute); written.Load() < 3 && writeErr.Load() == nil; {
		if time.Now().After(deadline) {
			t.Fatal("the writer made no progress")
		}
		time.Sleep(10 * time.Millisecond)
	}
	backup := filepath.Join(t.TempDir(), "promgate-backup.db")
	out, errOut, err := admin(t, "", "backup", dd, "--output", backup)
	close(stopWriting)
	wg.Wait()
	if err != nil {
		t.Fatalf("backup while serving: %v\n%s", err, errOut)
	}
	if p := writeErr.Load(); p != nil {
		t.Fatalf("a write during the backup failed: %v", *p)
	}
	t.Logf("backup said: %s%s(%d credentials written meanwhile)", out, errOut, written.Load())
	var inBackup int
	if _, err := fmt.Sscanf(out[strings.Index(out, "users, ")+len("users, "):], "%d credentials", &inBackup); err != nil || inBackup < 5 {
		t.Fatalf("backup holds %d credentials (%v), want at least the 5 made before it", inBackup, err)
	}
	if !strings.Contains(out+errOut, "secret.key") {
		t.Errorf("the backup does not remind to keep secret.key: %s%s", out, errOut)
	}
	fi, err := os.Stat(backup)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("backup mode %v, want 0600 (it holds password and token hashes)", fi.Mode().Perm())
	}
	before, _ := os.ReadFile(backup)
	if _, _, err := admin(t, "", "backup", dd, "--output", backup); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("a second backup onto the same file: %v, want a refusal", err)
	}
	if after, _ := os.ReadFile(backup); string(after) != string(before) {
		t.Error("the existing backup was changed")
	}
	if matches, _ := filepath.Glob(filepath.Join(filepath.Dir(backup), ".promgate-backup-*")); len(matches) > 0 {
		t.Errorf("temporary files left behind: %v", matches)
	}
	stop()

	// The store is lost.
	db := filepath.Join(dir, "promgate.db")
	if err := os.Truncate(db, 0); err != nil {
		t.Fatal(err)
	}
	// The README's restore steps: the -wal and -shm files belong to the old
	// file and go with it; the backup becomes promgate.db, mode 0600.
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Rename(db+suffix, db+suffix+".broken"); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	copyFile(t, backup, db)

	addr, _ = startServe(t, dir)
	for name, c := range map[string]createdCredential{"alice's": alice, "global": global} {
		if status := queryStatus(t, addr, c); status != http.StatusOK {
			t.Errorf("%s credential after the restore: %d", name, status)
		}
	}
	var creds []json.RawMessage
	if err := json.Unmarshal([]byte(mustAdmin(t, "", "credential", "list", dd, "--output", "json")), &creds); err != nil {
		t.Fatal(err)
	}
	if len(creds) != inBackup {
		t.Errorf("after the restore: %d credentials, the backup said %d", len(creds), inBackup)
	}
	users := mustAdmin(t, "", "user", "list", dd, "--output", "json")
	if !strings.Contains(users, `"login": "alice"`) || !strings.Contains(users, `"login": "admin"`) {
		t.Errorf("users after the restore: %s", users)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestBackupErrors(t *testing.T) {
	t.Setenv("PROMGATE_STORE_URL", "")
	tests := []struct {
		name     string
		args     func(t *testing.T) []string
		want     string
		exitCode int
	}{
		{"postgres", func(t *testing.T) []string {
			return []string{"--store-url", "postgres://u:secret-pw@127.0.0.1:1/db", "--output", filepath.Join(t.TempDir(), "b.db")}
		}, "pg_dump", 1},
		{"no output", func(t *testing.T) []string { return []string{"--data-dir", t.TempDir()} }, "--output", 2},
		{"no store in the data dir", func(t *testing.T) []string {
			return []string{"--data-dir", t.TempDir(), "--output", filepath.Join(t.TempDir(), "b.db")}
		}, "no store", 1},
		{"output directory missing", func(t *testing.T) []string {
			dir := t.TempDir()
			mustAdmin(t, "pw-123456789\n", "user", "add", "--data-dir", dir, "--login", "root", "--password-stdin")
			return []string{"--data-dir", dir, "--output", filepath.Join(t.TempDir(), "missing", "b.db")}
		}, "missing", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args(t)
			_, errOut, err := admin(t, "", append([]string{"backup"}, args...)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) || exitCode(err) != tc.exitCode {
				t.Fatalf("err = %v (exit %d), want one mentioning %q, exit %d; stderr %s", err, exitCode(err), tc.want, tc.exitCode, errOut)
			}
			if strings.Contains(err.Error()+errOut, "secret-pw") {
				t.Errorf("the password leaked: %v %s", err, errOut)
			}
			if i := indexOf(args, "--output"); i >= 0 {
				if _, err := os.Stat(args[i+1]); !os.IsNotExist(err) {
					t.Errorf("%s was created: %v", args[i+1], err)
				}
			}
		})
	}
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}
