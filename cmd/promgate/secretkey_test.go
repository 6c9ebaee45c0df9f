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
