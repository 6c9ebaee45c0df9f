package datasource

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

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
)

// Settings is a remote data source's configuration with its secrets in the
// clear. It lives only in memory; the store keeps Secrets sealed.
type Settings struct {
	ID                int64
	UID               string
	Name              string
	URL               string // http(s)://host[:port][/prefix], no trailing slash
	Env               string
	Site              string
	BasicAuthUser     string
	BasicAuthPassword string
	BearerToken       string
	Headers           map[string]string
	Timeout           time.Duration
	CreatedAt         time.Time
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
	for field, v := range map[string]string{"name": s.Name, "env": s.Env, "site": s.Site, "basicAuthUser": s.BasicAuthUser} {
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
	if strings.Contains(s.BasicAuthUser, ":") {
		return invalid("basicAuthUser may not contain ':'")
	}
	if s.BasicAuthPassword != "" && s.BasicAuthUser == "" {
		return invalid("basicAuthPassword needs basicAuthUser")
	}
	if s.BearerToken != "" && (s.BasicAuthUser != "" || s.BasicAuthPassword != "") {
		return invalid("use basic auth or a bearer token, not both (set the other to \"\")")
	}
	for _, v := range []string{s.BasicAuthPassword, s.BearerToken} {
		if len(v) > maxSecretLen || strings.ContainsFunc(v, isControl) {
			return invalid("passwords and tokens must be at most %d characters without control characters", maxSecretLen)
		}
	}
	if len(s.Headers) > maxHeaders {
		return invalid("at most %d extra headers", maxHeaders)
	}
	headers := make(map[string]string, len(s.Headers))
	for k, v := range s.Headers {
		if !validHeaderName(k) {
			return invalid("header name %q is not a valid HTTP header name", k)
		}
		ck := http.CanonicalHeaderKey(k)
		if forbiddenHeaders[ck] {
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
	s.Headers = headers
	if len(headers) == 0 {
		s.Headers = nil
	}
	switch {
	case s.Timeout == 0:
		s.Timeout = DefaultTimeout
	case s.Timeout < time.Second || s.Timeout > MaxTimeout:
		return invalid("timeout must be between 1s and %s", MaxTimeout)
	}
	return nil
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

// sealedSecrets is the plaintext inside store.DataSource.Secrets.
type sealedSecrets struct {
	BasicAuthPassword string `json:"basicAuthPassword,omitempty"`
	BearerToken       string `json:"bearerToken,omitempty"`
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
		BasicAuthUser: s.BasicAuthUser, Headers: s.Headers, Timeout: s.Timeout, CreatedAt: s.CreatedAt,
	}
	if s.BasicAuthPassword != "" || s.BearerToken != "" {
		plain, err := json.Marshal(sealedSecrets{BasicAuthPassword: s.BasicAuthPassword, BearerToken: s.BearerToken})
		if err != nil {
			return store.DataSource{}, fmt.Errorf("encode secrets: %w", err)
		}
		if d.Secrets, err = c.box.Seal(plain, aad(s.UID, s.URL, s.BasicAuthUser)); err != nil {
			return store.DataSource{}, fmt.Errorf("seal secrets of data source %q: %w", s.Name, err)
		}
	}
	return d, nil
}

// FromRow opens a store row. A row whose secrets do not open is an error
// wrapping secrets.ErrDecrypt.
func (c *Codec) FromRow(d store.DataSource) (Settings, error) {
	s := Settings{
		ID: d.ID, UID: d.UID, Name: d.Name, URL: d.URL, Env: d.Env, Site: d.Site,
		BasicAuthUser: d.BasicAuthUser, Headers: d.Headers, Timeout: d.Timeout, CreatedAt: d.CreatedAt,
	}
	if s.Timeout <= 0 {
		s.Timeout = DefaultTimeout
	}
	if len(d.Secrets) == 0 {
		return s, nil
	}
	plain, err := c.box.Open(d.Secrets, aad(d.UID, d.URL, d.BasicAuthUser))
	if err != nil {
		return s, fmt.Errorf("data source %d (%q): %w", d.ID, d.Name, err)
	}
	var sec sealedSecrets
	if err := json.Unmarshal(plain, &sec); err != nil {
		return s, fmt.Errorf("data source %d (%q): decode secrets: %w", d.ID, d.Name, err)
	}
	s.BasicAuthPassword, s.BearerToken = sec.BasicAuthPassword, sec.BearerToken
	return s, nil
}
