package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/promgate/promgate/internal/auth"
	"github.com/promgate/promgate/internal/promtest"
	"github.com/promgate/promgate/internal/server"
	"github.com/promgate/promgate/internal/testkit"
)

const tlsTestPassword = "tls-test-owner-password"

// plaintextWarning is what the non-loopback-without-TLS warning says.
const plaintextWarning = "without TLS"

func tlsClient(cfg *tls.Config) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}}
}

// startServeTLS runs `promgate serve --listen addr args...` in its own data dir
// until the test ends, and waits until client sees /-/ready at baseURL.
func startServeTLS(t *testing.T, addr string, client *http.Client, baseURL string, args ...string) *testkit.LogBuffer {
	t.Helper()
	t.Setenv("PROMGATE_DATA_DIR", t.TempDir())
	t.Setenv("PROMGATE_OWNER_PASSWORD", tlsTestPassword)
	srv := serveInTest(t, append([]string{"--listen", addr}, args...)...)
	t.Cleanup(func() { srv.stop(t) })
	srv.waitReady(t, client, baseURL)
	return srv.logs
}

// createCredential makes a global VIEWER credential with `promgate admin`
// in the data dir startServe set.
func createGlobalViewer(t *testing.T) (key, token string) {
	t.Helper()
	var out bytes.Buffer
	if err := run(context.Background(), []string{"admin", "credential", "create", "--global", "--role", "VIEWER", "--name", "tls", "--output", "json"}, nil, &out, io.Discard); err != nil {
		t.Fatalf("admin credential create: %v", err)
	}
	var cred struct{ Key, Token string }
	if err := json.Unmarshal(out.Bytes(), &cred); err != nil {
		t.Fatalf("credential JSON %q: %v", out.String(), err)
	}
	return cred.Key, cred.Token
}

// checkUp asserts an answer to the reference's `up` query that includes
// promgate's own self-scrape with up == 1.
func checkUp(t *testing.T, body string) {
	t.Helper()
	if !strings.Contains(body, `"status":"success"`) || !strings.Contains(body, `"job":"promgate"`) || !strings.Contains(body, `"1"]`) {
		t.Fatalf("up answer: %s", body)
	}
}

// needCurl returns curl's path, or skips (fails under CI) when it is missing.
func needCurl(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("curl")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("curl not on PATH (apt-get install curl)")
		}
		t.Skip("curl not on PATH (apt-get install curl)")
	}
	return path
}

func writeWebConfig(t *testing.T, pki *promtest.PKI, yaml string) string {
	t.Helper()
	path := filepath.Join(pki.Dir, "web-config.yml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestServeTLS serves with a --web.config.file holding a certificate from a
// CA made here, and talks to it as the reference does: https://key:token@...
// with Go's client, curl and the seed Python script.
func TestServeTLS(t *testing.T) {
	pki := promtest.NewPKI(t)
	webConfig := writeWebConfig(t, pki, `tls_server_config:
  cert_file: server.pem
  key_file: server-key.pem
http_server_config:
  headers:
    Strict-Transport-Security: max-age=63072000
`)
	addr := testkit.FreeAddr(t)
	client := tlsClient(pki.ClientTLS())
	logs := startServeTLS(t, addr, client, "https://"+addr, "--web.config.file", webConfig)
	key, token := createGlobalViewer(t)
	queryURL := "https://" + key + ":" + token + "@" + addr + server.ProxyPrefix + "1/api/v1/query?query=up"

	t.Run("Go client", func(t *testing.T) {
		resp, err := client.Get(queryURL)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
			t.Fatalf("%s %d %s", resp.Proto, resp.StatusCode, body)
		}
		checkUp(t, string(body))
		if got := resp.Header.Get("Strict-Transport-Security"); got != "max-age=63072000" {
			t.Fatalf("Strict-Transport-Security %q", got)
		}
	})

	t.Run("curl", func(t *testing.T) {
		curl := needCurl(t)
		out, err := exec.Command(curl, "-sS", "--fail", "--max-time", "10", "--cacert", pki.CAFile, queryURL).CombinedOutput()
		if err != nil {
			t.Fatalf("curl: %v\n%s", err, out)
		}
		checkUp(t, string(out))
		// Trusting another CA, curl refuses the certificate (exit 60).
		out, err = exec.Command(curl, "-sS", "--max-time", "10", "--cacert", pki.StrangerCAFile, queryURL).CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 60 {
			t.Fatalf("curl trusting another CA: %v, want exit 60\n%s", err, out)
		}
	})

	t.Run("reference Python script", func(t *testing.T) {
		py := "/usr/bin/python3"
		if out, err := exec.Command(py, "-c", "import requests").CombinedOutput(); err != nil {
			msg := fmt.Sprintf("%s cannot import requests (apt-get install -y python3-requests): %v %s", py, err, out)
			if os.Getenv("CI") == "true" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
		script, err := filepath.Abs("testdata/export/reference_query_csv.py")
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(py, script, "up")
		cmd.Env = append(os.Environ(),
			"PROMGATE_URL=https://"+key+":"+token+"@"+addr+strings.TrimSuffix(server.ProxyPrefix, "/")+"/1",
			"REQUESTS_CA_BUNDLE="+pki.CAFile)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("reference script: %v\n%s", err, stderr.String())
		}
		recs := queryTestCSV(t, string(out))
		if got := strings.Join(recs[0], ","); got != "name,timestamp,value,instance,job" {
			t.Fatalf("header %q\n%s", got, out)
		}
		if len(recs) != 2 || recs[1][0] != "up" || recs[1][2] != "1" || recs[1][3] != addr || recs[1][4] != "promgate" {
			t.Fatalf("rows %q", recs[1:])
		}
	})

	t.Run("plain HTTP refused", func(t *testing.T) {
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + key + ":" + token + "@" + addr + server.ProxyPrefix + "1/api/v1/query?query=up")
		if err != nil {
			return // refused outright is fine too
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || strings.Contains(string(body), "success") {
			t.Fatalf("plain HTTP on the TLS port: %d %s", resp.StatusCode, body)
		}
	})

	t.Run("session cookie is Secure", func(t *testing.T) {
		req, _ := http.NewRequest("POST", "https://"+addr+"/api-server/v1/login", strings.NewReader(`{"login":"admin","password":"`+tlsTestPassword+`"}`))
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		var c *http.Cookie
		for _, x := range resp.Cookies() {
			if x.Name == auth.DefaultCookieName {
				c = x
			}
		}
		if resp.StatusCode != 200 || c == nil || !c.Secure || !c.HttpOnly {
			t.Fatalf("login %d, cookie %+v: want Secure and HttpOnly", resp.StatusCode, c)
		}
	})

	t.Run("logs", func(t *testing.T) {
		l := logs.String()
		if !strings.Contains(l, `query_url="https://`+addr) {
			t.Errorf("the start-up line does not show an https query URL:\n%s", l)
		}
		if strings.Contains(l, plaintextWarning) || strings.Contains(l, "self-scrape failed") {
			t.Errorf("unexpected warning:\n%s", l)
		}
		if strings.Contains(l, token) {
			t.Error("a token was logged")
		}
	})
}

// TestServeTLSClientCertificates requires and verifies client certificates:
// a client without one gets no answer, while promgate's own self-scrape,
// which holds none, still fills `up`.
func TestServeTLSClientCertificates(t *testing.T) {
	pki := promtest.NewPKI(t)
	webConfig := writeWebConfig(t, pki, `tls_server_config:
  cert_file: server.pem
  key_file: server-key.pem
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: ca.pem
`)
	addr := testkit.FreeAddr(t)
	withCert := tlsClient(pki.ClientTLS(pki.ClientCert))
	startServeTLS(t, addr, withCert, "https://"+addr, "--web.config.file", webConfig)
	key, token := createGlobalViewer(t)
	queryURL := "https://" + key + ":" + token + "@" + addr + server.ProxyPrefix + "1/api/v1/query?query=up"

	tests := []struct {
		name   string
		client *http.Client
		ok     bool
	}{
		{"no client certificate", tlsClient(pki.ClientTLS()), false},
		{"certificate from another CA", tlsClient(pki.ClientTLS(pki.StrangerCert)), false},
		{"certificate from the client CA", withCert, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := tt.client.Get(queryURL)
			if !tt.ok {
				if err == nil {
					resp.Body.Close()
					t.Fatalf("answered %d without a valid client certificate", resp.StatusCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			checkUp(t, string(body))
		})
	}
	t.Run("curl", func(t *testing.T) {
		curl := needCurl(t)
		out, err := exec.Command(curl, "-sS", "--fail", "--max-time", "10", "--cacert", pki.CAFile,
			"--cert", pki.ClientCertFile, "--key", pki.ClientKeyFile, queryURL).CombinedOutput()
		if err != nil {
			t.Fatalf("curl: %v\n%s", err, out)
		}
		checkUp(t, string(out))
		if out, err := exec.Command(curl, "-sS", "--max-time", "10", "--cacert", pki.CAFile, queryURL).CombinedOutput(); err == nil {
			t.Fatalf("curl without a client certificate got an answer: %s", out)
		}
	})
}

// TestServePlaintextWarning: promgate warns once when it listens beyond
// loopback without TLS, and not on loopback.
func TestServePlaintextWarning(t *testing.T) {
	tests := []struct {
		listen string
		warn   bool
	}{
		{"0.0.0.0:0", true},
		{"127.0.0.1:0", false},
	}
	for _, tt := range tests {
		t.Run(tt.listen, func(t *testing.T) {
			t.Setenv("PROMGATE_DATA_DIR", t.TempDir())
			srv := serveInTest(t, "--listen", tt.listen)
			logs := srv.logs
			deadline := time.Now().Add(30 * time.Second)
			for !strings.Contains(logs.String(), "promgate listening") {
				if time.Now().After(deadline) {
					t.Fatalf("not listening after 30s:\n%s", logs.String())
				}
				time.Sleep(20 * time.Millisecond)
			}
			srv.stop(t)
			n := strings.Count(logs.String(), plaintextWarning)
			if tt.warn && (n != 1 || !strings.Contains(logs.String(), "level=WARN")) || !tt.warn && n != 0 {
				t.Fatalf("%d warnings, want warn=%v:\n%s", n, tt.warn, logs.String())
			}
		})
	}
}

// TestServeWebConfigErrors: a bad web config stops serve before anything is
// opened, with the file named.
func TestServeWebConfigErrors(t *testing.T) {
	pki := promtest.NewPKI(t)
	tests := []struct {
		name, yaml, want string
	}{
		{"missing key file", "tls_server_config:\n  cert_file: server.pem\n  key_file: missing-key.pem\n", "missing-key.pem"},
		{"basic auth users", "basic_auth_users:\n  bob: $2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi\n", "basic_auth_users"},
		{"not YAML", "tls_server_config: [\n", "web-config.yml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dataDir := filepath.Join(t.TempDir(), "data")
			webConfig := writeWebConfig(t, pki, tt.yaml)
			err := run(context.Background(), []string{"serve", "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--web.config.file", webConfig}, nil, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "web.config.file") {
				t.Fatalf("err = %v, want it to mention --web.config.file and %q", err, tt.want)
			}
			if _, err := os.Stat(dataDir); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("data dir touched before the web config was checked: %v", err)
			}
		})
	}
}
