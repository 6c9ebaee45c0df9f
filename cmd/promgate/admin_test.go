package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/promgate/promgate/internal/auth"
	"github.com/promgate/promgate/internal/store/sqlstore"
)

// admin runs `promgate admin args...` and returns stdout, stderr, error.
func admin(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := runAdmin(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return out.String(), errOut.String(), err
}

func mustAdmin(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, errOut, err := admin(t, stdin, args...)
	if err != nil {
		t.Fatalf("admin %v: %v\nstderr: %s", args, err, errOut)
	}
	return out
}

// serverAuth is what a running server would have: its own store handle on
// the data dir and an Authenticator polling the generation.
func serverAuth(t *testing.T, dataDir string) *auth.Authenticator {
	t.Helper()
	st, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(dataDir, "promgate.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	a := auth.New(auth.Options{Store: st, CacheTTL: time.Hour, GenerationPoll: 100 * time.Millisecond})
	t.Cleanup(func() {
		_ = a.Close()
		_ = st.Close()
	})
	return a
}

func authenticate(a *auth.Authenticator, key, token string) (string, error) {
	req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1/api-server/v1/grafana/api/datasources/proxy/1/api/v1/query?query=up", nil)
	req.SetBasicAuth(key, token)
	p, err := a.Authenticate(req)
	if err != nil {
		return "", err
	}
	return p.Kind.String() + " " + p.Role.String() + " " + p.Login, nil
}

func TestAdminCredentialLifecycle(t *testing.T) {
	t.Setenv("PROMGATE_STORE_URL", "")
	dir := t.TempDir()
	dd := "--data-dir=" + dir
	mustAdmin(t, "first-user-pw\n", "user", "add", dd, "--login", "root", "--password-stdin")
	mustAdmin(t, "alice-password\n", "user", "add", dd, "--login", "alice", "--role", "EDITOR", "--password-stdin")
	users := mustAdmin(t, "", "user", "list", dd, "--output", "json")
	if !strings.Contains(users, `"role": "OWNER"`) || !strings.Contains(users, `"login": "alice"`) {
		t.Fatalf("first user must be OWNER, alice listed: %s", users)
	}
	srv := serverAuth(t, dir)

	tests := []struct {
		name     string
		args     []string
		want     string // principal as "kind role login"
		checkOut func(t *testing.T, m map[string]any)
	}{
		{"user credential", []string{"--user", "alice", "--name", "ci"}, "user_credential EDITOR alice", nil},
		{"global credential", []string{"--global", "--role", "VIEWER", "--name", "grafana", "--expires", "720h",
			"--scope", "read,write", "--datasource", "1,2", "--selector", `{env="prod"}`}, "global_credential VIEWER ",
			func(t *testing.T, m map[string]any) {
				if m["scope"] != "read,write" || m["selector"] != `{env="prod"}` || m["role"] != "VIEWER" || m["expiresAt"] == nil {
					t.Errorf("fields: %v", m)
				}
				if ids, _ := json.Marshal(m["dataSourceIds"]); string(ids) != "[1,2]" {
					t.Errorf("dataSourceIds %s", ids)
				}
			}},
		{"expiry in days", []string{"--user", "root", "--name", "d", "--expires", "30d"}, "user_credential OWNER root", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"credential", "create", dd, "--output", "json"}, tt.args...)
			out, stderr, err := admin(t, "", args...)
			if err != nil {
				t.Fatalf("%v: %s", err, stderr)
			}
			// Exactly one JSON object with key and token.
			dec := json.NewDecoder(strings.NewReader(out))
			var m map[string]any
			if err := dec.Decode(&m); err != nil {
				t.Fatalf("not JSON: %v: %s", err, out)
			}
			var extra any
			if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
				t.Fatalf("more than one JSON value on stdout: %s", out)
			}
			key, _ := m["key"].(string)
			token, _ := m["token"].(string)
			if !auth.ValidKey(key) || !auth.ValidToken(token) {
				t.Fatalf("key/token: %s", out)
			}
			if strings.Contains(stderr, token) {
				t.Fatal("token on stderr")
			}
			if tt.checkOut != nil {
				tt.checkOut(t, m)
			}
			got, err := authenticate(srv, key, token)
			if err != nil || got != tt.want {
				t.Fatalf("server authenticates as %q (%v), want %q", got, err, tt.want)
			}
			list := mustAdmin(t, "", "credential", "list", dd, "--output", "json")
			if !strings.Contains(list, key) || strings.Contains(list, token) {
				t.Fatalf("list must show the key and never the token: %s", list)
			}
			// Revoked by the CLI (another process, as far as the server
			// knows): refused within the generation poll.
			mustAdmin(t, "", "credential", "revoke", dd, "--key", key)
			deadline := time.Now().Add(2 * time.Second)
			for {
				if _, err := authenticate(srv, key, token); errors.Is(err, auth.ErrInvalidCredentials) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("server still accepts a credential revoked by the CLI")
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
	t.Run("text output", func(t *testing.T) {
		out := mustAdmin(t, "", "credential", "create", dd, "--user", "alice", "--name", "text")
		if !strings.Contains(out, "key:   pgk_") || !strings.Contains(out, "token: pgt_") {
			t.Fatalf("text output: %s", out)
		}
		list := mustAdmin(t, "", "credential", "list", dd, "--all")
		if !strings.Contains(list, "KEY") || !strings.Contains(list, "text") {
			t.Fatalf("table: %s", list)
		}
	})
}

func TestAdminUsageErrors(t *testing.T) {
	t.Setenv("PROMGATE_STORE_URL", "")
	dir := t.TempDir()
	dd := "--data-dir=" + dir
	mustAdmin(t, "alice-password\n", "user", "add", dd, "--login", "alice", "--password-stdin")
	tests := []struct {
		name  string
		stdin string
		args  []string
		usage bool
	}{
		{"no command", "", nil, true},
		{"unknown command", "", []string{"user", "frob"}, true},
		{"unknown flag", "", []string{"user", "list", dd, "--nope"}, true},
		{"password not from stdin", "", []string{"user", "add", dd, "--login", "bob"}, true},
		{"empty password", "\n", []string{"user", "add", dd, "--login", "bob", "--password-stdin"}, true},
		{"short password", "short\n", []string{"user", "add", dd, "--login", "bob", "--password-stdin"}, false},
		{"duplicate user", "alice-password\n", []string{"user", "add", dd, "--login", "ALICE", "--password-stdin"}, false},
		{"bad role", "bob-password\n", []string{"user", "add", dd, "--login", "bob", "--role", "ROOT", "--password-stdin"}, true},
		{"no name", "", []string{"credential", "create", dd, "--user", "alice"}, true},
		{"user and global", "", []string{"credential", "create", dd, "--user", "alice", "--global", "--role", "VIEWER", "--name", "x"}, true},
		{"neither user nor global", "", []string{"credential", "create", dd, "--name", "x"}, true},
		{"global without role", "", []string{"credential", "create", dd, "--global", "--name", "x"}, true},
		{"role on user credential", "", []string{"credential", "create", dd, "--user", "alice", "--role", "OWNER", "--name", "x"}, true},
		{"unknown user", "", []string{"credential", "create", dd, "--user", "nobody", "--name", "x"}, false},
		{"bad expiry", "", []string{"credential", "create", dd, "--user", "alice", "--name", "x", "--expires", "soon"}, true},
		{"bad scope", "", []string{"credential", "create", dd, "--user", "alice", "--name", "x", "--scope", "all"}, true},
		{"bad data source", "", []string{"credential", "create", dd, "--user", "alice", "--name", "x", "--datasource", "1,x"}, true},
		{"bad selector", "", []string{"credential", "create", dd, "--user", "alice", "--name", "x", "--selector", "{env="}, false},
		{"bad output", "", []string{"credential", "list", dd, "--output", "yaml"}, true},
		{"revoke nothing", "", []string{"credential", "revoke", dd}, true},
		{"revoke unknown key", "", []string{"credential", "revoke", dd, "--key", "pgk_AAAAAAAAAAAAAAAA"}, false},
		{"unsupported store URL", "", []string{"user", "list", dd, "--store-url", "mysql://x"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := admin(t, tt.stdin, tt.args...)
			if err == nil {
				t.Fatal("no error")
			}
			var u usageError
			if errors.As(err, &u) != tt.usage {
				t.Fatalf("usage error = %v, want %v: %v", !tt.usage, tt.usage, err)
			}
		})
	}
}

// TestAdminHelp: every way a newcomer asks the admin commands for help
// succeeds and prints usage that names the command asked about, instead of
// calling "-h" an unknown command.
func TestAdminHelp(t *testing.T) {
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"-h"}, []string{"user add", "credential create", "datasource add", "backup --output"}},
		{[]string{"user", "-h"}, []string{"user add", "user list", "user set-password"}},
		{[]string{"user", "--help"}, []string{"user add"}},
		{[]string{"credential", "-h"}, []string{"credential create", "credential list", "credential revoke"}},
		{[]string{"credential", "help"}, []string{"credential create"}},
		{[]string{"credential", "create", "-h"}, []string{"-name", "-scope", "-selector"}},
		{[]string{"datasource", "-h"}, []string{"add --name"}},
		{[]string{"backup", "-h"}, []string{"-output"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, errOut, err := admin(t, "", tt.args...)
			if err != nil {
				t.Fatalf("error %v\nstderr:\n%s", err, errOut)
			}
			for _, w := range tt.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("usage lacks %q:\n%s", w, errOut)
				}
			}
			if strings.Contains(errOut, "unknown") {
				t.Errorf("usage says unknown:\n%s", errOut)
			}
		})
	}
}

// TestTopLevelUsageNamesEveryCommand: `promgate -h` lists each admin group
// (on stderr, where kingpin writes help, as Prometheus' commands do).
func TestTopLevelUsageNamesEveryCommand(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-h"}, nil, io.Discard, &out); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"serve", "query", "query-range", "admin", "user", "credential", "datasource", "backup", "version"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("promgate -h lacks %q:\n%s", w, out.String())
		}
	}
}

// TestAdminCredentialCreateExample: the curl printed after creating a
// credential is one that works for it: its data source, the remote_write URL
// for a write-only one, and the server's --external-url when the environment
// sets it.
func TestAdminCredentialCreateExample(t *testing.T) {
	t.Setenv("PROMGATE_STORE_URL", "")
	dir := t.TempDir()
	dd := "--data-dir=" + dir
	tests := []struct {
		name     string
		external string
		args     []string
		want     []string
		wantNot  []string
	}{
		{
			name:    "default",
			args:    []string{"--name", "a"},
			want:    []string{"'http://localhost:8030/api-server/v1/grafana/api/datasources/proxy/1/api/v1/query?query=up'", "where promgate listens", "PROMGATE_KEY=", "PROMGATE_TOKEN="},
			wantNot: []string{"/api/v1/write"},
		},
		{
			name:     "limited to data source 2, external URL set",
			external: "https://promgate.example:9443/",
			args:     []string{"--name", "b", "--datasource", "2"},
			want:     []string{"'https://promgate.example:9443/api-server/v1/grafana/api/datasources/proxy/2/api/v1/query?query=up'"},
			wantNot:  []string{"localhost", "proxy/1/"},
		},
		{
			name:    "write only",
			args:    []string{"--name", "c", "--scope", "write"},
			want:    []string{"remote_write", "http://localhost:8030/api/v1/write"},
			wantNot: []string{"query?query=up", "PROMGATE_KEY="},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("PROMGATE_EXTERNAL_URL", tt.external)
			out := mustAdmin(t, "", append([]string{"credential", "create", dd, "--global", "--role", "EDITOR"}, tt.args...)...)
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tt.wantNot {
				if strings.Contains(out, w) {
					t.Errorf("output holds %q:\n%s", w, out)
				}
			}
		})
	}
}

// TestAdminMissingDataDir: an admin command pointed at a data dir that does
// not exist (run from another directory than the server's ./data, or a typo)
// says so instead of creating an empty store there, where a credential would
// be unknown to the running server.
func TestAdminMissingDataDir(t *testing.T) {
	t.Setenv("PROMGATE_STORE_URL", "")
	t.Setenv("PROMGATE_SECRET_KEY_FILE", "")
	dir := filepath.Join(t.TempDir(), "no-such-data")
	tests := [][]string{
		{"user", "list", "--data-dir", dir},
		{"credential", "create", "--data-dir", dir, "--global", "--role", "VIEWER", "--name", "x"},
		{"credential", "list", "--data-dir", dir},
		{"datasource", "list", "--data-dir", dir},
	}
	for _, args := range tests {
		t.Run(strings.Join(args[:2], " "), func(t *testing.T) {
			out, errOut, err := admin(t, "", args...)
			if err == nil {
				t.Fatalf("no error; stdout %q stderr %q", out, errOut)
			}
			for _, w := range []string{dir, "does not exist", "--data-dir", "promgate serve"} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q: %v", w, err)
				}
			}
			if _, serr := os.Stat(dir); !errors.Is(serr, os.ErrNotExist) {
				t.Errorf("data dir created: %v", serr)
			}
		})
	}
}
