package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/promgate/promgate/internal/promtest"
	"github.com/promgate/promgate/internal/server"
	"github.com/promgate/promgate/internal/testkit"
)

// TestQueryConnectionErrorsSayWhatToDo: when the CLI cannot talk to a server
// at all (nothing listening, http:// against TLS and the reverse, a
// certificate this machine does not trust), the error says what to change,
// against a real promgate with and without TLS.
func TestQueryConnectionErrorsSayWhatToDo(t *testing.T) {
	t.Setenv("PROMGATE_KEY", "")
	t.Setenv("PROMGATE_TOKEN", "")
	t.Setenv("PROMGATE_URL", "")
	plain := promtest.Start(t)

	pki := promtest.NewPKI(t)
	webConfig := writeWebConfig(t, pki, "tls_server_config:\n  cert_file: server.pem\n  key_file: server-key.pem\n")
	tlsAddr := testkit.FreeAddr(t)
	startServeTLS(t, tlsAddr, tlsClient(pki.ClientTLS()), "https://"+tlsAddr, "--web.config.file", webConfig)
	tlsKey, tlsToken := createGlobalViewer(t)

	closed := testkit.FreeAddr(t)
	tests := []struct {
		name, url, key, token string
		want                  []string
	}{
		{
			name: "server not running",
			url:  "http://" + closed + server.ProxyPrefix + "1", key: plain.Key, token: plain.Token,
			want: []string{"connection refused", "nothing answers at " + closed, "promgate serve", "--url", "PROMGATE_URL"},
		},
		{
			name: "http:// to a TLS listener",
			url:  "http://" + tlsAddr + server.ProxyPrefix + "1", key: tlsKey, token: tlsToken,
			want: []string{"serves TLS", "https://"},
		},
		{
			name: "https:// to a plain HTTP listener",
			url:  "https" + strings.TrimPrefix(plain.URL, "http") + server.ProxyPrefix + "1", key: plain.Key, token: plain.Token,
			want: []string{"plain HTTP", "http://"},
		},
		{
			name: "certificate from a CA this machine does not trust",
			url:  "https://" + tlsAddr + server.ProxyPrefix + "1", key: tlsKey, token: tlsToken,
			want: []string{"not trusted", "SSL_CERT_FILE"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, cmd := range []struct {
				name string
				args []string
			}{
				{"query", []string{"up"}},
				{"query-range", []string{"--start", "-5m", "up"}},
			} {
				var out, errOut bytes.Buffer
				args := append([]string{cmd.name, "--url", tc.url, "--key", tc.key, "--token", tc.token, "--timeout", "10s"}, cmd.args...)
				err := run(context.Background(), args, nil, &out, &errOut)
				if err == nil {
					t.Fatalf("%s: no error; output %q", cmd.name, out.String())
				}
				msg := err.Error()
				for _, w := range tc.want {
					if !strings.Contains(msg, w) {
						t.Errorf("%s: error lacks %q:\n%s", cmd.name, w, msg)
					}
				}
				if strings.Contains(msg, tc.token) {
					t.Errorf("%s: error holds the token:\n%s", cmd.name, msg)
				}
				if exitCode(err) != 1 {
					t.Errorf("%s: exit code %d, want 1", cmd.name, exitCode(err))
				}
			}
		})
	}
}
