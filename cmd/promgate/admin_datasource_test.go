package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/promgate/promgate/internal/promtest"
	"github.com/promgate/promgate/internal/server"
)

func adminDS(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := runAdmin(context.Background(), append([]string{"datasource"}, args...), strings.NewReader(stdin), &out, &errOut)
	return out.String(), errOut.String(), err
}

// authRecorder is a backend on 127.0.0.1 that keeps the last Authorization
// and tenant header it got.
type authRecorder struct {
	mu         sync.Mutex
	auth, orgs string
}

func (a *authRecorder) get() (string, string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.auth, a.orgs
}

// TestAdminDatasource adds, lists and removes a data source with the CLI
// while a server runs on the same data dir, and checks the server uses it
// with the decrypted password.
func TestAdminDatasource(t *testing.T) {
	dir := t.TempDir()
	srv := promtest.Start(t, promtest.WithDataDir(dir))
	rec := &authRecorder{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	backend := &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.mu.Lock()
		rec.auth, rec.orgs = r.Header.Get("Authorization"), r.Header.Get("X-Scope-OrgID")
		rec.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"success","data":{"resultType":"vector","result":[]}}`)
	})}}
	backend.Start()
	t.Cleanup(backend.Close)

	const password = "cli-pw-never-shown"
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, err := adminDS(t, "", "add", "--data-dir", dir, "--name", "mimir", "--url", backend.URL+"/prometheus", "--env", "prod",
		"--site", "eu-1", "--basic-auth-user", "svc", "--basic-auth-password-file", pwFile, "--header", "X-Scope-OrgID=team-a", "--timeout", "5s", "--output", "json",
		"--write-url", backend.URL+"/api/v1/push")
	if err != nil {
		t.Fatalf("add: %v\n%s", err, errOut)
	}
	var added map[string]any
	dec := json.NewDecoder(strings.NewReader(out))
	if err := dec.Decode(&added); err != nil || dec.More() {
		t.Fatalf("add --output json is not exactly one object: %v\n%s", err, out)
	}
	id, uid := added["id"].(float64), added["uid"].(string)
	if id < 2 || uid == "" || added["hasBasicAuthPassword"] != true || added["timeoutSeconds"] != 5.0 ||
		added["writeUrl"] != backend.URL+"/api/v1/push" || added["writable"] != true {
		t.Fatalf("added: %s", out)
	}
	if strings.Contains(out+errOut, password) {
		t.Fatal("add output holds the password")
	}

	query := fmt.Sprintf("%s%s%d/api/v1/query?query=up", srv.URL, server.ProxyPrefix, int64(id))
	status := waitStatus(t, srv, query, http.StatusOK)
	if status != http.StatusOK {
		t.Fatalf("server does not serve the new data source: %d", status)
	}
	gotAuth, gotOrg := rec.get()
	if want := "Basic " + base64.StdEncoding.EncodeToString([]byte("svc:"+password)); gotAuth != want || gotOrg != "team-a" {
		t.Fatalf("backend got Authorization %q, X-Scope-OrgID %q", gotAuth, gotOrg)
	}

	out, _, err = adminDS(t, "", "list", "--data-dir", dir, "--output", "json")
	if err != nil || !strings.Contains(out, uid) || strings.Contains(out, password) || !strings.Contains(out, `"hasBasicAuthPassword": true`) {
		t.Fatalf("list: %v\n%s", err, out)
	}
	out, _, err = adminDS(t, "", "list", "--data-dir", dir)
	if err != nil || !strings.Contains(out, "basic svc") || !strings.Contains(out, "mimir") || !strings.Contains(out, "WRITE URL") ||
		!strings.Contains(out, backend.URL+"/api/v1/push") || !strings.Contains(out, "QUERY CACHE") {
		t.Fatalf("list text: %v\n%s", err, out)
	}
	if out, _, err = adminDS(t, "", "test", "--data-dir", dir, "--uid", uid); err != nil || !strings.Contains(out, "Data source is working") {
		t.Fatalf("test: %v\n%s", err, out)
	}

	// Bearer token from stdin.
	out, errOut, err = adminDS(t, "tok-from-stdin\n", "add", "--data-dir", dir, "--name", "thanos", "--url", backend.URL, "--env", "stage", "--bearer-token-file", "-",
		"--no-step-align", "--output", "json")
	if err != nil {
		t.Fatalf("add bearer: %v\n%s", err, errOut)
	}
	var dsView struct {
		Cache struct{ Disabled, NoStepAlign bool }
	}
	if err := json.Unmarshal([]byte(out), &dsView); err != nil || dsView.Cache.Disabled || !dsView.Cache.NoStepAlign {
		t.Fatalf("--no-step-align not in the query cache settings (%v): %s", err, out)
	}
	var bearer map[string]any
	_ = json.Unmarshal([]byte(out), &bearer)
	waitStatus(t, srv, fmt.Sprintf("%s%s%d/api/v1/query?query=up", srv.URL, server.ProxyPrefix, int64(bearer["id"].(float64))), http.StatusOK)
	if gotAuth, _ := rec.get(); gotAuth != "Bearer tok-from-stdin" {
		t.Fatalf("bearer: backend got %q", gotAuth)
	}

	if out, _, err = adminDS(t, "", "remove", "--data-dir", dir, "--uid", uid); err != nil || !strings.Contains(out, "removed") {
		t.Fatalf("remove: %v\n%s", err, out)
	}
	if status := waitStatus(t, srv, query, http.StatusNotFound); status != http.StatusNotFound {
		t.Fatalf("removed data source still served: %d", status)
	}
	if _, _, err = adminDS(t, "", "remove", "--data-dir", dir, "--id", fmt.Sprint(int64(id))); err == nil {
		t.Fatal("second remove succeeded")
	}
	raw, _ := os.ReadFile(filepath.Join(dir, "promgate.db"))
	wal, _ := os.ReadFile(filepath.Join(dir, "promgate.db-wal"))
	if bytes.Contains(raw, []byte(password)) || bytes.Contains(wal, []byte(password)) {
		t.Fatal("database holds the password in the clear")
	}
}

// waitStatus polls url (bounded) until it answers want; the server notices
// CLI changes within its data source cache TTL.
func waitStatus(t *testing.T, srv *promtest.Server, url string, want int) int {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	status := 0
	for range 50 {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.SetBasicAuth(srv.Key, srv.Token)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if status = resp.StatusCode; status == want {
			return status
		}
		time.Sleep(100 * time.Millisecond)
	}
	return status
}

func TestAdminDatasourceUsage(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	_ = os.WriteFile(pw, []byte("x\n"), 0o600)
	empty := filepath.Join(dir, "empty")
	_ = os.WriteFile(empty, nil, 0o600)
	cases := []struct {
		name string
		args []string
	}{
		{"no command", nil},
		{"unknown command", []string{"frob"}},
		{"add without env", []string{"add", "--data-dir", dir, "--name", "a", "--url", "http://x:9090"}},
		{"add bad url", []string{"add", "--data-dir", dir, "--name", "a", "--url", "http://u:p@x:9090", "--env", "e"}},
		{"add both auth kinds", []string{"add", "--data-dir", dir, "--name", "a", "--url", "http://x", "--env", "e", "--basic-auth-user", "u", "--bearer-token-file", pw}},
		{"password without user", []string{"add", "--data-dir", dir, "--name", "a", "--url", "http://x", "--env", "e", "--basic-auth-password-file", pw}},
		{"empty password file", []string{"add", "--data-dir", dir, "--name", "a", "--url", "http://x", "--env", "e", "--basic-auth-user", "u", "--basic-auth-password-file", empty}},
		{"bad header", []string{"add", "--data-dir", dir, "--name", "a", "--url", "http://x", "--env", "e", "--header", "novalue"}},
		{"forbidden header", []string{"add", "--data-dir", dir, "--name", "a", "--url", "http://x", "--env", "e", "--header", "Authorization=Bearer x"}},
		{"write url without path", []string{"add", "--data-dir", dir, "--name", "a", "--url", "http://x", "--env", "e", "--write-url", "http://x"}},
		{"remove without id", []string{"remove", "--data-dir", dir}},
		{"remove both", []string{"remove", "--data-dir", dir, "--id", "2", "--uid", "x"}},
		{"remove embedded", []string{"remove", "--data-dir", dir, "--id", "1"}},
		{"bad output", []string{"list", "--data-dir", dir, "--output", "yaml"}},
		{"extra args", []string{"list", "--data-dir", dir, "x"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := adminDS(t, "", tc.args...)
			var u usageError
			if !errors.As(err, &u) {
				t.Fatalf("err = %v, want a usage error (exit 2)", err)
			}
		})
	}
}

// TestAdminDatasourceMutualTLS: `admin datasource add` reads the TLS files
// given by --ca-file, --cert-file and --key-file when adding; the server
// then reaches a backend that requires that client certificate, and
// nothing shows the key.
func TestAdminDatasourceMutualTLS(t *testing.T) {
	dir := t.TempDir()
	srv := promtest.Start(t, promtest.WithDataDir(dir))
	pki := promtest.NewPKI(t)
	serverCert, err := tls.LoadX509KeyPair(pki.CertFile, pki.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	backend := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"success","data":{"resultType":"vector","result":[]}}`)
	}))
	backend.TLS = &tls.Config{Certificates: []tls.Certificate{serverCert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pki.Pool, MinVersion: tls.VersionTLS12}
	backend.StartTLS()
	t.Cleanup(backend.Close)

	// A key that is not the certificate's is refused when adding.
	_, _, err = adminDS(t, "", "add", "--data-dir", dir, "--name", "bad", "--url", backend.URL, "--env", "prod",
		"--ca-file", pki.CAFile, "--cert-file", pki.ClientCertFile, "--key-file", pki.KeyFile)
	if err == nil || !strings.Contains(err.Error(), "tlsClientCert and tlsClientKey") {
		t.Fatalf("mismatched key: %v", err)
	}

	out, errOut, err := adminDS(t, "", "add", "--data-dir", dir, "--name", "mtls", "--url", backend.URL, "--env", "prod",
		"--ca-file", pki.CAFile, "--cert-file", pki.ClientCertFile, "--key-file", pki.ClientKeyFile, "--server-name", "localhost", "--output", "json")
	if err != nil {
		t.Fatalf("add: %v\n%s", err, errOut)
	}
	var added map[string]any
	if err := json.Unmarshal([]byte(out), &added); err != nil {
		t.Fatal(err)
	}
	if added["hasTLSClientKey"] != true || added["tlsServerName"] != "localhost" || !strings.Contains(fmt.Sprint(added["tlsClientCert"]), "BEGIN CERTIFICATE") {
		t.Fatalf("added: %s", out)
	}
	query := fmt.Sprintf("%s%s%d/api/v1/query?query=up", srv.URL, server.ProxyPrefix, int64(added["id"].(float64)))
	if status := waitStatus(t, srv, query, http.StatusOK); status != http.StatusOK {
		t.Fatalf("mutual TLS backend through the server: %d", status)
	}
	list, _, err := adminDS(t, "", "list", "--data-dir", dir, "--output", "json")
	if err != nil || strings.Contains(out+list, "PRIVATE KEY") || !strings.Contains(list, `"hasTLSClientKey": true`) {
		t.Fatalf("list: %v\n%s", err, list)
	}
}
