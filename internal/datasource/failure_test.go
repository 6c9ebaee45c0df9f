package datasource_test

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/promgate/promgate/internal/access"
	"github.com/promgate/promgate/internal/promtest"
	"github.com/promgate/promgate/internal/testkit"
)

// bigJSON is a valid Prometheus answer of about n bytes, longer than what
// promgate holds before streaming.
func bigJSON(n int) string {
	var b strings.Builder
	b.WriteString(`{"status":"success","data":{"resultType":"vector","result":[`)
	for i := 0; b.Len() < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"metric":{"__name__":"m","i":"%d"},"value":[1700000000,"%d"]}`, i, i)
	}
	b.WriteString(`]}}`)
	return b.String()
}

func TestProxyBackendDown(t *testing.T) {
	front := promtest.Start(t)
	addr := testkit.FreeAddr(t)
	ds := promtest.AddDataSource(t, front, map[string]any{"name": "down", "url": "http://" + addr, "env": "test", "basicAuthUser": "u", "basicAuthPassword": "down-password-xyz"})
	status, body := front.Owner().Do(t, http.MethodGet, front.URL+proxyPath+fmt.Sprint(ds.ID)+"/api/v1/query?query=up", nil)
	e := promtest.DecodeError(t, body)
	if status != http.StatusBadGateway || e.ErrorType != "unavailable" || !strings.HasPrefix(e.Error, `data source "down" unreachable: `) {
		t.Fatalf("%d %s", status, body)
	}
	for _, secret := range []string{"down-password-xyz", addr} {
		if strings.Contains(string(body), secret) {
			t.Errorf("error names %q: %s", secret, body)
		}
	}
}

func TestProxyBackendSlow(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	front, _, ds := promtest.StartRecorded(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}, map[string]any{"timeoutSeconds": 1})
	start := time.Now()
	status, body := front.Owner().Do(t, http.MethodGet, front.URL+proxyPath+fmt.Sprint(ds.ID)+"/api/v1/query?query=up", nil)
	took := time.Since(start)
	e := promtest.DecodeError(t, body)
	if status != http.StatusGatewayTimeout || e.ErrorType != "timeout" || e.Error != `data source "recorded" did not answer within 1s` {
		t.Fatalf("%d %s", status, body)
	}
	if took < time.Second || took > 5*time.Second {
		t.Fatalf("took %s, want about the 1s timeout", took)
	}
}

// TestProxyBackendAnswers: what each kind of backend answer becomes.
func TestProxyBackendAnswers(t *testing.T) {
	big := bigJSON(300 << 10)
	promErrBody := `{"status":"error","errorType":"bad_data","error":"parse error"}`
	basic := base64.StdEncoding.EncodeToString([]byte("dsuser:ds-password-123"))
	cases := []struct {
		name       string
		handle     http.HandlerFunc
		wantStatus int
		wantType   string // errorType of a Prometheus error; "" for a pass-through
		wantBody   string // exact pass-through body
		wantInErr  string
		brokenBody bool // the promtest.Caller must see a transfer error
	}{
		{"valid small", promtest.Reply(200, "application/json", `{"status":"success","data":[]}`), 200, "", `{"status":"success","data":[]}`, "", false},
		{"valid big streamed", promtest.Reply(200, "application/json", big), 200, "", big, "", false},
		{"prometheus error passes", promtest.Reply(400, "application/json", promErrBody), 400, "", promErrBody, "", false},
		{"422 passes", promtest.Reply(422, "application/json", `{"status":"error","errorType":"execution","error":"too many samples"}`), 422, "", `{"status":"error","errorType":"execution","error":"too many samples"}`, "", false},
		{"non-JSON 200", promtest.Reply(200, "text/plain", "hello"), 502, "unavailable", "", "not valid JSON", false},
		{"HTML 200", promtest.Reply(200, "text/html", "<html>login</html>"), 502, "unavailable", "", "not valid JSON", false},
		{"JSON content type, not JSON", promtest.Reply(200, "application/json", "hello"), 502, "unavailable", "", "not valid JSON", false},
		{"truncated JSON", promtest.Reply(200, "application/json", `{"status":"success","data":{"resultType":"vector","result":[`), 502, "unavailable", "", "not valid JSON", false},
		{"empty 200", promtest.Reply(200, "application/json", ""), 502, "unavailable", "", "not valid JSON", false},
		{"big non-JSON 200", promtest.Reply(200, "text/plain", strings.Repeat("x", 100<<10)), 502, "unavailable", "", "not JSON", false},
		{"big truncated JSON", promtest.Reply(200, "application/json", big[:len(big)-100]), 200, "", "", "", true},
		{"connection dropped mid-body", dropAfter(big[:100<<10]), 200, "", "", "", true},
		{"short of Content-Length", shortBody(big[:100<<10]), 200, "", "", "", true},
		{"HTML 503", promtest.Reply(503, "text/html", "<html><body>Service\nUnavailable</body></html>"), 503, "unavailable", "", `answered HTTP 503: <html><body>Service Unavailable</body></html>`, false},
		{"plain 500", promtest.Reply(500, "text/plain", "internal"), 500, "unavailable", "", `answered HTTP 500: internal`, false},
		{"429 text", promtest.Reply(429, "text/plain", "slow down"), 429, "too_many_requests", "", "slow down", false},
		{"401 from backend", promtest.Reply(401, "application/json", `{"status":"error","error":"unauthorized"}`), 502, "unavailable", "", "refused promgate's credentials", false},
		{"403 from backend", promtest.Reply(403, "text/plain", "no"), 502, "unavailable", "", "refused promgate's credentials", false},
		{"redirect not followed", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://127.0.0.1:1/elsewhere", http.StatusTemporaryRedirect)
		}, 502, "unavailable", "", "redirect", false},
		{"gzip decoded", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Encoding", "gzip")
			zw := gzip.NewWriter(w)
			_, _ = io.WriteString(zw, big)
			_ = zw.Close()
		}, 200, "", big, "", false},
		{"broken gzip", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Encoding", "gzip")
			_, _ = io.WriteString(w, "not gzip at all")
		}, 502, "unavailable", "", "broken gzip", false},
		{"truncated big gzip", func(w http.ResponseWriter, r *http.Request) {
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			_, _ = io.WriteString(zw, big)
			_ = zw.Close()
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Encoding", "gzip")
			_, _ = w.Write(buf.Bytes()[:buf.Len()-20])
		}, 200, "", "", "", true},
		{"unasked encoding", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Encoding", "br")
			_, _ = w.Write([]byte{1, 2, 3})
		}, 502, "unavailable", "", "Content-Encoding", false},
		{"secret echoed in error is redacted", promtest.Reply(500, "text/plain", "bad header Basic "+basic+" pw ds-password-123"), 500, "unavailable", "", "bad header Basic [redacted] pw [redacted]", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			front, rec, ds := promtest.StartRecorded(t, tc.handle, nil)
			req, _ := http.NewRequest(http.MethodGet, front.URL+proxyPath+fmt.Sprint(ds.ID)+"/api/v1/query?query=up", nil)
			req.SetBasicAuth(front.Key, front.Token)
			resp, err := testkit.HTTPClient().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, readErr := io.ReadAll(resp.Body)
			if tc.brokenBody {
				if readErr == nil {
					t.Fatalf("read %d bytes without error; want a broken transfer", len(body))
				}
				return
			}
			if readErr != nil {
				t.Fatalf("read body: %v", readErr)
			}
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.wantStatus, body)
			}
			for _, h := range []string{"Set-Cookie", "X-Backend-Secret", "Content-Encoding", "Location", "Www-Authenticate"} {
				if v := resp.Header.Get(h); v != "" {
					t.Errorf("caller got %s: %s", h, v)
				}
			}
			if tc.wantType == "" {
				if string(body) != tc.wantBody {
					t.Fatalf("body differs from the backend's (%d vs %d bytes)", len(body), len(tc.wantBody))
				}
				if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type %q", ct)
				}
			} else {
				e := promtest.DecodeError(t, body)
				if e.ErrorType != tc.wantType || !strings.Contains(e.Error, tc.wantInErr) || !strings.Contains(e.Error, `data source "recorded"`) {
					t.Fatalf("error %+v, want type %s containing %q", e, tc.wantType, tc.wantInErr)
				}
			}
			if bytes.Contains(body, []byte("ds-password-123")) {
				t.Error("answer contains the data source password")
			}
			if n := len(rec.Seen()); n != 1 {
				t.Errorf("backend saw %d requests, want 1", n)
			}
		})
	}
}

// dropAfter sends part of a body and then closes the connection.
func dropAfter(part string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(200)
		_, _ = io.WriteString(w, part)
		w.(http.Flusher).Flush()
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			_ = conn.Close()
		}
	}
}

// shortBody promises more bytes than it sends.
func shortBody(part string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", fmt.Sprint(len(part)*2))
		w.WriteHeader(200)
		_, _ = io.WriteString(w, part)
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err == nil {
			_ = buf.Flush()
			_ = conn.Close()
		}
	}
}

// TestCSVFromBrokenBackend: a remote answer that breaks after promgate has
// started passing it on (more than the 32 KiB it holds, then a stall past
// the data source's timeout, a dropped connection, a short body or JSON
// that stops) never stops the process, asked as CSV or JSON; the promtest.Caller
// gets a Prometheus-format error or a broken transfer, never a clean
// truncated answer, and the server goes on answering.
func TestCSVFromBrokenBackend(t *testing.T) {
	big := bigJSON(300 << 10)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	backend := map[string]http.HandlerFunc{
		"stall": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, big[:100<<10])
			w.(http.Flusher).Flush()
			select {
			case <-release:
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
		},
		"drop":      dropAfter(big[:100<<10]),
		"short":     shortBody(big[:100<<10]),
		"truncated": promtest.Reply(200, "application/json", big[:len(big)-100]),
		// A long JSON error answer, dropped: passed on as it comes, so
		// only a broken transfer can tell, in CSV as in JSON.
		"error dropped": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnprocessableEntity)
			_, _ = io.WriteString(w, `{"status":"error","errorType":"execution","error":"`+strings.Repeat("x", 100<<10))
			w.(http.Flusher).Flush()
			if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
				_ = conn.Close()
			}
		},
	}
	front := promtest.Start(t)
	for name, handle := range backend {
		rec := promtest.NewRecorder(t, handle)
		ds := promtest.AddDataSource(t, front, map[string]any{"name": "broken " + name, "url": rec.URL, "env": name, "timeoutSeconds": 1,
			"basicAuthUser": "dsuser", "basicAuthPassword": "ds-password-123"})
		for _, how := range []string{"format=csv", "Accept: text/csv", "JSON"} {
			t.Run(name+"/"+how, func(t *testing.T) {
				u := front.URL + proxyPath + fmt.Sprint(ds.ID) + "/api/v1/query?query=up"
				if how == "format=csv" {
					u += "&format=csv"
				}
				req, _ := http.NewRequest(http.MethodGet, u, nil)
				req.SetBasicAuth(front.Key, front.Token)
				if how == "Accept: text/csv" {
					req.Header.Set("Accept", "text/csv")
				}
				resp, err := testkit.HTTPClient().Do(req)
				if err != nil {
					t.Fatalf("no answer: %v", err)
				}
				body, readErr := io.ReadAll(resp.Body)
				resp.Body.Close()
				if how == "JSON" || name == "error dropped" {
					// The header was passed on before the break: only a
					// broken transfer tells the promtest.Caller.
					if readErr == nil {
						t.Fatalf("status %d with a clean %d-byte body from a broken backend", resp.StatusCode, len(body))
					}
				} else {
					// The converter holds a single answer before its first
					// row, so the break is still a Prometheus error.
					wantStatus, wantType := http.StatusBadGateway, "unavailable"
					if name == "stall" {
						wantStatus, wantType = http.StatusGatewayTimeout, "timeout"
					}
					if readErr != nil || resp.StatusCode != wantStatus {
						t.Fatalf("status %d (read error %v), want %d: %.200s", resp.StatusCode, readErr, wantStatus, body)
					}
					e := promtest.DecodeError(t, body)
					if e.ErrorType != wantType || !strings.Contains(e.Error, `data source "broken `+name+`"`) || strings.Contains(e.Error, "ds-password-123") {
						t.Fatalf("error %+v", e)
					}
				}
				// The server is still there.
				status, out := front.Owner().Do(t, http.MethodGet, front.URL+proxyPath+"1/api/v1/query?query=vector(1)", nil)
				if status != http.StatusOK {
					t.Fatalf("after: %d %s", status, out)
				}
			})
		}
	}
}

// TestConfinedMetadataGzipBomb: a label-limited promtest.Caller's /metadata is
// filtered in memory; a backend whose gzip answer decodes to hundreds of
// MiB gets a clear 502 once the decoded answer passes the bound, and
// promgate never holds more than that bound of it.
func TestConfinedMetadataGzipBomb(t *testing.T) {
	const decoded = 300 << 20
	rec := promtest.NewRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if !strings.HasSuffix(r.URL.Path, "/api/v1/metadata") {
			_, _ = io.WriteString(w, `{"status":"success","data":["up"]}`)
			return
		}
		w.Header().Set("Content-Encoding", "gzip")
		zw, _ := gzip.NewWriterLevel(w, gzip.BestSpeed)
		if _, err := io.WriteString(zw, `{"status":"success","data":{"up":[{"type":"gauge","unit":"","help":"`); err != nil {
			return
		}
		chunk := bytes.Repeat([]byte("a"), 1<<20)
		for range decoded >> 20 {
			if _, err := zw.Write(chunk); err != nil {
				return // promgate stopped reading
			}
		}
		_, _ = io.WriteString(zw, `"}]}}`)
		_ = zw.Close()
	})
	front := promtest.Start(t)
	ds := promtest.AddDataSource(t, front, map[string]any{"name": "bomb", "url": rec.URL, "env": "prod"})
	key, token := front.Credential(t, access.RoleViewer, access.ScopeRead, `{env="prod"}`)

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	status, body := promtest.Caller{Key: key, Token: token}.Do(t, http.MethodGet, front.URL+proxyPath+fmt.Sprint(ds.ID)+"/api/v1/metadata", nil)
	runtime.ReadMemStats(&after)
	e := promtest.DecodeError(t, body)
	if status != http.StatusBadGateway || e.ErrorType != "unavailable" || !strings.Contains(e.Error, `data source "bomb"`) || !strings.Contains(e.Error, "MiB") {
		t.Fatalf("%d %s", status, body)
	}
	grew := after.TotalAlloc - before.TotalAlloc
	t.Logf("allocated %d MiB while answering", grew>>20)
	if grew > 256<<20 {
		t.Fatalf("allocated %d MiB for a %d MiB answer", grew>>20, decoded>>20)
	}
	// An ordinary answer still passes.
	owner := promtest.Caller{Key: front.Key, Token: front.Token}
	if status, body := owner.Do(t, http.MethodGet, front.URL+proxyPath+"1/api/v1/metadata", nil); status != http.StatusOK {
		t.Fatalf("embedded metadata: %d %s", status, body)
	}
}
