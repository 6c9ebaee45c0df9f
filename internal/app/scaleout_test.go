package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/golang/snappy"
	remoteapi "github.com/prometheus/client_golang/exp/api/remote"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"

	"github.com/promgate/promgate/internal/access"
	"github.com/promgate/promgate/internal/app"
	"github.com/promgate/promgate/internal/audit"
	"github.com/promgate/promgate/internal/datasource/dstest"
	"github.com/promgate/promgate/internal/manage"
	"github.com/promgate/promgate/internal/promtest"
	"github.com/promgate/promgate/internal/server"
	"github.com/promgate/promgate/internal/store/storetest"
	"github.com/promgate/promgate/internal/testkit"
	"github.com/promgate/promgate/internal/testpeer"
)

// rwSeries is one series of a remote_write 1.0 body: name, value pairs.
type rwSeries struct {
	labels  []string
	samples []prompb.Sample
}

// rwBody is a compressed remote_write 1.0 body.
func rwBody(t *testing.T, ss ...rwSeries) []byte {
	t.Helper()
	var req prompb.WriteRequest
	for _, s := range ss {
		ts := prompb.TimeSeries{Samples: s.samples}
		for i := 0; i < len(s.labels); i += 2 {
			ts.Labels = append(ts.Labels, prompb.Label{Name: s.labels[i], Value: s.labels[i+1]})
		}
		sort.Slice(ts.Labels, func(i, j int) bool { return ts.Labels[i].Name < ts.Labels[j].Name })
		req.Timeseries = append(req.Timeseries, ts)
	}
	raw, err := req.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return snappy.Encode(nil, raw)
}

// push sends a remote_write body as Prometheus does and returns the status
// (0 when no answer came).
func push(ctx context.Context, client *http.Client, url, key, token string, body []byte) (int, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err.Error()
	}
	req.SetBasicAuth(key, token)
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("Content-Encoding", "snappy")
	req.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	resp, err := client.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, string(b)
}

// promSeries is one series of a Prometheus query answer.
type promSeries struct {
	Metric map[string]string `json:"metric"`
	Values [][2]any          `json:"values"`
}

// TestScaleOutThanos proves the scaled-out deployment of the README's
// "Scaling out" on real parts: Thanos 0.39.2 as three receivers in one
// hashring with replication factor 3 and a querier deduplicating along
// the replica label; two promgate replicas sharing PostgreSQL; a real
// Prometheus scraping itself and remote-writing through replica A with a
// label-limited credential, read back through replica B. A write outside
// the selector never reaches Thanos; a receiver killed mid-stream loses no
// acknowledged sample; a credential revoked on B stops writes through A
// within about a second (the replicas' generation poll).
func TestScaleOutThanos(t *testing.T) {
	thanosBin, err := dstest.ThanosBin()
	if err != nil {
		testpeer.Missing(t, testpeer.Thanos, err.Error())
	}
	promBin, err := dstest.Bin()
	if err != nil {
		testpeer.Missing(t, testpeer.Prometheus, err.Error())
	}
	pgURL := storetest.PostgresURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	th, err := dstest.StartThanos(ctx, thanosBin, t.TempDir(), 3)
	if err != nil {
		t.Fatalf("start thanos: %v", err)
	}
	t.Cleanup(th.Stop)
	defer func() {
		if t.Failed() {
			t.Logf("thanos logs:\n%s", th.Logs())
		}
	}()

	keyFile := filepath.Join(t.TempDir(), "secret.key")
	shared := func(c *app.Config) { c.StoreURL, c.SecretKeyFile = pgURL, keyFile }
	a := promtest.Start(t, shared)
	b := promtest.Start(t, shared)

	// The data source, made on A: reads from the querier, writes to one
	// receiver (which replicates to the others), as tenant team-a.
	ds := promtest.AddDataSource(t, a, map[string]any{
		"name": "thanos", "url": th.QueryURL, "writeUrl": th.Receivers[0].WriteURL, "env": "test",
		"headers": map[string]string{"THANOS-TENANT": "team-a"},
	})
	cred, token, err := a.App.Manage.CreateCredential(ctx, audit.Actor{Name: "test"}, manage.CredentialSpec{
		Name: "team-a-writer", Role: access.RoleEditor, Scope: access.ScopeRead | access.ScopeWrite,
		Selector: `{team="a"}`, DataSourceIDs: []int64{ds.ID}, CreatedBy: "test",
	})
	if err != nil {
		t.Fatal(err)
	}
	writeA := fmt.Sprintf("%s%s%d/api/v1/write", a.URL, server.ProxyPrefix, ds.ID)
	queryB := fmt.Sprintf("%s%s%d/api/v1/query", b.URL, server.ProxyPrefix, ds.ID)
	client := testkit.HTTPClient()

	prom, err := dstest.StartPrometheusConfig(ctx, promBin, t.TempDir(), func(addr string) string {
		return fmt.Sprintf(`global:
  scrape_interval: 1s
  external_labels:
    team: a
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: [%q]
remote_write:
  - url: %q
    basic_auth:
      username: %q
      password: %q
    queue_config:
      batch_send_deadline: 1s
      min_backoff: 50ms
      max_backoff: 1s
`, addr, writeA, cred.Key, token)
	})
	if err != nil {
		t.Fatalf("start prometheus: %v", err)
	}
	t.Cleanup(prom.Stop)

	t.Run("Prometheus writes through A, reads through B", func(t *testing.T) {
		deadline := time.Now().Add(60 * time.Second)
		for {
			var got []promSeries
			status, body := getJSON(t, client, queryB+"?"+url.Values{"query": {`up{job="prometheus"}`}}.Encode(), cred.Key, token, &got)
			if status == http.StatusOK && len(got) == 1 {
				m := got[0].Metric
				if m["team"] != "a" || m["tenant_id"] != "team-a" || m[dstest.ReplicaLabel] != "" {
					t.Errorf("series read through B: %v; want team=a, tenant_id=team-a (the data source's header), no replica label", m)
				}
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("up from Prometheus never readable through B: %d %s", status, body)
			}
			time.Sleep(500 * time.Millisecond)
		}
	})

	t.Run("a write outside the selector never reaches Thanos", func(t *testing.T) {
		now := time.Now().UnixMilli()
		sample := []prompb.Sample{{Timestamp: now, Value: 1}}
		for name, body := range map[string][]byte{
			"outside": rwBody(t, rwSeries{[]string{"__name__", "outside_probe", "team", "b"}, sample}),
			"mixed": rwBody(t, rwSeries{[]string{"__name__", "inside_probe", "team", "a"}, sample},
				rwSeries{[]string{"__name__", "outside_probe", "team", "b"}, sample}),
			"no team": rwBody(t, rwSeries{[]string{"__name__", "outside_probe"}, sample}),
		} {
			if status, msg := push(ctx, client, writeA, cred.Key, token, body); status != http.StatusForbidden {
				t.Errorf("%s: %d %s, want 403", name, status, msg)
			}
		}
		// A write inside it, sent after them, shows they would have arrived.
		if status, msg := push(ctx, client, writeA, cred.Key, token, rwBody(t, rwSeries{[]string{"__name__", "inside_control", "team", "a"}, sample})); status/100 != 2 {
			t.Fatalf("inside the selector: %d %s", status, msg)
		}
		waitThanos(ctx, t, th, "inside_control", 1)
		var got []promSeries
		if err := th.Query(ctx, `{__name__=~"outside_probe|inside_probe"}`, time.Now(), &got); err != nil {
			t.Fatal(err)
		}
		if len(got) != 0 {
			t.Errorf("Thanos holds refused series: %v", got)
		}
	})

	t.Run("a receiver killed mid-stream loses no acknowledged sample", func(t *testing.T) {
		const writes, killAt = 120, 40
		start := time.Now().Add(-time.Minute).UnixMilli()
		var acked []int64
		ackedAfterKill := 0
		for i := range writes {
			if i == killAt {
				th.KillReceiver(2)
			}
			ts := start + int64(i)*100
			body := rwBody(t, rwSeries{[]string{"__name__", "seq_probe", "team", "a"}, []prompb.Sample{{Timestamp: ts, Value: float64(i)}}})
			status, _ := push(ctx, client, writeA, cred.Key, token, body)
			if status/100 == 2 {
				acked = append(acked, ts)
				if i >= killAt {
					ackedAfterKill++
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Logf("%d of %d writes acknowledged, %d of %d after the kill", len(acked), writes, ackedAfterKill, writes-killAt)
		if ackedAfterKill < (writes-killAt)/2 {
			t.Errorf("only %d of %d writes acknowledged with one receiver down: replication factor 3 should carry on", ackedAfterKill, writes-killAt)
		}
		var got []promSeries
		if err := th.Query(ctx, `seq_probe{team="a"}[10m]`, time.Now(), &got); err != nil {
			t.Fatal(err)
		}
		stored := map[int64]bool{}
		for _, s := range got {
			for _, v := range s.Values {
				if f, ok := v[0].(float64); ok {
					stored[int64(f*1000+0.5)] = true
				}
			}
		}
		lost := 0
		for _, ts := range acked {
			if !stored[ts] {
				lost++
			}
		}
		if lost > 0 {
			t.Errorf("%d of %d acknowledged samples are not in Thanos (%d stored)", lost, len(acked), len(stored))
		}
	})

	t.Run("a credential revoked on B stops writes through A", func(t *testing.T) {
		body := rwBody(t, rwSeries{[]string{"__name__", "revoke_probe", "team", "a"}, []prompb.Sample{{Timestamp: time.Now().UnixMilli(), Value: 1}}})
		if status, msg := push(ctx, client, writeA, cred.Key, token, body); status/100 != 2 {
			t.Fatalf("before revocation: %d %s", status, msg)
		}
		status, msg := b.Owner().Do(t, http.MethodDelete, fmt.Sprintf("%s/api-server/v1/global-credentials/%d", b.URL, cred.ID), nil)
		if status/100 != 2 {
			t.Fatalf("revoke on B: %d %s", status, msg)
		}
		revoked := time.Now()
		for {
			status, _ := push(ctx, client, writeA, cred.Key, token, body)
			if status == http.StatusUnauthorized {
				break
			}
			if time.Since(revoked) > 10*time.Second {
				t.Fatalf("A still answers %d 10s after the revocation on B", status)
			}
			time.Sleep(10 * time.Millisecond)
		}
		took := time.Since(revoked)
		t.Logf("A refused the revoked credential %v after B revoked it", took.Round(time.Millisecond))
		// The generation poll runs every second; a request in flight and
		// a busy machine add a little.
		if took > 1500*time.Millisecond {
			t.Errorf("A refused the revoked credential only after %v, want about a second", took)
		}
	})
}

// waitThanos waits until a query on the querier directly returns n series.
func waitThanos(ctx context.Context, t *testing.T, th *dstest.Thanos, query string, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var got []promSeries
		err := th.Query(ctx, query, time.Now(), &got)
		if err == nil && len(got) == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("thanos %q: %d series (err %v), want %d", query, len(got), err, n)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// getJSON GETs url with basic auth and decodes data.result into v.
func getJSON(t *testing.T, client *http.Client, url, key, token string, v any) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(key, token)
	resp, err := client.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if resp.StatusCode == http.StatusOK {
		var out struct {
			Data struct {
				Result json.RawMessage `json:"result"`
			} `json:"data"`
		}
		if err := json.Unmarshal(body, &out); err != nil || json.Unmarshal(out.Data.Result, v) != nil {
			return 0, "undecodable answer: " + strings.TrimSpace(string(body))
		}
	}
	return resp.StatusCode, string(body)
}

// basicAuth adds a credential to every request, as a remote_write sender
// configured with basic_auth does.
type basicAuth struct{ key, token string }

func (b basicAuth) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.SetBasicAuth(b.key, b.token)
	return http.DefaultTransport.RoundTrip(r)
}

// TestWriteThroughToPrometheus sends remote_write 1.0 and 2.0 with
// client_golang's remote-write client through promgate to a real
// Prometheus' receiver: the 2.0 written counts come back through promgate,
// a body with a series outside the writer's selector is refused whole, and
// what was written is read back through the same data source.
func TestWriteThroughToPrometheus(t *testing.T) {
	promBin, err := dstest.Bin()
	if err != nil {
		testpeer.Missing(t, testpeer.Prometheus, err.Error())
	}
	ctx := testkit.Context(t)
	prom, err := dstest.StartPrometheus(ctx, promBin, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(prom.Stop)
	front := promtest.Start(t)
	ds := promtest.AddDataSource(t, front, map[string]any{"name": "prom", "url": prom.URL, "writeUrl": prom.URL + "/api/v1/write", "env": "test"})
	key, token := front.Credential(t, access.RoleEditor, access.ScopeRead|access.ScopeWrite, `{team="a"}`)
	api, err := remoteapi.NewAPI(fmt.Sprintf("%s%s%d", front.URL, server.ProxyPrefix, ds.ID),
		remoteapi.WithAPIHTTPClient(&http.Client{Timeout: 10 * time.Second, Transport: basicAuth{key, token}}),
		remoteapi.WithAPIPath("api/v1/write"), remoteapi.WithAPIBackoff(remoteapi.BackoffConfig{MaxRetries: 1}))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UnixMilli()
	v2 := func(names ...string) *writev2.Request {
		req := &writev2.Request{Symbols: []string{"", "__name__", "team"}}
		for _, n := range names {
			name, team, _ := strings.Cut(n, "/")
			req.Symbols = append(req.Symbols, name, team)
			l := uint32(len(req.Symbols))
			req.Timeseries = append(req.Timeseries, writev2.TimeSeries{
				LabelsRefs: []uint32{1, l - 2, 2, l - 1},
				Samples:    []writev2.Sample{{Timestamp: now, Value: 1}},
			})
		}
		return req
	}
	stats, err := api.Write(ctx, remoteapi.WriteV2MessageType, v2("rw2_one/a", "rw2_two/a"))
	if err != nil {
		t.Fatalf("remote_write 2.0: %v", err)
	}
	if stats.Samples != 2 {
		t.Errorf("remote_write 2.0 answer says %d samples written, want 2 (X-Prometheus-Remote-Write-Samples-Written passed through)", stats.Samples)
	}
	v1 := &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{{
		Labels:  []prompb.Label{{Name: "__name__", Value: "rw1_one"}, {Name: "team", Value: "a"}},
		Samples: []prompb.Sample{{Timestamp: now, Value: 1}},
	}}}
	if _, err := api.Write(ctx, remoteapi.WriteV1MessageType, v1); err != nil {
		t.Fatalf("remote_write 1.0: %v", err)
	}
	if _, err := api.Write(ctx, remoteapi.WriteV2MessageType, v2("rw2_mixed/a", "rw2_outside/b")); err == nil || !strings.Contains(err.Error(), "403") {
		t.Errorf("a 2.0 body with a series outside the selector: %v, want a 403", err)
	}

	var got []promSeries
	q := url.Values{"query": {`{__name__=~"rw.*"}`}}
	status, body := getJSON(t, testkit.HTTPClient(), fmt.Sprintf("%s%s%d/api/v1/query?%s", front.URL, server.ProxyPrefix, ds.ID, q.Encode()), front.Key, front.Token, &got)
	if status != http.StatusOK {
		t.Fatalf("read back: %d %s", status, body)
	}
	var names []string
	for _, s := range got {
		names = append(names, s.Metric["__name__"])
	}
	sort.Strings(names)
	if strings.Join(names, ",") != "rw1_one,rw2_one,rw2_two" {
		t.Errorf("Prometheus holds %v, want rw1_one, rw2_one, rw2_two and nothing of the refused body", names)
	}
}
