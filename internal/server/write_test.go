package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"

	"github.com/promgate/promgate/internal/access"
	"github.com/promgate/promgate/internal/promtest"
)

const (
	v1Type = "application/x-protobuf"
	v2Type = "application/x-protobuf;proto=io.prometheus.write.v2.Request"
)

// series is one sample of one series, for building remote_write bodies.
type series struct {
	labels []string // name, value, ...
	t      int64
	v      float64
}

func v1Body(ss ...series) []byte {
	var req prompb.WriteRequest
	for _, s := range ss {
		ts := prompb.TimeSeries{Samples: []prompb.Sample{{Timestamp: s.t, Value: s.v}}}
		for i := 0; i < len(s.labels); i += 2 {
			ts.Labels = append(ts.Labels, prompb.Label{Name: s.labels[i], Value: s.labels[i+1]})
		}
		req.Timeseries = append(req.Timeseries, ts)
	}
	raw, err := req.Marshal()
	if err != nil {
		panic(err)
	}
	return raw
}

func v2Body(ss ...series) []byte {
	req := writev2.Request{Symbols: []string{""}}
	sym := map[string]uint32{"": 0}
	ref := func(s string) uint32 {
		if r, ok := sym[s]; ok {
			return r
		}
		sym[s] = uint32(len(req.Symbols))
		req.Symbols = append(req.Symbols, s)
		return sym[s]
	}
	for _, s := range ss {
		ts := writev2.TimeSeries{Samples: []writev2.Sample{{Timestamp: s.t, Value: s.v}}}
		for _, l := range s.labels {
			ts.LabelsRefs = append(ts.LabelsRefs, ref(l))
		}
		req.Timeseries = append(req.Timeseries, ts)
	}
	raw, err := req.Marshal()
	if err != nil {
		panic(err)
	}
	return raw
}

// postWrite sends a remote_write body as given (already compressed or not)
// with the Content-Type values given (none: no header).
func postWrite(ctx context.Context, url, key, token string, body []byte, contentTypes ...string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.SetBasicAuth(key, token)
	for _, ct := range contentTypes {
		req.Header.Add("Content-Type", ct)
	}
	req.Header.Set("Content-Encoding", "snappy")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, string(b), nil
}

// storedSamples reads every sample of the series matching ms straight from
// the embedded TSDB: what was stored, whatever any API would show.
func storedSamples(t testing.TB, s *promtest.Server, ms ...*labels.Matcher) map[string][][2]float64 {
	t.Helper()
	q, err := s.App.TSDB.Queryable().Querier(math.MinInt64, math.MaxInt64)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	out := map[string][][2]float64{}
	set := q.Select(context.Background(), false, nil, ms...)
	for set.Next() {
		sr := set.At()
		var samples [][2]float64
		it := sr.Iterator(nil)
		for it.Next() != 0 {
			ts, v := it.At()
			samples = append(samples, [2]float64{float64(ts), v})
		}
		if it.Err() != nil {
			t.Fatal(it.Err())
		}
		out[sr.Labels().String()] = samples
	}
	if err := set.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRemoteWriteContentTypeConfusion: a writer confined to
// {env="tenant-a"} cannot store a series of another tenant by any spelling
// of the Content-Type, with a 1.0 or a 2.0 body: the answer is 403 (or 415
// for a header whose message version is not clear) and the store holds
// nothing new outside the selector, nor any changed sample of tenant-b.
// Clear headers for tenant-a's own series still work.
func TestRemoteWriteContentTypeConfusion(t *testing.T) {
	s := promtest.Start(t)
	key, token := s.Credential(t, access.RoleEditor, access.ScopeWrite, `{env="tenant-a"}`)
	url := s.URL + "/api/v1/write"
	now := time.Now().Add(-time.Minute).UnixMilli()
	// tenant-b's own sample, which the attacker tries to overwrite.
	s.Append(t, labels.FromStrings("__name__", "secret_metric", "env", "tenant-b-secret"), []int64{now}, []float64{1})
	victim := labels.MustNewMatcher(labels.MatchNotEqual, "env", "tenant-a")
	before := storedSamples(t, s, victim)

	attack := series{labels: []string{"__name__", "secret_metric", "env", "tenant-b-secret"}, t: now, v: 666}
	fresh := series{labels: []string{"__name__", "secret_metric", "env", "tenant-b-secret", "new", "yes"}, t: now, v: 666}
	own := series{labels: []string{"__name__", "own_metric", "env", "tenant-a"}, t: now, v: 2}
	dup := series{labels: []string{"__name__", "own_metric", "env", "tenant-a", "env", "tenant-b-secret"}, t: now, v: 3}
	polyglot := series{labels: []string{"__name__", "own_polyglot", "env", "tenant-a"}, t: now, v: 4}
	// Each body, and the series it holds when read as 1.0 and as 2.0 (a
	// 1.0 message read as 2.0 holds nothing, and the other way round).
	bodies := map[string]struct {
		body         []byte
		v1Out, v2Out bool // holds series outside the selector
	}{
		"1.0 attack":           {snappy.Encode(nil, v1Body(attack, fresh)), true, false},
		"1.0 attack and own":   {snappy.Encode(nil, v1Body(own, attack, fresh)), true, false},
		"1.0 duplicate label":  {snappy.Encode(nil, v1Body(dup)), true, false},
		"2.0 attack":           {snappy.Encode(nil, v2Body(attack, fresh)), false, true},
		"2.0 attack and own":   {snappy.Encode(nil, v2Body(own, attack, fresh)), false, true},
		"2.0 duplicate label":  {snappy.Encode(nil, v2Body(dup)), false, true},
		"1.0 and 2.0 polyglot": {snappy.Encode(nil, append(v1Body(attack), v2Body(polyglot)...)), true, false},
	}
	const unclear = "unclear"
	headers := []struct {
		name    string
		cts     []string
		version string // "1.0", "2.0" or unclear (415)
	}{
		{"1.0 canonical", []string{v1Type}, "1.0"},
		{"2.0 canonical", []string{v2Type}, "2.0"},
		{"1.0 explicit", []string{v1Type + ";proto=prometheus.WriteRequest"}, "1.0"},
		{"2.0 with another parameter", []string{v2Type + ";charset=utf-8"}, "2.0"},
		{"missing", nil, "1.0"},
		{"empty", []string{""}, "1.0"},
		{"space before proto", []string{"application/x-protobuf; proto=io.prometheus.write.v2.Request"}, unclear},
		{"tab before proto", []string{"application/x-protobuf;\tproto=io.prometheus.write.v2.Request"}, unclear},
		{"upper-case PROTO", []string{"application/x-protobuf;PROTO=io.prometheus.write.v2.Request"}, unclear},
		{"trailing junk", []string{v2Type + ";junk"}, unclear},
		{"trailing junk 1.0", []string{v1Type + ";proto=prometheus.WriteRequest;junk"}, unclear},
		{"duplicate proto, 2.0 first", []string{v2Type + ";proto=prometheus.WriteRequest"}, unclear},
		{"duplicate proto, 1.0 first", []string{v1Type + ";proto=prometheus.WriteRequest;proto=io.prometheus.write.v2.Request"}, unclear},
		{"duplicate proto, other case", []string{v2Type + ";Proto=prometheus.WriteRequest"}, unclear},
		{"quoted proto", []string{`application/x-protobuf;proto="io.prometheus.write.v2.Request"`}, unclear},
		{"unknown proto", []string{v1Type + ";proto=io.prometheus.write.v3.Request"}, unclear},
		{"empty proto", []string{v1Type + ";proto="}, unclear},
		{"semicolon only", []string{v1Type + ";"}, unclear},
		{"charset then PROTO", []string{"application/x-protobuf;charset=utf-8;PROTO=io.prometheus.write.v2.Request"}, unclear},
		{"other media type", []string{"application/json"}, unclear},
		{"text/plain with proto", []string{"text/plain;proto=io.prometheus.write.v2.Request"}, unclear},
		{"upper-case media type", []string{"Application/X-Protobuf;proto=io.prometheus.write.v2.Request"}, unclear},
		{"space before semicolon", []string{"application/x-protobuf ;proto=io.prometheus.write.v2.Request"}, unclear},
		{"two Content-Type headers", []string{v1Type, v2Type}, unclear},
		{"two Content-Type headers, 2.0 first", []string{v2Type, v1Type}, unclear},
	}
	for _, h := range headers {
		for bname, b := range bodies {
			t.Run(h.name+"/"+bname, func(t *testing.T) {
				want := http.StatusUnsupportedMediaType
				switch {
				case h.version == "1.0" && b.v1Out, h.version == "2.0" && b.v2Out:
					want = http.StatusForbidden
				case h.version != unclear:
					want = http.StatusNoContent // nothing outside: nothing of the attack in it
				}
				status, msg, err := postWrite(ctx(t), url, key, token, b.body, h.cts...)
				if err != nil {
					t.Fatal(err)
				}
				if status != want {
					t.Errorf("status %d (%s), want %d", status, msg, want)
				}
			})
		}
	}
	after := storedSamples(t, s, victim)
	if fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("series outside the selector changed:\nbefore %v\nafter  %v", before, after)
	}
	if own := storedSamples(t, s, labels.MustNewMatcher(labels.MatchEqual, "__name__", "own_metric")); len(own) != 0 {
		t.Fatalf("a refused body was partly stored: %v", own)
	}

	// Clear headers: 403 for the attack, 204 for tenant-a's own series.
	for _, tc := range []struct {
		name string
		cts  []string
		body []byte
		want int
	}{
		{"1.0 attack", []string{v1Type}, snappy.Encode(nil, v1Body(attack)), http.StatusForbidden},
		{"2.0 attack", []string{v2Type}, snappy.Encode(nil, v2Body(attack)), http.StatusForbidden},
		{"no header attack", nil, snappy.Encode(nil, v1Body(attack)), http.StatusForbidden},
		{"1.0 own", []string{v1Type}, snappy.Encode(nil, v1Body(own)), http.StatusNoContent},
		{"1.0 explicit own", []string{v1Type + ";proto=prometheus.WriteRequest"}, snappy.Encode(nil, v1Body(series{own.labels, now + 1, 2})), http.StatusNoContent},
		{"no header own", nil, snappy.Encode(nil, v1Body(series{own.labels, now + 2, 2})), http.StatusNoContent},
		{"2.0 own", []string{v2Type}, snappy.Encode(nil, v2Body(series{own.labels, now + 3, 2})), http.StatusNoContent},
	} {
		status, msg, err := postWrite(ctx(t), url, key, token, tc.body, tc.cts...)
		if err != nil {
			t.Fatal(err)
		}
		if status != tc.want {
			t.Errorf("%s: status %d (%s), want %d", tc.name, status, msg, tc.want)
		}
	}
	if own := storedSamples(t, s, labels.MustNewMatcher(labels.MatchEqual, "__name__", "own_metric")); len(own[`{__name__="own_metric", env="tenant-a"}`]) != 4 {
		t.Fatalf("tenant-a's own samples: %v", own)
	}
	if after := storedSamples(t, s, victim); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("series outside the selector changed:\nbefore %v\nafter  %v", before, after)
	}
}

// TestRemoteWriteDecodedBound: the length a snappy body declares is checked
// against Prometheus' 32 MiB bound before anything is allocated, for
// selector-limited writers and unlimited ones alike: a 6-byte body that
// declares 4 GiB and a body that decodes to just over 32 MiB get a
// Prometheus-format 413; one that decodes to exactly 32 MiB passes the
// bound (and is refused later, by the receiver, for not being a protobuf
// message).
func TestRemoteWriteDecodedBound(t *testing.T) {
	s := promtest.Start(t)
	limitedKey, limitedToken := s.Credential(t, access.RoleEditor, access.ScopeWrite, `{env="tenant-a"}`)
	const bound = 32 << 20
	declares4GiB := []byte{0xff, 0xff, 0xff, 0xff, 0x0f, 0x00} // uvarint 2^32-1, then nothing
	zeros := func(n int) []byte { return snappy.Encode(nil, make([]byte, n)) }
	overBound, atBound := zeros(bound+1), zeros(bound)
	writers := map[string][2]string{"limited": {limitedKey, limitedToken}, "unlimited": {s.Key, s.Token}}
	for wname, cred := range writers {
		for _, tc := range []struct {
			name string
			body []byte
			want int
		}{
			{"declares 4 GiB", declares4GiB, http.StatusRequestEntityTooLarge},
			{"decodes to 32 MiB + 1", overBound, http.StatusRequestEntityTooLarge},
			{"decodes to 32 MiB", atBound, http.StatusBadRequest},
		} {
			t.Run(wname+"/"+tc.name, func(t *testing.T) {
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				status, msg, err := postWrite(ctx(t), s.URL+"/api/v1/write", cred[0], cred[1], tc.body, v1Type)
				if err != nil {
					t.Fatal(err)
				}
				runtime.ReadMemStats(&after)
				if status != tc.want {
					t.Fatalf("status %d %q, want %d", status, msg, tc.want)
				}
				if tc.want == http.StatusRequestEntityTooLarge {
					var e struct{ Status, ErrorType, Error string }
					if json.Unmarshal([]byte(msg), &e) != nil || e.Status != "error" || e.ErrorType != "bad_data" {
						t.Fatalf("not a Prometheus error: %q", msg)
					}
					if !strings.Contains(e.Error, "32 MiB") {
						t.Errorf("error does not name the limit: %s", e.Error)
					}
					// Nothing near the declared size was allocated (the
					// whole test process allocates a few MiB meanwhile).
					if grew := after.TotalAlloc - before.TotalAlloc; grew > 16<<20 {
						t.Errorf("allocated %d MiB for a refused body", grew>>20)
					}
				}
			})
		}
	}
}
