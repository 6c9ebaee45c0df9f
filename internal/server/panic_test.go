package server_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/promgate/promgate/internal/datasource"
	"github.com/promgate/promgate/internal/promapi"
	"github.com/promgate/promgate/internal/server"
	"github.com/promgate/promgate/internal/testkit"
)

// faultySource is an in-process data source with a bug: its handler
// panics before writing anything ("before") or after the header and part
// of a body.
func faultySource() datasource.DataSource {
	return datasource.NewInProcess(
		datasource.Info{ID: datasource.EmbeddedID, UID: datasource.EmbeddedUID, Name: "faulty", Type: "prometheus", Embedded: true},
		http.HandlerFunc(faultyHandler))
}

func faultyHandler(w http.ResponseWriter, r *http.Request) {
	if r.FormValue("query") == "after" {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, `{"status":"success","data":{"resultType":"vector","result":[`)
		for i := range 5000 {
			if i > 0 {
				_, _ = io.WriteString(w, ",")
			}
			_, _ = io.WriteString(w, `{"metric":{"__name__":"m","i":"`+strings.Repeat("x", i%7)+`"},"value":[1700000000,"1"]}`)
		}
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
	}
	panic("faulty data source: index out of range")
}

// TestPanicIsOneRequestsError: a panic anywhere in serving a request (the
// handler goroutine or a goroutine started for the request) gives that
// request a Prometheus-format 500 when nothing was sent yet and a broken
// transfer otherwise; it is logged once with its stack and counted, and the
// server goes on serving.
func TestPanicIsOneRequestsError(t *testing.T) {
	logs := &testkit.LogBuffer{}
	reg := prometheus.NewRegistry()
	web := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/boom-after" {
			_, _ = io.WriteString(w, strings.Repeat("page ", 20000))
			w.(http.Flusher).Flush()
		}
		panic("page handler bug")
	})
	h := httptest.NewServer(server.New(server.Options{
		Logger:     slog.New(slog.NewJSONHandler(logs, nil)),
		Registry:   datasource.NewRegistry(faultySource(), nil),
		Auth:       fixedPrincipal{},
		Web:        web,
		Gatherer:   reg,
		Registerer: reg,
	}))
	defer h.Close()
	query := func(q string, csv bool) string {
		v := url.Values{"query": {q}}
		if csv {
			v.Set("format", "csv")
		}
		return h.URL + server.ProxyPrefix + "1/api/v1/query?" + v.Encode()
	}
	tests := []struct {
		name string
		url  string
		// sent: the header was out before the panic, so the only honest
		// answer left is a broken transfer; otherwise a 500.
		sent bool
	}{
		{"page handler", h.URL + "/boom", false},
		{"page handler after writing", h.URL + "/boom-after", true},
		{"data source, JSON", query("before", false), false},
		{"data source, CSV (in the converter's goroutine)", query("before", true), false},
		{"data source after its header, JSON", query("after", false), true},
		{"data source after its header, CSV", query("after", true), true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := http.Get(tt.url)
			if err != nil {
				t.Fatalf("no answer at all: %v", err)
			}
			body, readErr := io.ReadAll(resp.Body)
			resp.Body.Close()
			switch {
			case tt.sent && readErr != nil:
				// Broken transfer: the caller knows the answer is incomplete.
			case tt.sent && resp.StatusCode == http.StatusInternalServerError:
				// The CSV converter had not written anything yet: a 500 is fine.
				checkInternalError(t, body)
			case tt.sent:
				t.Fatalf("status %d and a clean %d-byte body after a panic", resp.StatusCode, len(body))
			default:
				if readErr != nil || resp.StatusCode != http.StatusInternalServerError {
					t.Fatalf("status %d, read error %v, want a 500: %s", resp.StatusCode, readErr, body)
				}
				checkInternalError(t, body)
			}
			if got := counterValue(t, reg, "promgate_panics_total"); got != float64(i+1) {
				t.Fatalf("promgate_panics_total = %v, want %d", got, i+1)
			}
			// Still serving.
			resp, err = http.Get(h.URL + "/-/healthy")
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("after the panic: %v %v", resp, err)
			}
			resp.Body.Close()
		})
	}
	// Each panic is logged once, with its stack.
	var panics int
	for line := range strings.SplitSeq(strings.TrimSpace(logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec["msg"] != "panic serving request" {
			continue
		}
		panics++
		stack, _ := rec["stack"].(string)
		if !strings.Contains(stack, "goroutine") || !strings.Contains(stack, "panic_test.go") {
			t.Errorf("logged stack does not show where it panicked: %q", stack)
		}
	}
	if panics != len(tests) {
		t.Fatalf("%d panic log lines, want %d:\n%s", panics, len(tests), logs.String())
	}
}

func checkInternalError(t *testing.T, body []byte) {
	t.Helper()
	var e struct{ Status, ErrorType, Error string }
	if err := json.Unmarshal(body, &e); err != nil || e.Status != "error" || e.ErrorType != promapi.ErrInternal {
		t.Fatalf("not a Prometheus internal error: %s", body)
	}
	if strings.Contains(e.Error, "faulty") || strings.Contains(e.Error, "bug") {
		t.Fatalf("the panic's text reached the caller: %s", body)
	}
}

// counterValue reads a counter without labels from g; -1 when absent.
func counterValue(t *testing.T, g prometheus.Gatherer, name string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return -1
}
