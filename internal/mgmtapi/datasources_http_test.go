package mgmtapi_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/promgate/promgate/internal/access"
	"github.com/promgate/promgate/internal/mgmtapi"
	"github.com/promgate/promgate/internal/promtest"
	"github.com/promgate/promgate/internal/server"
	"github.com/promgate/promgate/internal/testkit"
)

const dsAPI = mgmtapi.DataSourcesPrefix

func TestAPIValidation(t *testing.T) {
	front := promtest.Start(t)
	good := func(mod func(m map[string]any)) map[string]any {
		m := map[string]any{"name": "v", "url": "http://127.0.0.1:9090", "env": "prod"}
		mod(m)
		return m
	}
	cases := []struct {
		name string
		body any
		want string
	}{
		{"no name", good(func(m map[string]any) { delete(m, "name") }), "name is required"},
		{"no env", good(func(m map[string]any) { m["env"] = " " }), "env is required"},
		{"no url", good(func(m map[string]any) { delete(m, "url") }), "url is required"},
		{"ftp url", good(func(m map[string]any) { m["url"] = "ftp://x" }), "http:// or https://"},
		{"userinfo in url", good(func(m map[string]any) { m["url"] = "http://user:hunter2@x:9090" }), "may not contain a user or password"},
		{"query in url", good(func(m map[string]any) { m["url"] = "http://x:9090/?a=b" }), "query string"},
		{"bare question mark", good(func(m map[string]any) { m["url"] = "http://x:9090/?" }), "query string"},
		{"fragment in url", good(func(m map[string]any) { m["url"] = "http://x:9090/#f" }), "fragment"},
		{"dotdot in url", good(func(m map[string]any) { m["url"] = "http://x:9090/a/../b" }), "segments"},
		{"api/v1 in url", good(func(m map[string]any) { m["url"] = "http://x:9090/api/v1" }), "without /api/v1"},
		{"no host", good(func(m map[string]any) { m["url"] = "http:///path" }), "needs a host"},
		{"both auth kinds", good(func(m map[string]any) { m["basicAuthUser"] = "u"; m["basicAuthPassword"] = "p"; m["bearerToken"] = "t" }), "not both"},
		{"password without user", good(func(m map[string]any) { m["basicAuthPassword"] = "p" }), "needs basicAuthUser"},
		{"authorization header", good(func(m map[string]any) { m["headers"] = map[string]string{"authorization": "Bearer x"} }), "may not be set"},
		{"cookie header", good(func(m map[string]any) { m["headers"] = map[string]string{"Cookie": "a=b"} }), "may not be set"},
		{"hop-by-hop header", good(func(m map[string]any) { m["headers"] = map[string]string{"Connection": "close"} }), "may not be set"},
		{"bad header name", good(func(m map[string]any) { m["headers"] = map[string]string{"X Bad": "1"} }), "not a valid HTTP header name"},
		{"header value newline", good(func(m map[string]any) { m["headers"] = map[string]string{"X-A": "a\r\nX-B: b"} }), "control characters"},
		{"timeout too big", good(func(m map[string]any) { m["timeoutSeconds"] = 100000 }), "timeoutSeconds"},
		{"timeout too small", good(func(m map[string]any) { m["timeoutSeconds"] = 0 }), "timeoutSeconds"},
		{"embedded uid", good(func(m map[string]any) { m["uid"] = "embedded" }), "embedded"},
		{"bad uid", good(func(m map[string]any) { m["uid"] = "a/b" }), "uid must be"},
		{"unknown field", good(func(m map[string]any) { m["password"] = "x" }), "unknown field"},
		{"not JSON", "name=x", "bad JSON body"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := front.Owner()
			status, body := c.Do(t, http.MethodPost, front.URL+dsAPI, tc.body)
			if status != http.StatusBadRequest || !strings.Contains(string(body), tc.want) {
				t.Fatalf("%d %s, want 400 with %q", status, body, tc.want)
			}
			if strings.Contains(string(body), "hunter2") {
				t.Fatalf("error echoes the password: %s", body)
			}
		})
	}
}

// TestAPIPermissions: only OWNERs (and unlimited OWNER credentials) change
// data sources; anyone who may query lists them.
func TestAPIPermissions(t *testing.T) {
	front := promtest.Start(t)
	ds := promtest.AddDataSource(t, front, map[string]any{"name": "p", "url": "http://127.0.0.1:1", "env": "prod"})
	vk, vt := front.Credential(t, access.RoleViewer, access.ScopeRead, "")
	ek, et := front.Credential(t, access.RoleEditor, access.ScopeRead, "")
	lk, lt := front.Credential(t, access.RoleOwner, access.ScopeRead, `{env="prod"}`)
	wk, wt := front.Credential(t, access.RoleOwner, access.ScopeWrite, "")
	one := fmt.Sprintf("%s%s/%d", front.URL, dsAPI, ds.ID)
	body := map[string]any{"name": "p2", "url": "http://127.0.0.1:2", "env": "prod"}
	cases := []struct {
		name        string
		c           promtest.Caller
		method, url string
		body        any
		want        int
	}{
		{"viewer lists", promtest.Caller{Key: vk, Token: vt}, http.MethodGet, front.URL + dsAPI, nil, 200},
		{"viewer gets one", promtest.Caller{Key: vk, Token: vt}, http.MethodGet, one, nil, 200},
		{"viewer creates", promtest.Caller{Key: vk, Token: vt}, http.MethodPost, front.URL + dsAPI, body, 403},
		{"editor creates", promtest.Caller{Key: ek, Token: et}, http.MethodPost, front.URL + dsAPI, body, 403},
		{"editor updates", promtest.Caller{Key: ek, Token: et}, http.MethodPut, one, body, 403},
		{"editor deletes", promtest.Caller{Key: ek, Token: et}, http.MethodDelete, one, nil, 403},
		{"editor tests", promtest.Caller{Key: ek, Token: et}, http.MethodPost, one + "/test", nil, 403},
		{"editor tests unsaved", promtest.Caller{Key: ek, Token: et}, http.MethodPost, front.URL + dsAPI + "/test", body, 403},
		{"label-limited owner creates", promtest.Caller{Key: lk, Token: lt}, http.MethodPost, front.URL + dsAPI, body, 403},
		{"write-only owner lists", promtest.Caller{Key: wk, Token: wt}, http.MethodGet, front.URL + dsAPI, nil, 403},
		{"no credentials", promtest.Caller{}, http.MethodGet, front.URL + dsAPI, nil, 401},
		{"wrong token", promtest.Caller{Key: front.Key, Token: vt}, http.MethodGet, front.URL + dsAPI, nil, 401},
		{"owner deletes embedded", front.Owner(), http.MethodDelete, front.URL + dsAPI + "/1", nil, 400},
		{"owner updates embedded", front.Owner(), http.MethodPut, front.URL + dsAPI + "/1", body, 400},
		{"owner gets missing", front.Owner(), http.MethodGet, front.URL + dsAPI + "/999", nil, 404},
		{"owner bad id", front.Owner(), http.MethodGet, front.URL + dsAPI + "/x", nil, 400},
		{"owner unknown path", front.Owner(), http.MethodGet, front.URL + dsAPI + "/1/nope", nil, 404},
		{"owner duplicate name", front.Owner(), http.MethodPost, front.URL + dsAPI, map[string]any{"name": "p", "url": "http://127.0.0.1:2", "env": "prod"}, 409},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, out := tc.c.Do(t, tc.method, tc.url, tc.body)
			if status != tc.want {
				t.Fatalf("%d %s, want %d", status, out, tc.want)
			}
		})
	}
	// Other management paths still reach mgmtapi.
	if status, out := front.Owner().Do(t, http.MethodGet, front.URL+"/api-server/v1/me", nil); status != 200 {
		t.Fatalf("me: %d %s", status, out)
	}
}

// TestAPISessionCSRF: a browser session changes data sources only with the
// CSRF token, like the rest of the management API.
func TestAPISessionCSRF(t *testing.T) {
	front := promtest.Start(t)
	req, _ := http.NewRequest(http.MethodPost, front.URL+"/api-server/v1/login", strings.NewReader(`{"login":"admin","password":"`+promtest.OwnerPassword+`"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := testkit.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var login struct {
		Data struct {
			CSRFToken string `json:"csrfToken"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&login); err != nil || resp.StatusCode != 200 {
		t.Fatalf("login: %d %v", resp.StatusCode, err)
	}
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		cookie = c
	}
	body := map[string]any{"name": "s", "url": "http://127.0.0.1:1", "env": "prod"}
	cases := []struct {
		name   string
		c      promtest.Caller
		method string
		want   int
	}{
		{"list without token", promtest.Caller{Cookie: cookie}, http.MethodGet, 200},
		{"create without token", promtest.Caller{Cookie: cookie}, http.MethodPost, 403},
		{"create with wrong token", promtest.Caller{Cookie: cookie, CSRF: "nope"}, http.MethodPost, 403},
		{"create with token", promtest.Caller{Cookie: cookie, CSRF: login.Data.CSRFToken}, http.MethodPost, 201},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var b any
			if tc.method == http.MethodPost {
				b = body
			}
			status, out := tc.c.Do(t, tc.method, front.URL+dsAPI, b)
			if status != tc.want {
				t.Fatalf("%d %s, want %d", status, out, tc.want)
			}
		})
	}
}

// TestAPIChangesApplyNextRequest: update, secret handling and removal take
// effect on the very next proxied request.
func TestAPIChangesApplyNextRequest(t *testing.T) {
	front, rec, ds := promtest.StartRecorded(t, nil, nil)
	other := promtest.NewRecorder(t, nil)
	one := fmt.Sprintf("%s%s/%d", front.URL, dsAPI, ds.ID)
	query := fmt.Sprintf("%s%s%d/api/v1/query?query=up", front.URL, server.ProxyPrefix, ds.ID)
	basic := func(u, p string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(u+":"+p)) }
	steps := []struct {
		name     string
		update   map[string]any
		backend  *promtest.Recorder
		wantAuth string
		wantOrg  string
	}{
		{"as created", nil, rec, basic("dsuser", "ds-password-123"), "tenant-a"},
		{"password kept when omitted", map[string]any{"name": "recorded", "url": rec.URL + "/prefix", "env": "test", "basicAuthUser": "dsuser"}, rec, basic("dsuser", "ds-password-123"), ""},
		{"new URL, secret kept", map[string]any{"name": "recorded", "url": other.URL, "env": "test", "basicAuthUser": "dsuser", "headers": map[string]string{"X-Scope-OrgID": "tenant-b"}}, other, basic("dsuser", "ds-password-123"), "tenant-b"},
		{"switch to bearer", map[string]any{"name": "recorded", "url": other.URL, "env": "test", "bearerToken": "tok-456789"}, other, "Bearer tok-456789", ""},
		{"token cleared", map[string]any{"name": "recorded", "url": other.URL, "env": "test", "bearerToken": ""}, other, "", ""},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if st.update != nil {
				status, out := front.Owner().Do(t, http.MethodPut, one, st.update)
				if status != 200 {
					t.Fatalf("update: %d %s", status, out)
				}
			}
			rec.Reset()
			other.Reset()
			if status, out := front.Owner().Do(t, http.MethodGet, query, nil); status != 200 {
				t.Fatalf("query: %d %s", status, out)
			}
			seen := st.backend.Seen()
			if len(seen) != 1 {
				t.Fatalf("backend saw %d requests", len(seen))
			}
			if got := seen[0].Header.Get("Authorization"); got != st.wantAuth {
				t.Errorf("Authorization %q, want %q", got, st.wantAuth)
			}
			if got := seen[0].Header.Get("X-Scope-OrgID"); got != st.wantOrg {
				t.Errorf("X-Scope-OrgID %q, want %q", got, st.wantOrg)
			}
		})
	}
	if status, out := front.Owner().Do(t, http.MethodDelete, one, nil); status != 200 {
		t.Fatalf("delete: %d %s", status, out)
	}
	if status, out := front.Owner().Do(t, http.MethodGet, query, nil); status != 404 {
		t.Fatalf("query after delete: %d %s", status, out)
	}
	events, err := front.App.Store.ListAudit(testkit.Context(t), 100)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range events {
		if strings.HasPrefix(e.Action, "datasource.") {
			actions = append(actions, e.Action)
			if strings.Contains(e.Detail, "ds-password-123") || strings.Contains(e.Detail, "tok-456789") {
				t.Errorf("audit detail holds a secret: %s", e.Detail)
			}
		}
	}
	if strings.Count(strings.Join(actions, " "), "datasource.update") != 4 || !strings.Contains(strings.Join(actions, " "), "datasource.create") || !strings.Contains(strings.Join(actions, " "), "datasource.delete") {
		t.Errorf("audit actions %v", actions)
	}
}

// TestAPITestConnection reports each backend's state in words.
func TestAPITestConnection(t *testing.T) {
	back := promtest.Start(t)
	front := promtest.Start(t)
	noBuildinfo := promtest.NewRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/buildinfo") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"scalar","result":[1,"2"]}}`))
	})
	html := promtest.NewRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("<html>Grafana</html>"))
	})
	slow := promtest.NewRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	backURL := back.URL + server.ProxyPrefix + "1"
	cases := []struct {
		name   string
		body   map[string]any
		wantOK bool
		want   string
	}{
		{"working promgate", map[string]any{"url": backURL, "basicAuthUser": back.Key, "basicAuthPassword": back.Token}, true, "Data source is working: Prometheus test"},
		{"wrong password", map[string]any{"url": backURL, "basicAuthUser": back.Key, "basicAuthPassword": "wrong-password"}, false, "HTTP 401 from backend: invalid credentials; check the basic auth"},
		{"no credentials", map[string]any{"url": backURL}, false, "HTTP 401 from backend"},
		{"closed port", map[string]any{"url": "http://" + testkit.FreeAddr(t)}, false, "Cannot reach the data source: dial: connection refused"},
		{"unknown host", map[string]any{"url": "http://nonexistent.invalid:9090"}, false, "Cannot reach the data source"},
		{"no buildinfo, query works", map[string]any{"url": noBuildinfo.URL}, true, "answered the query 1+1 (no build info: HTTP 404)"},
		{"not Prometheus", map[string]any{"url": html.URL}, false, "not the Prometheus API"},
		{"wrong prefix", map[string]any{"url": back.URL + "/nope"}, false, "HTTP 404 from backend"},
		{"slow", map[string]any{"url": slow.URL, "timeoutSeconds": 1}, false, "No answer from the data source within 1s"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.body["name"], tc.body["env"] = "t", "prod"
			status, out := front.Owner().Do(t, http.MethodPost, front.URL+dsAPI+"/test", tc.body)
			if status != 200 {
				t.Fatalf("%d %s", status, out)
			}
			var res struct {
				OK      bool   `json:"ok"`
				Message string `json:"message"`
			}
			promtest.DecodeData(t, out, &res)
			if res.OK != tc.wantOK || !strings.Contains(res.Message, tc.want) {
				t.Fatalf("ok=%v %q, want ok=%v containing %q", res.OK, res.Message, tc.wantOK, tc.want)
			}
			if strings.Contains(string(out), back.Token) {
				t.Fatal("test answer contains the password")
			}
		})
	}
	// Saved: by id, and unsaved edits that keep the stored password.
	ds := promtest.AddDataSource(t, front, map[string]any{"name": "saved", "url": backURL, "env": "prod", "basicAuthUser": back.Key, "basicAuthPassword": back.Token})
	for name, req := range map[string]struct {
		url  string
		body any
	}{
		"saved":                  {fmt.Sprintf("%s%s/%d/test", front.URL, dsAPI, ds.ID), nil},
		"unsaved, stored secret": {front.URL + dsAPI + "/test", map[string]any{"id": ds.ID, "name": "saved", "url": backURL, "env": "prod", "basicAuthUser": back.Key}},
		"embedded":               {front.URL + dsAPI + "/1/test", nil},
	} {
		status, out := front.Owner().Do(t, http.MethodPost, req.url, req.body)
		if status != 200 || !bytes.Contains(out, []byte(`"ok":true`)) {
			t.Errorf("%s: %d %s", name, status, out)
		}
	}
}

// TestSecretsNeverShown: no API answer, page of the proxy or log line holds
// a data source secret, and the database holds only ciphertext.
func TestSecretsNeverShown(t *testing.T) {
	const password, token = "pw-Zx9-never-shown", "tok-Qy7-never-shown"
	front, rec, ds := promtest.StartRecorded(t, promtest.Reply(500, "text/plain", "boom"), map[string]any{"basicAuthPassword": password})
	bearer := promtest.AddDataSource(t, front, map[string]any{"name": "bearer", "url": "http://" + testkit.FreeAddr(t), "env": "prod", "bearerToken": token})
	_ = rec
	// An OAuth2 client secret and a TLS client key are secrets too.
	const clientSecret = "oauth-Kp3-never-shown"
	pki := promtest.NewPKI(t)
	tlsKey := readPEM(t, pki.ClientKeyFile)
	keyLine := strings.Split(tlsKey, "\n")[1] // a line of the key's base64
	oauth := promtest.AddDataSource(t, front, map[string]any{"name": "oauth", "url": "http://" + testkit.FreeAddr(t), "env": "prod",
		"oauth2ClientId": "cid", "oauth2ClientSecret": clientSecret, "oauth2TokenUrl": "http://" + testkit.FreeAddr(t) + "/token"})
	mtls := promtest.AddDataSource(t, front, map[string]any{"name": "mtls", "url": "https://" + testkit.FreeAddr(t), "env": "prod",
		"tlsClientCert": readPEM(t, pki.ClientCertFile), "tlsClientKey": tlsKey})
	c := front.Owner()
	var bodies [][]byte
	collect := func(method, path string, body any) {
		_, out := c.Do(t, method, front.URL+path, body)
		bodies = append(bodies, out)
	}
	collect(http.MethodGet, dsAPI, nil)
	collect(http.MethodGet, fmt.Sprintf("%s/%d", dsAPI, ds.ID), nil)
	collect(http.MethodGet, fmt.Sprintf("%s/%d", dsAPI, bearer.ID), nil)
	collect(http.MethodPut, fmt.Sprintf("%s/%d", dsAPI, ds.ID), map[string]any{"name": "recorded", "url": rec.URL, "env": "test", "basicAuthUser": "dsuser"})
	collect(http.MethodPost, fmt.Sprintf("%s/%d/test", dsAPI, ds.ID), nil)
	collect(http.MethodPost, fmt.Sprintf("%s/%d/test", dsAPI, bearer.ID), nil)
	collect(http.MethodGet, "/api-server/v1/grafana/api/datasources", nil)
	collect(http.MethodGet, "/api-server/v1/endpoints", nil)
	collect(http.MethodGet, fmt.Sprintf("%s%d/api/v1/query?query=up", server.ProxyPrefix, ds.ID), nil)
	collect(http.MethodGet, fmt.Sprintf("%s%d/api/v1/query?query=up", server.ProxyPrefix, bearer.ID), nil)
	for _, id := range []int64{oauth.ID, mtls.ID} {
		collect(http.MethodGet, fmt.Sprintf("%s/%d", dsAPI, id), nil)
		collect(http.MethodPost, fmt.Sprintf("%s/%d/test", dsAPI, id), nil)
		collect(http.MethodGet, fmt.Sprintf("%s%d/api/v1/query?query=up", server.ProxyPrefix, id), nil)
	}
	collect(http.MethodGet, "/", nil)
	secretsOf := [][]byte{[]byte(password), []byte(token), []byte(clientSecret), []byte(keyLine)}
	holds := func(b []byte) bool {
		for _, sec := range secretsOf {
			if bytes.Contains(b, sec) {
				return true
			}
		}
		return false
	}
	if !bytes.Contains(bodies[0], []byte(`"hasOAuth2ClientSecret":true`)) || !bytes.Contains(bodies[0], []byte(`"hasTLSClientKey":true`)) {
		t.Errorf("list does not say the client secret and key are set: %s", bodies[0])
	}
	for i, b := range bodies {
		if holds(b) {
			t.Errorf("answer %d holds a secret: %s", i, b)
		}
	}
	if !bytes.Contains(bodies[0], []byte(`"hasBasicAuthPassword":true`)) || !bytes.Contains(bodies[2], []byte(`"hasBearerToken":true`)) {
		t.Errorf("list does not say secrets are set: %s / %s", bodies[0], bodies[2])
	}
	if logs := front.Logs(); holds([]byte(logs)) {
		t.Error("logs hold a secret")
	}
	// At rest: only ciphertext in the database files, key file private.
	files, _ := filepath.Glob(filepath.Join(front.DataDir(), "*"))
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			continue // directories
		}
		if holds(raw) {
			t.Errorf("%s holds a secret in the clear", f)
		}
	}
	fi, err := os.Stat(filepath.Join(front.DataDir(), "secret.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("secret.key: %v, mode %v", err, fi.Mode())
	}
}

// TestWrongSecretKey: with another key file the data source answers 500
// saying so, and never sends a request without its credentials.
func TestWrongSecretKey(t *testing.T) {
	dir := t.TempDir()
	front := promtest.Start(t, promtest.WithDataDir(dir))
	rec := promtest.NewRecorder(t, nil)
	ds := promtest.AddDataSource(t, front, map[string]any{"name": "k", "url": rec.URL, "env": "prod", "bearerToken": "tok-1234"})
	front.Stop()
	if err := os.WriteFile(filepath.Join(dir, "secret.key"), []byte(strings.Repeat("ab", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	front = promtest.Start(t, promtest.WithDataDir(dir))
	status, out := front.Owner().Do(t, http.MethodGet, fmt.Sprintf("%s%s%d/api/v1/query?query=up", front.URL, server.ProxyPrefix, ds.ID), nil)
	if status != 500 || !strings.Contains(string(out), "do not decrypt") {
		t.Fatalf("%d %s", status, out)
	}
	if n := len(rec.Seen()); n != 0 {
		t.Fatalf("backend saw %d requests", n)
	}
	_, out = front.Owner().Do(t, http.MethodGet, fmt.Sprintf("%s%s/%d", front.URL, dsAPI, ds.ID), nil)
	if !strings.Contains(string(out), "problem") {
		t.Fatalf("no problem shown: %s", out)
	}
	// Saving without giving the secret again is refused, with it works.
	one := fmt.Sprintf("%s%s/%d", front.URL, dsAPI, ds.ID)
	if status, out := front.Owner().Do(t, http.MethodPut, one, map[string]any{"name": "k", "url": rec.URL, "env": "prod"}); status != 400 {
		t.Fatalf("update without secret: %d %s", status, out)
	}
	if status, out := front.Owner().Do(t, http.MethodPut, one, map[string]any{"name": "k", "url": rec.URL, "env": "prod", "bearerToken": "tok-5678"}); status != 200 {
		t.Fatalf("update with secret: %d %s", status, out)
	}
	if status, out := front.Owner().Do(t, http.MethodGet, fmt.Sprintf("%s%s%d/api/v1/query?query=up", front.URL, server.ProxyPrefix, ds.ID), nil); status != 200 {
		t.Fatalf("after re-entering the secret: %d %s", status, out)
	}
}

// TestOneDataSourceList: the Grafana-shaped list, the management API's
// list and the endpoint URLs show the same data sources in the same order,
// for a caller who may use every data source and for one limited to some.
func TestOneDataSourceList(t *testing.T) {
	front := promtest.Start(t)
	a := promtest.AddDataSource(t, front, map[string]any{"name": "a", "url": "http://127.0.0.1:1", "env": "prod"})
	b := promtest.AddDataSource(t, front, map[string]any{"name": "b", "url": "http://127.0.0.1:2", "env": "dev"})
	status, body := front.Owner().Do(t, http.MethodPost, front.URL+"/api-server/v1/global-credentials",
		map[string]any{"name": "limited", "role": "VIEWER", "dataSourceIds": []int64{b.ID}})
	if status != http.StatusCreated && status != http.StatusOK {
		t.Fatalf("create limited credential: %d %s", status, body)
	}
	var limited struct{ Key, Token string }
	promtest.DecodeData(t, body, &limited)

	ids := func(t *testing.T, c promtest.Caller, path string, grafana bool) []int64 {
		t.Helper()
		status, body := c.Do(t, http.MethodGet, front.URL+path, nil)
		if status != http.StatusOK {
			t.Fatalf("%s: %d %s", path, status, body)
		}
		var list []struct{ ID int64 }
		if grafana { // Grafana's list is a bare array
			if err := json.Unmarshal(body, &list); err != nil {
				t.Fatalf("%s: %v: %s", path, err, body)
			}
		} else {
			promtest.DecodeData(t, body, &list)
		}
		out := []int64{}
		for _, d := range list {
			out = append(out, d.ID)
		}
		return out
	}
	for _, tc := range []struct {
		name      string
		c         promtest.Caller
		endpoints bool // the caller may view the endpoint URLs
		want      []int64
	}{
		{"every data source", front.Owner(), true, []int64{1, a.ID, b.ID}},
		{"limited to one", promtest.Caller{Key: limited.Key, Token: limited.Token}, false, []int64{b.ID}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, l := range []struct {
				path    string
				grafana bool
			}{
				{"/api-server/v1/grafana/api/datasources", true},
				{dsAPI, false},
				{"/api-server/v1/endpoints", false},
			} {
				if l.path == "/api-server/v1/endpoints" && !tc.endpoints {
					continue
				}
				if got := ids(t, tc.c, l.path, l.grafana); !slices.Equal(got, tc.want) {
					t.Errorf("%s lists %v, want %v", l.path, got, tc.want)
				}
			}
		})
	}
}

// readPEM returns the PEM text of a file made by promtest.NewPKI.
func readPEM(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
