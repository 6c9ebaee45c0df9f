package server_test

import (
	"context"
	"math"
	"net/http"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/promgate/promgate/internal/access"
	"github.com/promgate/promgate/internal/promtest"
)

// FuzzRemoteWriteSelector: whatever the Content-Type and the body, a writer
// confined to {env="tenant-a"} never stores or changes a sample outside its
// selector, and bad input never gets a 5xx. With compress set the body is
// snappy-compressed first, so the fuzzer can work on the protobuf itself.
//
//	go test ./internal/server -run '^$' -fuzz FuzzRemoteWriteSelector -fuzztime 5m
func FuzzRemoteWriteSelector(f *testing.F) {
	s := promtest.Start(f)
	key, token := s.Credential(f, access.RoleEditor, access.ScopeWrite, `{env="tenant-a"}`)
	url := s.URL + "/api/v1/write"
	now := time.Now().Add(-time.Minute).UnixMilli()
	s.Append(f, labels.FromStrings("__name__", "secret_metric", "env", "tenant-b-secret"), []int64{now}, []float64{1})
	outside := labels.MustNewMatcher(labels.MatchNotEqual, "env", "tenant-a")
	baseline := storedSamples(f, s, outside)

	attack := series{labels: []string{"__name__", "secret_metric", "env", "tenant-b-secret"}, t: now, v: 666}
	own := series{labels: []string{"__name__", "own_metric", "env", "tenant-a"}, t: now, v: 2}
	noEnv := series{labels: []string{"__name__", "up", "job", "promgate"}, t: now, v: 0}
	dup := series{labels: []string{"__name__", "own_metric", "env", "tenant-a", "env", "tenant-b-secret"}, t: now, v: 3}
	bodies := [][]byte{
		v1Body(own), v1Body(attack), v1Body(own, attack), v1Body(noEnv), v1Body(dup),
		v2Body(own), v2Body(attack), v2Body(own, attack), v2Body(noEnv), v2Body(dup),
		append(v1Body(attack), v2Body(own)...), append(v2Body(attack), v1Body(own)...),
	}
	for _, ct := range []string{
		"", v1Type, v2Type, v1Type + ";proto=prometheus.WriteRequest",
		"application/x-protobuf; proto=io.prometheus.write.v2.Request",
		"application/x-protobuf;PROTO=io.prometheus.write.v2.Request",
		v2Type + ";junk", v2Type + ";proto=prometheus.WriteRequest",
		v1Type + ";proto=prometheus.WriteRequest;proto=io.prometheus.write.v2.Request",
	} {
		for _, b := range bodies {
			f.Add(ct, b, true)
		}
	}
	f.Add(v1Type, []byte{0xff, 0xff, 0xff, 0xff, 0x0f, 0x00}, false) // declares 4 GiB

	f.Fuzz(func(t *testing.T, contentType string, body []byte, compress bool) {
		if compress {
			body = snappy.Encode(nil, body)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		status, msg, err := postWrite(ctx, url, key, token, body, contentType)
		if err != nil {
			if ctx.Err() != nil {
				t.Fatalf("no answer within 10s: %v", err)
			}
			t.Skip("not a valid HTTP request:", err) // e.g. a newline in the header
		}
		if status >= 500 {
			t.Fatalf("status %d for bad input: %s", status, msg)
		}
		if got := storedSamples(t, s, outside); !sameSamples(got, baseline) {
			t.Fatalf("status %d stored or changed series outside the selector (Content-Type %q)", status, contentType)
		}
		if status/100 == 2 && status != http.StatusNoContent {
			t.Fatalf("unexpected success status %d", status)
		}
	})
}

func sameSamples(a, b map[string][][2]float64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, as := range a {
		bs, ok := b[k]
		if !ok || len(as) != len(bs) {
			return false
		}
		for i := range as {
			for j := range 2 {
				if math.Float64bits(as[i][j]) != math.Float64bits(bs[i][j]) {
					return false
				}
			}
		}
	}
	return true
}
