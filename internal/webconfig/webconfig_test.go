package webconfig_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/promgate/promgate/internal/promtest"
	"github.com/promgate/promgate/internal/webconfig"
)

func writeFile(t testing.TB, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoad(t *testing.T) {
	pki := promtest.NewPKI(t)
	tests := []struct {
		name       string
		yaml       string // "" with noFile: no --web.config.file at all
		noFile     bool
		wantTLS    bool
		wantClient string
		wantErr    []string
	}{
		{name: "no file", noFile: true},
		{name: "relative cert paths", yaml: "tls_server_config:\n  cert_file: server.pem\n  key_file: server-key.pem\n", wantTLS: true},
		{name: "headers only, no TLS", yaml: "http_server_config:\n  headers:\n    X-Frame-Options: deny\n"},
		{name: "client certificates", yaml: "tls_server_config:\n  cert_file: server.pem\n  key_file: server-key.pem\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n", wantTLS: true, wantClient: "RequireAndVerifyClientCert"},
		{name: "missing key file", yaml: "tls_server_config:\n  cert_file: server.pem\n  key_file: nope.pem\n", wantErr: []string{"nope.pem"}},
		{name: "cert without key", yaml: "tls_server_config:\n  cert_file: server.pem\n", wantErr: []string{"key"}},
		{name: "unknown key", yaml: "tls_server_config:\n  cert_file: server.pem\n  key_file: server-key.pem\n  cert_fiel: x\n", wantErr: []string{"cert_fiel"}},
		{name: "client CA without auth type", yaml: "tls_server_config:\n  cert_file: server.pem\n  key_file: server-key.pem\n  client_ca_file: ca.pem\n", wantErr: []string{"Client Auth"}},
		{name: "basic auth users clash with credentials", yaml: "basic_auth_users:\n  alice: $2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi\n", wantErr: []string{"basic_auth_users", "key:token"}},
		{name: "header that cannot be set", yaml: "http_server_config:\n  headers:\n    Set-Cookie: x\n", wantErr: []string{"Set-Cookie"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := ""
			if !tt.noFile {
				file = writeFile(t, pki.Dir, "web-"+strings.ReplaceAll(tt.name, " ", "-")+".yml", tt.yaml)
			}
			c, err := webconfig.Load(file)
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("no error, config %+v", c)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Fatalf("error %q lacks %q", err, w)
					}
				}
				if !strings.Contains(err.Error(), file) {
					t.Fatalf("error %q does not name the file", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.TLS != tt.wantTLS || c.ClientAuth != tt.wantClient {
				t.Fatalf("got TLS=%v client auth %q, want %v %q", c.TLS, c.ClientAuth, tt.wantTLS, tt.wantClient)
			}
			if want := map[bool]string{true: "https", false: "http"}[tt.wantTLS]; c.Scheme() != want {
				t.Fatalf("scheme %q, want %q", c.Scheme(), want)
			}
		})
	}
	t.Run("file that does not exist", func(t *testing.T) {
		if _, err := webconfig.Load(filepath.Join(t.TempDir(), "web.yml")); err == nil || !strings.Contains(err.Error(), "web.yml") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestWarnIfPlaintext(t *testing.T) {
	tests := []struct {
		addr string
		tls  bool
		want bool
	}{
		{"0.0.0.0:8030", false, true},
		{"[::]:8030", false, true},
		{"192.0.2.10:8030", false, true},
		{"127.0.0.1:8030", false, false},
		{"127.0.0.2:8030", false, false},
		{"[::1]:8030", false, false},
		{"0.0.0.0:8030", true, false},
		{"192.0.2.10:8030", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			addr, err := net.ResolveTCPAddr("tcp", tt.addr)
			if err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			got := webconfig.Config{TLS: tt.tls}.WarnIfPlaintext(slog.New(slog.NewTextHandler(&logs, nil)), addr)
			if got != tt.want {
				t.Fatalf("warned = %v, want %v", got, tt.want)
			}
			n := strings.Count(logs.String(), "level=WARN")
			if tt.want && (n != 1 || !strings.Contains(logs.String(), "web.config.file")) || !tt.want && logs.Len() != 0 {
				t.Fatalf("logs:\n%s", logs.String())
			}
		})
	}
}

// serveTLS serves a handler through webconfig on 127.0.0.1 and returns its
// address.
func serveTLS(t *testing.T, yaml string, pki *promtest.PKI) string {
	t.Helper()
	return serveWith(t, yaml, pki)
}

// serveWith serves through a web config with this content ("": none).
func serveWith(t testing.TB, yaml string, pki *promtest.PKI) string {
	t.Helper()
	file := ""
	if yaml != "" {
		file = writeFile(t, pki.Dir, "web-"+strings.NewReplacer("/", "-", " ", "-", ",", "").Replace(t.Name())+".yml", yaml)
	}
	c, err := webconfig.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, "hello over "+r.Proto)
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	done := make(chan error, 1)
	go func() { done <- c.Serve(ln, srv, slog.New(slog.DiscardHandler)) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve returned %v", err)
		}
	})
	return ln.Addr().String()
}

func get(client *http.Client, url string) (*http.Response, string, error) {
	resp, err := client.Get(url)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, string(body), err
}

func httpsClient(cfg *tls.Config) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}}
}

func TestServeTLS(t *testing.T) {
	pki := promtest.NewPKI(t)
	addr := serveTLS(t, `tls_server_config:
  cert_file: server.pem
  key_file: server-key.pem
http_server_config:
  headers:
    Strict-Transport-Security: max-age=31536000
`, pki)

	resp, body, err := get(httpsClient(pki.ClientTLS()), "https://"+addr+"/")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || body != "hello over HTTP/2.0" {
		t.Fatalf("%d %q, want 200 over HTTP/2", resp.StatusCode, body)
	}
	if got := resp.Header.Get("Strict-Transport-Security"); got != "max-age=31536000" {
		t.Fatalf("Strict-Transport-Security %q", got)
	}

	// Plain HTTP on the TLS port: Go's TLS server answers 400 and serves nothing.
	resp, body, err = get(&http.Client{Timeout: 10 * time.Second}, "http://"+addr+"/")
	if err == nil && (resp.StatusCode != http.StatusBadRequest || strings.Contains(body, "hello")) {
		t.Fatalf("plain HTTP got %d %q", resp.StatusCode, body)
	}

	// A client that does not trust the CA refuses the server.
	if _, _, err := get(httpsClient(&tls.Config{MinVersion: tls.VersionTLS12}), "https://"+addr+"/"); err == nil {
		t.Fatal("a client without the CA accepted the certificate")
	}
}

func TestServeClientCertificates(t *testing.T) {
	pki := promtest.NewPKI(t)
	addr := serveTLS(t, `tls_server_config:
  cert_file: server.pem
  key_file: server-key.pem
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: ca.pem
http_server_config:
  http2: false
`, pki)
	tests := []struct {
		name  string
		certs []tls.Certificate
		ok    bool
	}{
		{"no certificate", nil, false},
		{"certificate from another CA", []tls.Certificate{pki.StrangerCert}, false},
		{"certificate from the client CA", []tls.Certificate{pki.ClientCert}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body, err := get(httpsClient(pki.ClientTLS(tt.certs...)), "https://"+addr+"/")
			if !tt.ok {
				if err == nil {
					t.Fatalf("served %d %q", resp.StatusCode, body)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if body != "hello over HTTP/1.1" { // http2: false
				t.Fatalf("%d %q", resp.StatusCode, body)
			}
		})
	}
}
