package webconfig_test

import (
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/promgate/promgate/internal/promtest"
)

// BenchmarkServe measures one keep-alive request through Serve: with no web
// config (the baseline), with a web config that only sets a header (what
// exporter-toolkit costs per request: it re-reads the file for every
// request), and with TLS. Compare ns/op of the three in one run.
func BenchmarkServe(b *testing.B) {
	pki := promtest.NewPKI(b)
	for _, bc := range []struct {
		name, yaml, scheme string
	}{
		{"no web config", "", "http"},
		{"web config, plain HTTP", "http_server_config:\n  headers:\n    X-Frame-Options: deny\n", "http"},
		{"web config, TLS", "tls_server_config:\n  cert_file: server.pem\n  key_file: server-key.pem\n", "https"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			addr := serveWith(b, bc.yaml, pki)
			client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: pki.ClientTLS(), ForceAttemptHTTP2: true}}
			url := bc.scheme + "://" + addr + "/"
			b.ResetTimer()
			for b.Loop() {
				resp, err := client.Get(url)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
}
