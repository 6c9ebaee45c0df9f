package oidc

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/promgate/promgate/internal/auth"
	"github.com/promgate/promgate/internal/config"
	"github.com/promgate/promgate/internal/testkit"
)

// lockedBuf is a log sink safe for concurrent writes.
type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestProviderDownLogsBounded: while a provider cannot be reached, anyone
// can send JWTs naming its (public) issuer; each must be refused without a
// warning per request: one per discovery attempt at most.
func TestProviderDownLogsBounded(t *testing.T) {
	issuer := "http://" + testkit.FreeAddr(t) // nothing listens there
	now := time.Unix(1_800_000_000, 0)
	var logs lockedBuf
	set, err := New(Options{
		Config: config.OIDC{Providers: []config.OIDCProvider{{
			Name: "Down", IssuerURL: issuer, ClientID: "promgate", Audience: "promgate",
			ReadScope: "read", WriteScope: "write", DefaultRole: "VIEWER",
		}}},
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		Now:    func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	forged := enc([]byte(`{"alg":"RS256","kid":"k"}`)) + "." + enc([]byte(`{"iss":"`+issuer+`","sub":"x"}`)) + "." + enc([]byte("sig"))
	cases := []struct {
		name     string
		requests int
		maxWarns int
	}{
		{"one request", 1, 1},
		{"a flood within one retry period", 200, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			now = now.Add(rediscoverAfter + time.Second) // a fresh retry period
			before := strings.Count(logs.String(), "level=WARN")
			for i := 0; i < tc.requests; i++ {
				if _, err := set.VerifyToken(context.Background(), forged); !errors.Is(err, auth.ErrInvalidCredentials) {
					t.Fatalf("request %d: %v, want invalid credentials", i, err)
				}
			}
			if n := strings.Count(logs.String(), "level=WARN") - before; n < 1 || n > tc.maxWarns {
				t.Fatalf("%d warnings for %d requests, want 1..%d:\n%s", n, tc.requests, tc.maxWarns, logs.String())
			}
		})
	}
}
