package querycache_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/promgate/promgate/internal/datasource"
	"github.com/promgate/promgate/internal/datasource/dstest"
	"github.com/promgate/promgate/internal/embedded"
	"github.com/promgate/promgate/internal/promapi"
	"github.com/promgate/promgate/internal/testkit"
	"github.com/promgate/promgate/internal/testpeer"
)

// seed is the test data: counters, a gauge, a classic histogram, a series
// that starts late and one that stops early, every 15s over [t0-8h, t0].
func seed(t0 time.Time) []dstest.Series {
	const step = 15 * time.Second
	from := t0.Add(-8 * time.Hour)
	var out []dstest.Series
	add := func(lbls map[string]string, start, end time.Time, val func(i int, ts time.Time) float64) {
		s := dstest.Series{Labels: lbls}
		i := 0
		for ts := start; !ts.After(end); ts = ts.Add(step) {
			s.Timestamps = append(s.Timestamps, ts.UnixMilli())
			s.Values = append(s.Values, val(i, ts))
			i++
		}
		out = append(out, s)
	}
	for _, inst := range []string{"a", "b", "c"} {
		for _, code := range []string{"200", "500"} {
			k := float64(len(inst)+len(code)) + float64(inst[0]-'a')
			add(map[string]string{"__name__": "http_requests_total", "job": "api", "instance": inst, "code": code}, from, t0,
				func(i int, _ time.Time) float64 {
					v := float64(i) * k
					if code == "500" && i > 900 { // a counter reset
						v = float64(i-900) * k
					}
					return v
				})
		}
	}
	for r, room := range []string{"kitchen", "hall", "attic"} {
		add(map[string]string{"__name__": "temperature", "room": room}, from, t0,
			func(i int, _ time.Time) float64 { return 20 + 5*math.Sin(float64(i)/40+float64(r)) })
	}
	bounds := []string{"0.1", "0.5", "1", "5", "+Inf"}
	for _, inst := range []string{"a", "b"} {
		for bi, le := range bounds {
			add(map[string]string{"__name__": "req_duration_seconds_bucket", "instance": inst, "le": le}, from, t0,
				func(i int, _ time.Time) float64 { return float64(i * (bi + 1) * (len(inst) + 2)) })
		}
		add(map[string]string{"__name__": "req_duration_seconds_count", "instance": inst}, from, t0,
			func(i int, _ time.Time) float64 { return float64(i * 5 * (len(inst) + 2)) })
	}
	add(map[string]string{"__name__": "late_series", "job": "x"}, t0.Add(-150*time.Minute), t0,
		func(i int, _ time.Time) float64 { return float64(i) })
	add(map[string]string{"__name__": "gone_series", "job": "x"}, from, t0.Add(-5*time.Hour),
		func(i int, _ time.Time) float64 { return float64(i % 7) })
	return out
}

// writeInOrder sends series through remote_write in time windows, oldest
// first, so that a Prometheus without an out-of-order window takes them.
func writeInOrder(ctx context.Context, writeURL string, series []dstest.Series, window time.Duration) error {
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
	for _, s := range series {
		lo, hi = min(lo, s.Timestamps[0]), max(hi, s.Timestamps[len(s.Timestamps)-1])
	}
	for from := lo; from <= hi; from += window.Milliseconds() {
		to := from + window.Milliseconds()
		var batch []dstest.Series
		for _, s := range series {
			var b dstest.Series
			b.Labels = s.Labels
			for i, ts := range s.Timestamps {
				if ts >= from && ts < to {
					b.Timestamps = append(b.Timestamps, ts)
					b.Values = append(b.Values, s.Values[i])
				}
			}
			if len(b.Timestamps) > 0 {
				batch = append(batch, b)
			}
		}
		if err := dstest.RemoteWrite(ctx, writeURL, "", "", batch); err != nil {
			return err
		}
	}
	return nil
}

// embeddedSource opens an embedded store filled with seed(t0).
func embeddedSource(t *testing.T, t0 time.Time) datasource.DataSource {
	t.Helper()
	st, err := embedded.Open(testkit.Context(t), embedded.Options{Dir: filepath.Join(t.TempDir(), "tsdb"), OutOfOrderWindow: 48 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	srv := httptest.NewServer(http.HandlerFunc(st.ServeAPI))
	t.Cleanup(srv.Close)
	if err := writeInOrder(testkit.Context(t), srv.URL+"/api/v1/write", seed(t0), time.Hour); err != nil {
		t.Fatal(err)
	}
	return datasource.NewEmbedded(st, datasource.CacheSettings{})
}

// prometheusSource starts the real Prometheus filled with seed(t0), as a
// remote data source.
func prometheusSource(t *testing.T, t0 time.Time, cache datasource.CacheSettings) datasource.DataSource {
	t.Helper()
	bin, err := dstest.Bin()
	if err != nil {
		testpeer.Missing(t, testpeer.Prometheus, err.Error())
	}
	prom, err := dstest.StartPrometheus(testkit.Context(t), bin, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(prom.Stop)
	if err := writeInOrder(testkit.Context(t), prom.URL+"/api/v1/write", seed(t0), 30*time.Minute); err != nil {
		t.Fatal(err)
	}
	fwd := datasource.NewForwarder(slog.New(slog.DiscardHandler), "test")
	t.Cleanup(func() { _ = fwd.Close() })
	s := datasource.Settings{ID: 2, UID: "prom", Name: "prom", URL: prom.URL, Env: "test", Cache: cache}
	if err := s.Normalize(); err != nil {
		t.Fatal(err)
	}
	rm, err := fwd.NewRemote(s)
	if err != nil {
		t.Fatal(err)
	}
	return rm
}

// counting records the requests a data source gets.
type counting struct {
	datasource.DataSource
	info *datasource.Info // nil: the data source's own

	mu    sync.Mutex
	calls []url.Values
}

func (c *counting) Info() datasource.Info {
	if c.info != nil {
		return *c.info
	}
	return c.DataSource.Info()
}

func (c *counting) Query(ctx context.Context, req *promapi.Request) (*http.Response, error) {
	c.mu.Lock()
	c.calls = append(c.calls, req.Params)
	c.mu.Unlock()
	return c.DataSource.Query(ctx, req)
}

func (c *counting) take() []url.Values {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.calls
	c.calls = nil
	return out
}

type result struct {
	status int
	header http.Header
	body   []byte
}

func ask(t *testing.T, ds datasource.DataSource, e promapi.Endpoint, params url.Values) result {
	t.Helper()
	resp, err := ds.Query(testkit.Context(t), &promapi.Request{Endpoint: e, Params: params})
	if err != nil {
		t.Fatalf("%s %v: %v", e, params, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %v: read: %v", e, params, err)
	}
	return result{status: resp.StatusCode, header: resp.Header, body: body}
}

// promAnswer is an answer decoded for comparison: the result exactly (its
// series in order, values as text), annotations as sets (Prometheus does
// not order them).
type promAnswer struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Data      struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	} `json:"data"`
	Warnings []string `json:"warnings"`
	Infos    []string `json:"infos"`
}

// sameAnswer fails t unless got says what want says.
func sameAnswer(t *testing.T, what string, want, got result) {
	t.Helper()
	if want.status != got.status {
		t.Fatalf("%s: status %d, want %d\ngot:  %.400s\nwant: %.400s", what, got.status, want.status, got.body, want.body)
	}
	var w, g promAnswer
	if err := json.Unmarshal(want.body, &w); err != nil {
		t.Fatalf("%s: direct answer: %v: %.300s", what, err, want.body)
	}
	if err := json.Unmarshal(got.body, &g); err != nil {
		t.Fatalf("%s: answer: %v: %.300s", what, err, got.body)
	}
	var wr, gr any
	_ = json.Unmarshal(w.Data.Result, &wr)
	_ = json.Unmarshal(g.Data.Result, &gr)
	slices.Sort(w.Warnings)
	slices.Sort(g.Warnings)
	slices.Sort(w.Infos)
	slices.Sort(g.Infos)
	if w.Status != g.Status || w.ErrorType != g.ErrorType || w.Data.ResultType != g.Data.ResultType || !reflect.DeepEqual(wr, gr) ||
		!slices.Equal(w.Warnings, g.Warnings) || !slices.Equal(w.Infos, g.Infos) {
		t.Fatalf("%s: answers differ\ngot:  %.1500s\nwant: %.1500s", what, got.body, want.body)
	}
	if w.Status == "success" && string(w.Data.Result) == "" {
		t.Fatalf("%s: no result in %.300s", what, want.body)
	}
}

// startMemcached runs /usr/bin/memcached on a free 127.0.0.1 port until
// the test ends.
func startMemcached(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("memcached")
	if err != nil {
		testpeer.Missing(t, testpeer.Memcached, "apt-get install memcached")
	}
	for range 3 { // a free port can be taken between probing and use
		addr := testkit.FreeAddr(t)
		_, port, _ := net.SplitHostPort(addr)
		var logs bytes.Buffer
		cmd := exec.Command(bin, "-l", "127.0.0.1", "-p", port, "-U", "0", "-m", "64", "-I", "8m")
		cmd.Stdout, cmd.Stderr = &logs, &logs
		if os.Geteuid() == 0 {
			cmd.Args = append(cmd.Args, "-u", "nobody")
		}
		if err := cmd.Start(); err != nil {
			t.Fatalf("start memcached: %v", err)
		}
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			select {
			case <-done:
				deadline = time.Time{}
				continue
			default:
			}
			if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
				_ = c.Close()
				t.Cleanup(func() {
					_ = cmd.Process.Kill()
					<-done
				})
				return addr
			}
			time.Sleep(20 * time.Millisecond)
		}
		_ = cmd.Process.Kill()
		<-done
		t.Logf("memcached on %s did not start: %s", addr, strings.TrimSpace(logs.String()))
	}
	t.Fatal("memcached did not start")
	return ""
}

func rangeParams(query string, start, end time.Time, step time.Duration) url.Values {
	return url.Values{"query": {query}, "start": {fmt.Sprintf("%.3f", float64(start.UnixMilli())/1000)},
		"end": {fmt.Sprintf("%.3f", float64(end.UnixMilli())/1000)}, "step": {fmt.Sprint(step.Seconds())}}
}
