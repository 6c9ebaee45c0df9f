package datasource_test

import (
	"bytes"
	"crypto/rand"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/config"

	"github.com/promgate/promgate/internal/datasource"
	"github.com/promgate/promgate/internal/promtest"
	"github.com/promgate/promgate/internal/secrets"
	"github.com/promgate/promgate/internal/store"
)

func newBox(t *testing.T) *secrets.Box {
	t.Helper()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	box, err := secrets.New(key)
	if err != nil {
		t.Fatal(err)
	}
	return box
}

// TestCodecOpensRowsOfEarlierVersions: rows written before the settings
// became config.HTTPClientConfig (basic auth user column, headers column,
// secrets sealed as {"basicAuthPassword","bearerToken"}) open into the
// new shape and are sent the same credentials.
func TestCodecOpensRowsOfEarlierVersions(t *testing.T) {
	box := newBox(t)
	codec := datasource.NewCodec(box)
	const uid, u = "olduid", "http://prom:9090"
	seal := func(user, plain string) []byte {
		b, err := box.Seal([]byte(plain), []byte("promgate-datasource-secrets-v1\x00"+uid+"\x00"+u+"\x00"+user))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, tc := range []struct {
		name             string
		row              store.DataSource
		user, pw, token  string
		headers          map[string]string
		wantProxyFromEnv bool
	}{
		{"basic", store.DataSource{BasicAuthUser: "alice", Secrets: seal("alice", `{"basicAuthPassword":"pw-old"}`), Headers: map[string]string{"X-Scope-OrgID": "t1"}},
			"alice", "pw-old", "", map[string]string{"X-Scope-Orgid": "t1"}, true}, // header names are sent canonical, as before
		{"bearer", store.DataSource{Secrets: seal("", `{"bearerToken":"tok-old"}`)}, "", "", "tok-old", nil, true},
		{"user without password", store.DataSource{BasicAuthUser: "bob"}, "bob", "", "", nil, true},
		{"none", store.DataSource{}, "", "", "", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			row := tc.row
			row.ID, row.UID, row.Name, row.URL, row.Env, row.Timeout = 7, uid, "old", u, "prod", 5*time.Second
			s, err := codec.FromRow(row)
			if err != nil {
				t.Fatal(err)
			}
			if s.BasicAuthUser() != tc.user || s.BasicAuthPassword() != tc.pw || s.BearerToken() != tc.token ||
				!reflect.DeepEqual(s.Headers(), tc.headers) || s.HTTP.ProxyFromEnvironment != tc.wantProxyFromEnv || s.HTTP.FollowRedirects {
				t.Fatalf("opened %+v", s.HTTP)
			}
			if err := s.Normalize(); err != nil {
				t.Fatalf("an old row does not normalize: %v", err)
			}
			again, err := codec.ToRow(s)
			if err != nil {
				t.Fatal(err)
			}
			back, err := codec.FromRow(again)
			if err != nil || back.BasicAuthPassword() != tc.pw || back.BearerToken() != tc.token || !reflect.DeepEqual(back.Headers(), tc.headers) {
				t.Fatalf("rewritten row reads %+v, %v", back.HTTP, err)
			}
		})
	}
}

// TestCodecSealsTheHTTPSettings: every HTTP client setting survives the
// store, and no secret is in the row outside the sealed blob.
func TestCodecSealsTheHTTPSettings(t *testing.T) {
	pki := promtest.NewPKI(t)
	ca, cert, key := readPEM(t, pki.CAFile), readPEM(t, pki.ClientCertFile), readPEM(t, pki.ClientKeyFile)
	proxy, _ := url.Parse("http://proxy.example:3128")
	codec := datasource.NewCodec(newBox(t))
	for _, tc := range []struct {
		name    string
		http    config.HTTPClientConfig
		secrets []string
	}{
		{"oauth2 and mutual tls", config.HTTPClientConfig{
			OAuth2:      &config.OAuth2{ClientID: "cid", ClientSecret: "oauth-secret-value", TokenURL: "https://idp.example/token", Scopes: []string{"read", "metrics"}},
			TLSConfig:   config.TLSConfig{CA: ca, Cert: cert, Key: config.Secret(key), ServerName: "localhost"},
			ProxyConfig: config.ProxyConfig{ProxyURL: config.URL{URL: proxy}},
			HTTPHeaders: &config.Headers{Headers: map[string]config.Header{"X-Scope-Orgid": {Values: []string{"t1"}}}},
		}, []string{"oauth-secret-value", "PRIVATE KEY"}},
		{"basic and skip verify", config.HTTPClientConfig{
			BasicAuth: &config.BasicAuth{Username: "u", Password: "basic-secret-value"},
			TLSConfig: config.TLSConfig{InsecureSkipVerify: true},
		}, []string{"basic-secret-value"}},
		{"bearer", config.HTTPClientConfig{BearerToken: "bearer-secret-value"}, []string{"bearer-secret-value"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := datasource.Settings{UID: "u1", Name: "n", URL: "https://prom:9090", Env: "prod", HTTP: tc.http}
			if err := s.Normalize(); err != nil {
				t.Fatal(err)
			}
			row, err := codec.ToRow(s)
			if err != nil {
				t.Fatal(err)
			}
			for _, sec := range tc.secrets {
				if bytes.Contains(row.Secrets, []byte(sec)) || strings.Contains(row.BasicAuthUser+row.URL, sec) {
					t.Fatalf("%q is in the row in the clear", sec)
				}
			}
			back, err := codec.FromRow(row)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back.HTTP, s.HTTP) {
				t.Fatalf("stored %+v\nread   %+v", s.HTTP, back.HTTP)
			}
		})
	}
}

// TestNormalizeHTTPSettings: mistakes in the HTTP client settings are
// 400s that name the field, never a panic or a quoted secret.
func TestNormalizeHTTPSettings(t *testing.T) {
	pki := promtest.NewPKI(t)
	cert, key := readPEM(t, pki.ClientCertFile), readPEM(t, pki.ClientKeyFile)
	serverKey := readPEM(t, pki.KeyFile)
	userinfo, _ := url.Parse("http://user:proxy-pass@proxy:3128")
	for _, tc := range []struct {
		name string
		http config.HTTPClientConfig
		want string
	}{
		{"ca file", config.HTTPClientConfig{TLSConfig: config.TLSConfig{CAFile: "/etc/ca.pem"}}, "not as files"},
		{"password file", config.HTTPClientConfig{BasicAuth: &config.BasicAuth{Username: "u", PasswordFile: "/p"}}, "not as files"},
		{"bad ca", config.HTTPClientConfig{TLSConfig: config.TLSConfig{CA: "not pem"}}, "tlsCACert holds no PEM certificate"},
		{"cert without key", config.HTTPClientConfig{TLSConfig: config.TLSConfig{Cert: cert}}, "tlsClientCert needs tlsClientKey"},
		{"key without cert", config.HTTPClientConfig{TLSConfig: config.TLSConfig{Key: config.Secret(key)}}, "tlsClientKey needs tlsClientCert"},
		{"key of another certificate", config.HTTPClientConfig{TLSConfig: config.TLSConfig{Cert: cert, Key: config.Secret(serverKey)}}, "tlsClientCert and tlsClientKey"},
		{"basic and oauth2", config.HTTPClientConfig{BasicAuth: &config.BasicAuth{Username: "u"}, OAuth2: &config.OAuth2{ClientID: "c", TokenURL: "https://t/"}}, "not several"},
		{"oauth2 without token url", config.HTTPClientConfig{OAuth2: &config.OAuth2{ClientID: "c", ClientSecret: "oauth-secret-value"}}, "oauth2TokenUrl"},
		{"proxy with password", config.HTTPClientConfig{ProxyConfig: config.ProxyConfig{ProxyURL: config.URL{URL: userinfo}}}, "proxyUrl may not contain a user or password"},
		{"user agent header", config.HTTPClientConfig{HTTPHeaders: &config.Headers{Headers: map[string]config.Header{"User-Agent": {Values: []string{"x"}}}}}, `header "User-Agent" may not be set`},
		{"secret header", config.HTTPClientConfig{HTTPHeaders: &config.Headers{Headers: map[string]config.Header{"X-Key": {Secrets: []config.Secret{"s"}}}}}, "exactly one value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := datasource.Settings{Name: "n", URL: "https://prom:9090", Env: "prod", HTTP: tc.http}
			err := s.Normalize()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
			for _, sec := range []string{"oauth-secret-value", "proxy-pass", "PRIVATE KEY"} {
				if strings.Contains(err.Error(), sec) {
					t.Fatalf("error quotes a secret: %v", err)
				}
			}
		})
	}
}
