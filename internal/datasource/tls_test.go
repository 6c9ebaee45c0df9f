package datasource_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/promgate/promgate/internal/datasource/dstest"
	"github.com/promgate/promgate/internal/promtest"
	"github.com/promgate/promgate/internal/server"
	"github.com/promgate/promgate/internal/testkit"
	"github.com/promgate/promgate/internal/testpeer"
)

// tlsPrometheus starts the real Prometheus serving https with its own
// --web.config.file; mutual requires client certificates from pki's CA.
func tlsPrometheus(t *testing.T, pki *promtest.PKI, mutual bool) *dstest.Prometheus {
	t.Helper()
	bin, err := dstest.Bin()
	if err != nil {
		testpeer.Missing(t, testpeer.Prometheus, err.Error())
	}
	cfg := dstest.TLS{CertFile: pki.CertFile, KeyFile: pki.KeyFile, Client: pki.ClientTLS()}
	if mutual {
		cfg.ClientCAFile, cfg.ClientAuth, cfg.Client = pki.CAFile, "RequireAndVerifyClientCert", pki.ClientTLS(pki.ClientCert)
	}
	p, err := dstest.StartPrometheusTLS(testkit.Context(t), bin, t.TempDir(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	return p
}

func readPEM(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// tlsQuery is the instant query both sides are asked.
func tlsQuery(now time.Time) string {
	return fmt.Sprintf("/api/v1/query?query=vector(42)&time=%d", now.Unix())
}

// TestRealPrometheusTLS: a remote data source served over TLS (and over
// mutual TLS) by a real Prometheus answers through promgate exactly what
// it answers directly when the data source trusts its CA (and presents the
// client certificate), and is a clear 502 otherwise. The TLS key is never
// shown by the API.
func TestRealPrometheusTLS(t *testing.T) {
	pki := promtest.NewPKI(t)
	plain, mutual := tlsPrometheus(t, pki, false), tlsPrometheus(t, pki, true)
	front := promtest.Start(t)
	now := time.Now()
	ca, cert, key := readPEM(t, pki.CAFile), readPEM(t, pki.ClientCertFile), readPEM(t, pki.ClientKeyFile)

	direct := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: pki.ClientTLS(pki.ClientCert)}}
	resp, err := direct.Get(mutual.URL + tlsQuery(now))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Contains(want, []byte(`"42"`)) {
		t.Fatalf("Prometheus directly: %d %s", resp.StatusCode, want)
	}
	stranger := tlsPEMOf(t, pki.StrangerCert)

	for i, tc := range []struct {
		name     string
		url      string
		settings map[string]any
		wantOK   bool
		wantMsg  string // in the 502 and in the connection test
	}{
		{"system roots only", plain.URL, nil, false, "TLS certificate not trusted"},
		{"ca", plain.URL, map[string]any{"tlsCACert": ca}, true, ""},
		{"ca and server name", plain.URL, map[string]any{"tlsCACert": ca, "tlsServerName": "localhost"}, true, ""},
		{"ca and wrong server name", plain.URL, map[string]any{"tlsCACert": ca, "tlsServerName": "elsewhere.example"}, false, "TLS certificate not trusted"},
		{"insecure skip verify", plain.URL, map[string]any{"tlsSkipVerify": true}, true, ""},
		{"mutual without client certificate", mutual.URL, map[string]any{"tlsCACert": ca}, false, "TLS client certificate"},
		{"mutual with a stranger's certificate", mutual.URL, map[string]any{"tlsCACert": ca, "tlsClientCert": stranger[0], "tlsClientKey": stranger[1]}, false, "TLS client certificate"},
		{"mutual with client certificate", mutual.URL, map[string]any{"tlsCACert": ca, "tlsClientCert": cert, "tlsClientKey": key}, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := map[string]any{"name": fmt.Sprintf("tls-%d", i), "url": tc.url, "env": "prod", "timeoutSeconds": 10}
			for k, v := range tc.settings {
				in[k] = v
			}
			ds := promtest.AddDataSource(t, front, in)
			status, body := front.Owner().Do(t, http.MethodGet, fmt.Sprintf("%s%s%d%s", front.URL, server.ProxyPrefix, ds.ID, tlsQuery(now)), nil)
			_, testOut := front.Owner().Do(t, http.MethodPost, fmt.Sprintf("%s/api-server/v1/datasources/%d/test", front.URL, ds.ID), nil)
			if tc.wantOK {
				if status != http.StatusOK || !bytes.Equal(body, want) {
					t.Fatalf("through promgate: %d %s\nPrometheus: %s", status, body, want)
				}
				if !bytes.Contains(testOut, []byte("Data source is working: Prometheus 3.16.0")) {
					t.Fatalf("test connection: %s", testOut)
				}
				return
			}
			if status != http.StatusBadGateway || !bytes.Contains(body, []byte(`"errorType":"unavailable"`)) || !bytes.Contains(body, []byte(tc.wantMsg)) {
				t.Fatalf("through promgate: %d %s, want 502 unavailable saying %q", status, body, tc.wantMsg)
			}
			if !bytes.Contains(testOut, []byte(tc.wantMsg)) || bytes.Contains(testOut, []byte("is working")) {
				t.Fatalf("test connection: %s, want a failure saying %q", testOut, tc.wantMsg)
			}
		})
	}

	// The key is sealed and write-only: the list shows that one is set.
	_, list := front.Owner().Do(t, http.MethodGet, front.URL+"/api-server/v1/datasources", nil)
	if bytes.Contains(list, []byte("PRIVATE KEY")) || !bytes.Contains(list, []byte(`"hasTLSClientKey":true`)) || !bytes.Contains(list, []byte("BEGIN CERTIFICATE")) {
		t.Fatalf("data source list shows the key or lacks the certificates: %s", list)
	}
}

// tlsPEMOf is a certificate and key as PEM text.
func tlsPEMOf(t *testing.T, c tls.Certificate) [2]string {
	t.Helper()
	keyDER, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	return [2]string{
		string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})),
	}
}

// TestOAuth2ClientCredentials: a data source with OAuth2 client
// credentials fetches a token from the token URL with its client id and
// secret and sends the backend that token; a wrong secret is a 502 that
// does not quote it.
func TestOAuth2ClientCredentials(t *testing.T) {
	const clientSecret = "oauth-secret-Vb8"
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, _ := r.BasicAuth()
		if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "client_credentials" || user != "cid" || pass != clientSecret {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"error":"invalid_client"}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprintf(w, `{"access_token":"at-for-%s","token_type":"Bearer","expires_in":3600}`, r.PostForm.Get("scope"))
	}))
	t.Cleanup(idp.Close)
	front, rec, _ := promtest.StartRecorded(t, nil, nil)
	for _, tc := range []struct {
		name, secret string
		wantStatus   int
		wantAuth     string
		wantMsg      string
	}{
		{"right secret", clientSecret, http.StatusOK, "Bearer at-for-read metrics", ""},
		{"wrong secret", "not-the-secret", http.StatusBadGateway, "", "OAuth2 token request refused (HTTP 401)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ds := promtest.AddDataSource(t, front, map[string]any{"name": "oauth-" + strings.ReplaceAll(tc.name, " ", "-"), "url": rec.URL, "env": "prod",
				"oauth2ClientId": "cid", "oauth2ClientSecret": tc.secret, "oauth2TokenUrl": idp.URL + "/token", "oauth2Scopes": []string{"read", "metrics"}})
			rec.Reset()
			status, body := front.Owner().Do(t, http.MethodGet, fmt.Sprintf("%s%s%d/api/v1/query?query=up", front.URL, server.ProxyPrefix, ds.ID), nil)
			if status != tc.wantStatus || bytes.Contains(body, []byte(tc.secret)) || !bytes.Contains(body, []byte(tc.wantMsg)) {
				t.Fatalf("query: %d %s", status, body)
			}
			if tc.wantAuth == "" {
				if len(rec.Seen()) != 0 {
					t.Fatal("the backend was asked without a token")
				}
				return
			}
			seen := rec.Seen()
			if len(seen) != 1 || seen[0].Header.Get("Authorization") != tc.wantAuth {
				t.Fatalf("backend saw %d requests, Authorization %v", len(seen), seen)
			}
		})
	}
}

// TestProxyURL: a data source with a proxy URL reaches its backend through
// that proxy (here an HTTP proxy that answers for a host that does not
// resolve), with the data source's credentials.
func TestProxyURL(t *testing.T) {
	type seen struct{ target, auth string }
	got := make(chan seen, 1)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case got <- seen{r.URL.String(), r.Header.Get("Authorization")}:
		default:
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"success","data":{"resultType":"vector","result":[]}}`)
	}))
	t.Cleanup(proxy.Close)
	front := promtest.Start(t)
	ds := promtest.AddDataSource(t, front, map[string]any{"name": "proxied", "url": "http://prometheus.invalid:9090", "env": "prod",
		"proxyUrl": proxy.URL, "bearerToken": "tok-via-proxy"})
	status, body := front.Owner().Do(t, http.MethodGet, fmt.Sprintf("%s%s%d/api/v1/query?query=up", front.URL, server.ProxyPrefix, ds.ID), nil)
	if status != http.StatusOK {
		t.Fatalf("query: %d %s", status, body)
	}
	select {
	case s := <-got:
		if !strings.HasPrefix(s.target, "http://prometheus.invalid:9090/api/v1/query") || s.auth != "Bearer tok-via-proxy" {
			t.Fatalf("proxy saw %+v", s)
		}
	default:
		t.Fatal("the request did not go through the proxy")
	}
}
