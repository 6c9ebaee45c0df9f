package datasource

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/common/config"

	"github.com/promgate/promgate/internal/promapi"
	"github.com/promgate/promgate/internal/secrets"
	"github.com/promgate/promgate/internal/store"
)

// Limits and defaults of remote data source settings.
const (
	DefaultTimeout = 30 * time.Second
	MaxTimeout     = 10 * time.Minute
	maxHeaders     = 20
	maxFieldLen    = 200
	maxSecretLen   = 4096
	maxURLLen      = 2000
	maxPEMLen      = 64 << 10
)

// Settings is a remote data source's configuration with its secrets in the
// clear. It lives only in memory; the store keeps the secrets sealed.
type Settings struct {
	ID   int64
	UID  string
	Name string
	URL  string // http(s)://host[:port][/prefix], no trailing slash
	// WriteURL is where remote_write bodies sent to this data source go
	// (a Thanos receiver's /api/v1/receive, Mimir's /api/v1/push, a
	// Prometheus' /api/v1/write), with the same credentials and headers
	// as reads; "" means the data source takes no writes.
	WriteURL string
	Env      string
	Site     string
	// HTTP is how promgate reaches the backend, in Prometheus' own terms:
	// basic auth, a bearer token (Authorization) or OAuth2 client
	// credentials, TLS with inline PEM (CA, Cert, Key), a proxy URL and
	// extra headers (HTTPHeaders, one value each). File and _ref fields
	// are never set: replicas share the store, not a file system.
	HTTP      config.HTTPClientConfig
	Timeout   time.Duration
	CreatedAt time.Time
	// Cache is how the query cache treats this data source.
	Cache CacheSettings
}

// BasicAuthUser is the basic auth user ("" without basic auth).
func (s *Settings) BasicAuthUser() string {
	if s.HTTP.BasicAuth == nil {
		return ""
	}
	return s.HTTP.BasicAuth.Username
}

// BasicAuthPassword is the basic auth password in the clear.
func (s *Settings) BasicAuthPassword() string {
	if s.HTTP.BasicAuth == nil {
		return ""
	}
	return string(s.HTTP.BasicAuth.Password)
}

// BearerToken is the bearer token in the clear.
func (s *Settings) BearerToken() string {
	if s.HTTP.Authorization == nil {
		return string(s.HTTP.BearerToken)
	}
	return string(s.HTTP.Authorization.Credentials)
}

// OAuth2ClientSecret is the OAuth2 client secret in the clear.
func (s *Settings) OAuth2ClientSecret() string {
	if s.HTTP.OAuth2 == nil {
		return ""
	}
	return string(s.HTTP.OAuth2.ClientSecret)
}

// SetBasicAuth sets basic auth (user "" and password "": none).
func (s *Settings) SetBasicAuth(user, password string) {
	s.HTTP.BasicAuth = nil
	if user != "" || password != "" {
		s.HTTP.BasicAuth = &config.BasicAuth{Username: user, Password: config.Secret(password)}
	}
}

// SetBearerToken sets the bearer token ("": none).
func (s *Settings) SetBearerToken(token string) {
	s.HTTP.BearerToken, s.HTTP.Authorization = "", nil
	if token != "" {
		s.HTTP.Authorization = &config.Authorization{Type: "Bearer", Credentials: config.Secret(token)}
	}
}

// Headers are the extra headers, one value each.
func (s *Settings) Headers() map[string]string {
	if s.HTTP.HTTPHeaders == nil || len(s.HTTP.HTTPHeaders.Headers) == 0 {
		return nil
	}
	out := make(map[string]string, len(s.HTTP.HTTPHeaders.Headers))
	for k, h := range s.HTTP.HTTPHeaders.Headers {
		if len(h.Values) > 0 {
			out[k] = h.Values[0]
		}
	}
	return out
}

// SetHeaders sets the extra headers.
func (s *Settings) SetHeaders(h map[string]string) {
	s.HTTP.HTTPHeaders = nil
	if len(h) == 0 {
		return
	}
	s.HTTP.HTTPHeaders = &config.Headers{Headers: make(map[string]config.Header, len(h))}
	for k, v := range h {
		s.HTTP.HTTPHeaders.Headers[k] = config.Header{Values: []string{v}}
	}
}

// AuthKind names the kind of credentials, never their value.
func (s *Settings) AuthKind() string {
	switch {
	case s.HTTP.OAuth2 != nil:
		return "oauth2"
	case s.BearerToken() != "":
		return "bearer"
	case s.HTTP.BasicAuth != nil:
		return "basic"
	}
	return "none"
}

// invalid is a setting a caller got wrong: 400 bad_data. Its message is
// safe to show (it never contains a secret).
func invalid(format string, args ...any) error {
	return promapi.BadData(format, args...)
}

// forbiddenHeaders may not be set as extra headers: they carry the data
// source's own credentials, are hop-by-hop, or describe the body promgate
// builds. Setting Authorization through "headers" would also dodge the
// write-only handling of secrets.
var forbiddenHeaders = map[string]bool{
	"Authorization": true, "Proxy-Authorization": true, "Cookie": true, "Host": true,
	"Content-Length": true, "Content-Type": true, "Content-Encoding": true, "Transfer-Encoding": true,
	"Connection": true, "Keep-Alive": true, "Te": true, "Trailer": true, "Upgrade": true,
	"Proxy-Connection": true, "Accept-Encoding": true, "Expect": true,
}

// Normalize checks s and puts it in canonical form (URL without trailing
// slash, header names canonical, default timeout). The messages name the
// field, never a secret value.
func (s *Settings) Normalize() error {
	s.Name = strings.TrimSpace(s.Name)
	s.Env = strings.TrimSpace(s.Env)
	s.Site = strings.TrimSpace(s.Site)
	s.URL = strings.TrimSpace(s.URL)
	switch {
	case s.Name == "":
		return invalid("name is required")
	case s.Env == "":
		return invalid("env is required (e.g. dev, stage or prod)")
	}
	for field, v := range map[string]string{"name": s.Name, "env": s.Env, "site": s.Site, "basicAuthUser": s.BasicAuthUser()} {
		if len(v) > maxFieldLen || strings.ContainsFunc(v, isControl) {
			return invalid("%s must be at most %d characters without control characters", field, maxFieldLen)
		}
	}
	if s.UID != "" && !validUID(s.UID) {
		return invalid("uid must be 1 to 40 letters, digits, '-' or '_'")
	}
	if s.UID == EmbeddedUID {
		return invalid("uid %q is the embedded data source's", EmbeddedUID)
	}
	u, err := NormalizeURL(s.URL)
	if err != nil {
		return err
	}
	s.URL = u
	s.WriteURL = strings.TrimSpace(s.WriteURL)
	if s.WriteURL != "" {
		if s.WriteURL, err = NormalizeWriteURL(s.WriteURL); err != nil {
			return err
		}
	}
	switch {
	case s.Timeout == 0:
		s.Timeout = DefaultTimeout
	case s.Timeout < time.Second || s.Timeout > MaxTimeout:
		return invalid("timeout must be between 1s and %s", MaxTimeout)
	}
	return s.normalizeHTTP()
}

// normalizeHTTP checks s.HTTP: only the inline forms promgate stores, one
// kind of credentials, parseable PEM, and no header that would carry
// credentials past the write-only handling of secrets.
func (s *Settings) normalizeHTTP() error {
	h := &s.HTTP
	if h.BearerToken != "" && h.Authorization == nil { // the older spelling
		s.SetBearerToken(string(h.BearerToken))
	}
	if h.Authorization != nil && h.Authorization.Credentials == "" {
		h.Authorization = nil
	}
	if h.BasicAuth != nil && h.BasicAuth.Username == "" && h.BasicAuth.Password == "" {
		h.BasicAuth = nil
	}
	if h.BearerTokenFile != "" || h.Authorization != nil && (h.Authorization.CredentialsFile != "" || h.Authorization.CredentialsRef != "") ||
		h.BasicAuth != nil && (h.BasicAuth.UsernameFile != "" || h.BasicAuth.UsernameRef != "" || h.BasicAuth.PasswordFile != "" || h.BasicAuth.PasswordRef != "") ||
		h.OAuth2 != nil && (h.OAuth2.ClientSecretFile != "" || h.OAuth2.ClientSecretRef != "") ||
		h.TLSConfig.CAFile != "" || h.TLSConfig.CertFile != "" || h.TLSConfig.KeyFile != "" || h.TLSConfig.CARef != "" || h.TLSConfig.CertRef != "" || h.TLSConfig.KeyRef != "" {
		return invalid("give secrets, certificates and keys inline, not as files or references: every replica reads them from the store")
	}
	if ba := h.BasicAuth; ba != nil {
		if strings.Contains(ba.Username, ":") {
			return invalid("basicAuthUser may not contain ':'")
		}
		if ba.Username == "" {
			return invalid("basicAuthPassword needs basicAuthUser")
		}
	}
	kinds := 0
	for _, set := range []bool{h.BasicAuth != nil, h.Authorization != nil, h.OAuth2 != nil} {
		if set {
			kinds++
		}
	}
	if kinds > 1 && h.OAuth2 == nil {
		return invalid("use basic auth or a bearer token, not both (set the other to \"\")")
	}
	if kinds > 1 {
		return invalid("use one of basic auth, a bearer token or OAuth2, not several (set the others to \"\")")
	}
	if h.Authorization != nil && !strings.EqualFold(h.Authorization.Type, "Bearer") {
		return invalid("only Bearer authorization is supported")
	}
	if o := h.OAuth2; o != nil {
		o.ClientID, o.TokenURL = strings.TrimSpace(o.ClientID), strings.TrimSpace(o.TokenURL)
		if o.ClientID == "" || o.TokenURL == "" {
			return invalid("OAuth2 needs oauth2ClientId and oauth2TokenUrl")
		}
		if len(o.ClientID) > maxFieldLen || strings.ContainsFunc(o.ClientID, isControl) {
			return invalid("oauth2ClientId must be at most %d characters without control characters", maxFieldLen)
		}
		if err := checkOtherURL("oauth2TokenUrl", o.TokenURL); err != nil {
			return err
		}
		if len(o.Scopes) > maxHeaders {
			return invalid("at most %d OAuth2 scopes", maxHeaders)
		}
		for _, sc := range o.Scopes {
			if sc == "" || len(sc) > maxFieldLen || strings.ContainsFunc(sc, func(r rune) bool { return isControl(r) || r == ' ' }) {
				return invalid("OAuth2 scopes must be 1 to %d characters without spaces or control characters", maxFieldLen)
			}
		}
		o.GrantType = "" // client credentials
	}
	for _, v := range []string{s.BasicAuthPassword(), s.BearerToken(), s.OAuth2ClientSecret()} {
		if len(v) > maxSecretLen || strings.ContainsFunc(v, isControl) {
			return invalid("passwords, tokens and client secrets must be at most %d characters without control characters", maxSecretLen)
		}
	}
	if err := checkTLS(&h.TLSConfig); err != nil {
		return err
	}
	if err := s.normalizeProxy(); err != nil {
		return err
	}
	if err := s.normalizeHeaders(); err != nil {
		return err
	}
	h.FollowRedirects = false // a redirect is reported, never followed
	h.EnableHTTP2 = true
	if err := h.Validate(); err != nil {
		return invalid("http client settings: %v", err)
	}
	return nil
}

// checkOtherURL checks a URL other than the data source's (token, proxy).
func checkOtherURL(field, raw string) error {
	if len(raw) > maxURLLen || strings.ContainsFunc(raw, isControl) {
		return invalid("%s is too long or has control characters", field)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return invalid("%s does not parse as an absolute URL", field)
	}
	if u.User != nil {
		return invalid("%s may not contain a user or password", field)
	}
	return nil
}

func (s *Settings) normalizeProxy() error {
	h := &s.HTTP
	h.NoProxy, h.ProxyConnectHeader = "", nil
	if h.ProxyURL.URL == nil || h.ProxyURL.String() == "" {
		// As before this setting existed: the environment's proxy, if any.
		h.ProxyURL, h.ProxyFromEnvironment = config.URL{}, true
		return nil
	}
	h.ProxyFromEnvironment = false
	if err := checkOtherURL("proxyUrl", h.ProxyURL.String()); err != nil {
		return err
	}
	switch h.ProxyURL.Scheme {
	case "http", "https", "socks5":
	default:
		return invalid("proxyUrl must start with http://, https:// or socks5://")
	}
	return nil
}

// checkTLS parses the inline PEM so a mistake is reported when saving, not
// on the first query.
func checkTLS(c *config.TLSConfig) error {
	c.ServerName = strings.TrimSpace(c.ServerName)
	if len(c.ServerName) > maxFieldLen || strings.ContainsFunc(c.ServerName, func(r rune) bool { return isControl(r) || r == ' ' || r == '/' }) {
		return invalid("tlsServerName must be a host name of at most %d characters", maxFieldLen)
	}
	for field, v := range map[string]string{"tlsCACert": c.CA, "tlsClientCert": c.Cert, "tlsClientKey": string(c.Key)} {
		if len(v) > maxPEMLen {
			return invalid("%s must be at most %d bytes of PEM", field, maxPEMLen)
		}
	}
	if c.CA != "" && !x509.NewCertPool().AppendCertsFromPEM([]byte(c.CA)) {
		return invalid("tlsCACert holds no PEM certificate")
	}
	switch {
	case c.Cert != "" && c.Key == "":
		return invalid("tlsClientCert needs tlsClientKey")
	case c.Cert == "" && c.Key != "":
		return invalid("tlsClientKey needs tlsClientCert")
	case c.Cert != "":
		// The error of X509KeyPair names what is wrong, never key bytes.
		if _, err := tls.X509KeyPair([]byte(c.Cert), []byte(c.Key)); err != nil {
			return invalid("tlsClientCert and tlsClientKey: %v", err)
		}
	}
	c.MinVersion, c.MaxVersion = 0, 0
	return nil
}

func (s *Settings) normalizeHeaders() error {
	in := s.Headers()
	if len(in) > maxHeaders {
		return invalid("at most %d extra headers", maxHeaders)
	}
	if s.HTTP.HTTPHeaders != nil {
		for k, h := range s.HTTP.HTTPHeaders.Headers {
			if len(h.Values) != 1 || len(h.Secrets) > 0 || len(h.Files) > 0 {
				return invalid("header %q: give exactly one value", k)
			}
		}
	}
	headers := make(map[string]string, len(in))
	for k, v := range in {
		if !validHeaderName(k) {
			return invalid("header name %q is not a valid HTTP header name", k)
		}
		ck := http.CanonicalHeaderKey(k)
		if forbiddenHeader(ck) {
			return invalid("header %q may not be set as an extra header: use basicAuthUser/basicAuthPassword or bearerToken for credentials", ck)
		}
		if _, dup := headers[ck]; dup {
			return invalid("header %q given twice", ck)
		}
		if len(v) > maxSecretLen || strings.ContainsFunc(v, isControl) {
			return invalid("header %q: value must be at most %d characters without control characters", ck, maxSecretLen)
		}
		headers[ck] = v
	}
	s.SetHeaders(headers)
	return nil
}

// forbiddenHeader: promgate's own list, and the headers Prometheus'
// client configuration reserves.
func forbiddenHeader(canonical string) bool {
	_, reserved := config.ReservedHeaders[canonical]
	return reserved || forbiddenHeaders[canonical]
}

// NormalizeURL checks a backend base URL: http or https, a host, no
// userinfo (credentials go in their own write-only fields), no query or
// fragment, and a path prefix without empty or dot segments. It returns it
// without a trailing slash.
func NormalizeURL(raw string) (string, error) {
	if raw == "" {
		return "", invalid("url is required, e.g. http://prometheus:9090")
	}
	if len(raw) > maxURLLen || strings.ContainsFunc(raw, isControl) {
		return "", invalid("url is too long or has control characters")
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse errors quote the input, which may hold a password.
		return "", invalid("url does not parse")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", invalid("url must start with http:// or https://")
	case u.User != nil:
		return "", invalid("url may not contain a user or password: use basicAuthUser and basicAuthPassword")
	case u.Host == "" || u.Hostname() == "":
		return "", invalid("url needs a host")
	case u.RawQuery != "" || u.ForceQuery:
		return "", invalid("url may not have a query string")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return "", invalid("url may not have a fragment")
	case u.Opaque != "":
		return "", invalid("url does not parse")
	}
	if u.RawPath != "" {
		return "", invalid("url path may not contain escaped characters")
	}
	p := strings.TrimRight(u.Path, "/")
	if p != "" {
		for seg := range strings.SplitSeq(p[1:], "/") {
			if seg == "" || seg == "." || seg == ".." {
				return "", invalid("url path may not contain empty, '.' or '..' segments")
			}
		}
	}
	if strings.HasSuffix(p, "/api/v1") || strings.Contains(p+"/", "/api/v1/") {
		return "", invalid("give the base URL without /api/v1 (e.g. http://prometheus:9090 or https://mimir/prometheus)")
	}
	out := url.URL{Scheme: u.Scheme, Host: strings.ToLower(u.Host), Path: p}
	return out.String(), nil
}

// NormalizeWriteURL checks a remote_write URL: as a base URL (http or
// https, a host, no userinfo, query or fragment, no empty or dot path
// segments) but with the whole path of the receiving endpoint, which
// backends name differently (/api/v1/receive, /api/v1/push, /api/v1/write).
func NormalizeWriteURL(raw string) (string, error) {
	if len(raw) > maxURLLen || strings.ContainsFunc(raw, isControl) {
		return "", invalid("writeUrl is too long or has control characters")
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Opaque != "":
		return "", invalid("writeUrl does not parse") // url.Parse errors quote the input
	case u.Scheme != "http" && u.Scheme != "https":
		return "", invalid("writeUrl must start with http:// or https://")
	case u.User != nil:
		return "", invalid("writeUrl may not contain a user or password: the data source's credentials are sent")
	case u.Host == "" || u.Hostname() == "":
		return "", invalid("writeUrl needs a host")
	case u.RawQuery != "" || u.ForceQuery:
		return "", invalid("writeUrl may not have a query string")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return "", invalid("writeUrl may not have a fragment")
	case u.RawPath != "":
		return "", invalid("writeUrl path may not contain escaped characters")
	}
	p := strings.TrimRight(u.Path, "/")
	if p == "" {
		return "", invalid("writeUrl needs the receiving path, e.g. http://thanos-receive:19291/api/v1/receive or https://mimir/api/v1/push")
	}
	for seg := range strings.SplitSeq(p[1:], "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", invalid("writeUrl path may not contain empty, '.' or '..' segments")
		}
	}
	out := url.URL{Scheme: u.Scheme, Host: strings.ToLower(u.Host), Path: p}
	return out.String(), nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

func validUID(s string) bool {
	if len(s) == 0 || len(s) > 40 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func validHeaderName(s string) bool {
	if s == "" || len(s) > 100 {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// NewUID returns a random uid. We pick it ourselves, not the store, because
// the sealed secrets are bound to it.
func NewUID() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 14)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// Codec converts between Settings and store rows, sealing the secrets.
type Codec struct {
	box *secrets.Box
}

// NewCodec returns a codec that seals with box.
func NewCodec(box *secrets.Box) *Codec { return &Codec{box: box} }

// sealed is the plaintext inside store.DataSource.Secrets. The first two
// fields are the whole of what earlier versions sealed, under the same
// names, so their rows open as they are. The row has columns only for the
// basic auth user and the headers, so the rest of the HTTP client settings
// are sealed too: the certificates and names are not secret, but there is
// nowhere else in the row to keep them, and the API still shows them.
type sealed struct {
	BasicAuthPassword  string `json:"basicAuthPassword,omitempty"`
	BearerToken        string `json:"bearerToken,omitempty"`
	OAuth2ClientSecret string `json:"oauth2ClientSecret,omitempty"`
	TLSClientKey       string `json:"tlsClientKey,omitempty"`

	OAuth2        *sealedOAuth2 `json:"oauth2,omitempty"`
	TLSCACert     string        `json:"tlsCACert,omitempty"`
	TLSClientCert string        `json:"tlsClientCert,omitempty"`
	TLSServerName string        `json:"tlsServerName,omitempty"`
	TLSSkipVerify bool          `json:"tlsSkipVerify,omitempty"`
	ProxyURL      string        `json:"proxyUrl,omitempty"`
	// WriteURL is sealed too, for more than want of a column: the
	// credentials are sent there, so only a holder of the key may change
	// where (as the read URL is bound to them by aad).
	WriteURL string `json:"writeUrl,omitempty"`
	// The query cache settings, here for want of columns too.
	CacheDisabled bool `json:"cacheDisabled,omitempty"`
	NoStepAlign   bool `json:"noStepAlign,omitempty"`
}

type sealedOAuth2 struct {
	ClientID string   `json:"clientId"`
	TokenURL string   `json:"tokenUrl"`
	Scopes   []string `json:"scopes,omitempty"`
}

// aad binds sealed secrets to where they are sent: someone who can write
// the database but lacks the key cannot point a data source's stored
// password at another URL or user.
func aad(uid, rawURL, user string) []byte {
	return []byte("promgate-datasource-secrets-v1\x00" + uid + "\x00" + rawURL + "\x00" + user)
}

// ToRow builds the store row of s (already normalized, with a UID).
func (c *Codec) ToRow(s Settings) (store.DataSource, error) {
	if s.UID == "" {
		return store.DataSource{}, errors.New("data source has no uid")
	}
	d := store.DataSource{
		ID: s.ID, UID: s.UID, Name: s.Name, Type: "prometheus", URL: s.URL, Env: s.Env, Site: s.Site,
		BasicAuthUser: s.BasicAuthUser(), Headers: s.Headers(), Timeout: s.Timeout, CreatedAt: s.CreatedAt,
	}
	h := s.HTTP
	sec := sealed{
		BasicAuthPassword: s.BasicAuthPassword(), BearerToken: s.BearerToken(), OAuth2ClientSecret: s.OAuth2ClientSecret(),
		TLSClientKey: string(h.TLSConfig.Key), TLSCACert: h.TLSConfig.CA, TLSClientCert: h.TLSConfig.Cert,
		TLSServerName: h.TLSConfig.ServerName, TLSSkipVerify: h.TLSConfig.InsecureSkipVerify,
		CacheDisabled: s.Cache.Disabled, NoStepAlign: s.Cache.NoStepAlign,
	}
	if h.OAuth2 != nil {
		sec.OAuth2 = &sealedOAuth2{ClientID: h.OAuth2.ClientID, TokenURL: h.OAuth2.TokenURL, Scopes: h.OAuth2.Scopes}
	}
	if h.ProxyURL.URL != nil {
		sec.ProxyURL = h.ProxyURL.String()
	}
	sec.WriteURL = s.WriteURL
	if sec == (sealed{}) {
		return d, nil // nothing to seal: the row reads as it did before
	}
	plain, err := json.Marshal(sec)
	if err != nil {
		return store.DataSource{}, fmt.Errorf("encode secrets: %w", err)
	}
	if d.Secrets, err = c.box.Seal(plain, aad(s.UID, s.URL, d.BasicAuthUser)); err != nil {
		return store.DataSource{}, fmt.Errorf("seal secrets of data source %q: %w", s.Name, err)
	}
	return d, nil
}

// FromRow opens a store row, rows written before the HTTP client settings
// existed included. A row whose secrets do not open is an error wrapping
// secrets.ErrDecrypt; the settings returned with it lack what was sealed.
func (c *Codec) FromRow(d store.DataSource) (Settings, error) {
	s := Settings{
		ID: d.ID, UID: d.UID, Name: d.Name, URL: d.URL, Env: d.Env, Site: d.Site,
		Timeout: d.Timeout, CreatedAt: d.CreatedAt,
	}
	if s.Timeout <= 0 {
		s.Timeout = DefaultTimeout
	}
	headers := make(map[string]string, len(d.Headers))
	for k, v := range d.Headers {
		if ck := http.CanonicalHeaderKey(k); !forbiddenHeader(ck) { // rows are validated on write; this is the second line
			headers[ck] = v
		}
	}
	s.SetHeaders(headers)
	s.HTTP.FollowRedirects, s.HTTP.EnableHTTP2, s.HTTP.ProxyFromEnvironment = false, true, true
	s.SetBasicAuth(d.BasicAuthUser, "")
	if len(d.Secrets) == 0 {
		return s, nil
	}
	plain, err := c.box.Open(d.Secrets, aad(d.UID, d.URL, d.BasicAuthUser))
	if err != nil {
		return s, fmt.Errorf("data source %d (%q): %w", d.ID, d.Name, err)
	}
	var sec sealed
	if err := json.Unmarshal(plain, &sec); err != nil {
		return s, fmt.Errorf("data source %d (%q): decode secrets: %w", d.ID, d.Name, err)
	}
	if d.BasicAuthUser != "" {
		s.SetBasicAuth(d.BasicAuthUser, sec.BasicAuthPassword)
	}
	s.SetBearerToken(sec.BearerToken)
	if sec.OAuth2 != nil {
		s.HTTP.OAuth2 = &config.OAuth2{ClientID: sec.OAuth2.ClientID, ClientSecret: config.Secret(sec.OAuth2ClientSecret),
			TokenURL: sec.OAuth2.TokenURL, Scopes: sec.OAuth2.Scopes}
	}
	s.Cache = CacheSettings{Disabled: sec.CacheDisabled, NoStepAlign: sec.NoStepAlign}
	s.HTTP.TLSConfig = config.TLSConfig{CA: sec.TLSCACert, Cert: sec.TLSClientCert, Key: config.Secret(sec.TLSClientKey),
		ServerName: sec.TLSServerName, InsecureSkipVerify: sec.TLSSkipVerify}
	s.WriteURL = sec.WriteURL
	if sec.ProxyURL != "" {
		u, err := url.Parse(sec.ProxyURL)
		if err != nil {
			return s, fmt.Errorf("data source %d (%q): stored proxy URL does not parse", d.ID, d.Name)
		}
		s.HTTP.ProxyURL, s.HTTP.ProxyFromEnvironment = config.URL{URL: u}, false
	}
	return s, nil
}
