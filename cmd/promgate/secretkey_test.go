package main

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMissingSecretKeyRefusedWhenSecretsAreStored: with data source
// secrets in the store, a missing secret key file is refused with a message
// that says to restore it, instead of a new key being generated (with which
// the stored secrets never decrypt, silently). A store without secrets still
// gets a new key, as on a first start.
func TestMissingSecretKeyRefusedWhenSecretsAreStored(t *testing.T) {
	t.Setenv("PROMGATE_STORE_URL", "")
	dir := t.TempDir()
	addr, stop := startServe(t, dir)
	var cred struct{ Key, Token string }
	out := mustAdmin(t, "", "credential", "create", "--data-dir="+dir, "--global", "--role", "OWNER", "--scope", "read,write", "--name", "owner", "--output", "json")
	if err := json.Unmarshal([]byte(out), &cred); err != nil {
		t.Fatalf("credential json: %v: %s", err, out)
	}
	body := `{"name":"remote","url":"http://127.0.0.1:9/","env":"prod","bearerToken":"s3cret-token"}`
	req, _ := http.NewRequest("POST", "http://"+addr+"/api-server/v1/datasources", strings.NewReader(body))
	req.SetBasicAuth(cred.Key, cred.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("add data source: %d %s", resp.StatusCode, raw)
	}
	stop()

	keyFile := filepath.Join(dir, "secret.key")
	if err := os.Remove(keyFile); err != nil {
		t.Fatal(err)
	}
	res := serveMustFail(t, "--data-dir", dir)
	for _, w := range []string{keyFile, "missing", "1 data source", "restore"} {
		if !strings.Contains(res.err.Error(), w) {
			t.Errorf("error %q does not mention %q", res.err, w)
		}
	}
	if _, err := os.Stat(keyFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a new secret key file was written (stat: %v)", err)
	}
	if strings.Contains(res.logs, "generated the key") {
		t.Errorf("a new key was generated:\n%s", res.logs)
	}
}

// TestSymlinkedLockRefused: a data dir whose lock file is a symlink is
// refused before anything is written through it (the pid written into the
// lock would otherwise replace whatever file the link names).
func TestSymlinkedLockRefused(t *testing.T) {
	t.Setenv("PROMGATE_STORE_URL", "")
	dir := t.TempDir()
	target := filepath.Join(t.TempDir(), "precious")
	if err := os.WriteFile(target, []byte("precious\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(dir, "lock")); err != nil {
		t.Fatal(err)
	}
	res := serveMustFail(t, "--data-dir", dir)
	for _, w := range []string{filepath.Join(dir, "lock"), "not a regular file"} {
		if !strings.Contains(res.err.Error(), w) {
			t.Errorf("error %q does not mention %q", res.err, w)
		}
	}
	if b, _ := os.ReadFile(target); string(b) != "precious\n" {
		t.Errorf("the file the lock links to now holds %q", b)
	}
	if _, err := os.Stat(filepath.Join(dir, "promgate.db")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the store was created in a data dir that was refused (stat: %v)", err)
	}
}
