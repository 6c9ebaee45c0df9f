package server_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/golang/snappy"
	remoteapi "github.com/prometheus/client_golang/exp/api/remote"
	"github.com/prometheus/prometheus/prompb"

	"github.com/promgate/promgate/internal/access"
	"github.com/promgate/promgate/internal/audit"
	"github.com/promgate/promgate/internal/auth"
	"github.com/promgate/promgate/internal/manage"
	"github.com/promgate/promgate/internal/promtest"
)

// TestRetriedBadCredentialLocksOutNobody is the production case: one
// Prometheus agent on 127.0.0.1 keeps retrying remote_write with a revoked
// credential, another with a wrong token, while a working writer (the
// Prometheus remote-write client) and reader (the Prometheus API client) on
// the same address work: they get no refusal, and neither does a writer
// whose first request comes after the bad ones are refused. The bad ones
// are refused with 429 after the failure limit.
func TestRetriedBadCredentialLocksOutNobody(t *testing.T) {
	s := promtest.Start(t)
	bg := context.Background()
	type cred struct {
		key, token string
		id         int64
	}
	newCred := func(name string, role access.Role, scope access.Scope) cred {
		c, tok, err := s.App.Manage.CreateCredential(bg, audit.System, manage.CredentialSpec{Name: name, Role: role, Scope: scope})
		if err != nil {
			t.Fatal(err)
		}
		return cred{c.Key, tok, c.ID}
	}
	revoked := newCred("old agent", access.RoleEditor, access.ScopeWrite)
	if err := s.App.Manage.RevokeCredential(bg, audit.System, revoked.id); err != nil {
		t.Fatal(err)
	}
	writer := newCred("agent", access.RoleEditor, access.ScopeWrite)
	late := newCred("late agent", access.RoleEditor, access.ScopeWrite)
	reader := newCred("grafana", access.RoleViewer, access.ScopeRead)
	_, wrongToken, _ := auth.GenerateCredential()

	writeClient := func(key, token string) *remoteapi.API {
		u, _ := url.Parse(s.URL)
		u.User = url.UserPassword(key, token)
		w, err := remoteapi.NewAPI(u.String(), remoteapi.WithAPIPath("/api/v1/write"), remoteapi.WithAPINoRetryOnRateLimit(),
			remoteapi.WithAPIBackoff(remoteapi.BackoffConfig{Min: time.Millisecond, Max: time.Millisecond, MaxRetries: 1}))
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	sample := func(name string, i int) *prompb.WriteRequest {
		return &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{{
			Labels:  []prompb.Label{{Name: "__name__", Value: name}, {Name: "i", Value: fmt.Sprint(i)}},
			Samples: []prompb.Sample{{Timestamp: time.Now().UnixMilli(), Value: float64(i)}},
		}}}
	}
	raw, err := sample("old_agent", 0).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	body := snappy.Encode(nil, raw)
	badWrite := func(key, token string) int {
		req, _ := http.NewRequestWithContext(ctx(t), "POST", s.URL+"/api/v1/write", bytes.NewReader(body))
		req.SetBasicAuth(key, token)
		req.Header.Set("Content-Type", "application/x-protobuf")
		req.Header.Set("Content-Encoding", "snappy")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	// The writer and reader were running before the bad agents started.
	w := writeClient(writer.key, writer.token)
	if _, err := w.Write(ctx(t), remoteapi.WriteV1MessageType, sample("agent_writes", -1)); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(s.BaseURL)
	u.User = url.UserPassword(reader.key, reader.token)
	api := client(t, u.String())
	if _, _, _, err := api.Query(ctx(t), "up", time.Now()); err != nil {
		t.Fatal(err)
	}

	const rounds = 150
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[string]map[int]int{"revoked": {}, "wrong token": {}}
	for name, c := range map[string][2]string{"revoked": {revoked.key, revoked.token}, "wrong token": {writer.key, wrongToken}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				st := badWrite(c[0], c[1])
				mu.Lock()
				statuses[name][st]++
				mu.Unlock()
			}
		}()
	}
	refusals := map[string][]string{}
	refuse := func(who string, err error) {
		mu.Lock()
		refusals[who] = append(refusals[who], err.Error())
		mu.Unlock()
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := range rounds {
			if _, err := w.Write(ctx(t), remoteapi.WriteV1MessageType, sample("agent_writes", i)); err != nil {
				refuse("writer", err)
			}
		}
	}()
	go func() {
		defer wg.Done()
		for range rounds {
			if _, _, _, err := api.Query(ctx(t), "up", time.Now()); err != nil {
				refuse("reader", err)
			}
		}
	}()
	wg.Wait()

	// The bad ones are refused by now; a writer new to the server still works.
	lw := writeClient(late.key, late.token)
	for i := range 20 {
		if _, err := lw.Write(ctx(t), remoteapi.WriteV1MessageType, sample("late_writes", i)); err != nil {
			refuse("late writer", err)
		}
	}
	for who, errs := range refusals {
		t.Errorf("%s: %d refusals, first: %s", who, len(errs), errs[0])
	}
	for name, st := range statuses {
		if st[http.StatusUnauthorized] != auth.DefaultMaxFailures || st[http.StatusTooManyRequests] != rounds-auth.DefaultMaxFailures {
			t.Errorf("%s: statuses %v, want %d x 401 then 429", name, st, auth.DefaultMaxFailures)
		}
	}
}
