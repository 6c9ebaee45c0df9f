package oidc

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// jwksServer serves a JWKS document over real HTTP on 127.0.0.1 and counts
// the fetches; down makes it answer 503.
type jwksServer struct {
	mu      sync.Mutex
	keys    []jose.JSONWebKey
	fetches atomic.Int32
	down    atomic.Bool
	url     string
}

func startJWKS(t *testing.T) *jwksServer {
	t.Helper()
	s := &jwksServer{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		if s.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: s.keys})
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	s.url = "http://" + ln.Addr().String() + "/jwks"
	return s
}

func (s *jwksServer) publish(keys ...jose.JSONWebKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = keys
}

func sign(t *testing.T, key *rsa.PrivateKey, kid string) string {
	t.Helper()
	sg, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: kid}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := sg.Sign([]byte(`{"sub":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	s, _ := obj.CompactSerialize()
	return s
}

// TestKeySetRefresh: keys are fetched when a kid is unknown, at most once
// per MinKeyRefresh however many unknown kids arrive, and kept while the
// provider is down; a rotated key is picked up after the floor.
func TestKeySetRefresh(t *testing.T) {
	k1, _ := rsa.GenerateKey(rand.Reader, 2048)
	k2, _ := rsa.GenerateKey(rand.Reader, 2048)
	srv := startJWKS(t)
	srv.publish(jose.JSONWebKey{Key: &k1.PublicKey, KeyID: "one", Algorithm: "RS256", Use: "sig"})
	now := time.Unix(1_800_000_000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	ks := newKeySet(srv.url, &http.Client{Timeout: 5 * time.Second}, []jose.SignatureAlgorithm{jose.RS256}, clock)
	ctx := context.Background()

	if _, err := ks.VerifySignature(ctx, sign(t, k1, "one")); err != nil {
		t.Fatalf("first token: %v", err)
	}
	if n := srv.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches for the first token, want 1", n)
	}
	for i := 0; i < 50; i++ {
		if _, err := ks.VerifySignature(ctx, sign(t, k2, "made-up")); !errors.Is(err, errUnknownKey) {
			t.Fatalf("unknown kid: %v", err)
		}
	}
	if n := srv.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches after 50 unknown kids within the floor, want 1", n)
	}
	// The provider goes down: known keys keep verifying, nothing is lost.
	srv.down.Store(true)
	advance(MinKeyRefresh + time.Second)
	if _, err := ks.VerifySignature(ctx, sign(t, k2, "two")); err == nil {
		t.Fatal("unknown kid verified while the provider is down")
	}
	if _, err := ks.VerifySignature(ctx, sign(t, k1, "one")); err != nil {
		t.Fatalf("cached key with the provider down: %v", err)
	}
	// Back up with a rotated key: picked up once the floor has passed.
	srv.down.Store(false)
	srv.publish(jose.JSONWebKey{Key: &k1.PublicKey, KeyID: "one", Algorithm: "RS256", Use: "sig"},
		jose.JSONWebKey{Key: &k2.PublicKey, KeyID: "two", Algorithm: "RS256", Use: "sig"})
	advance(MinKeyRefresh + time.Second)
	if _, err := ks.VerifySignature(ctx, sign(t, k2, "two")); err != nil {
		t.Fatalf("rotated key: %v", err)
	}
	// The right kid with another key's signature is refused without a fetch.
	before := srv.fetches.Load()
	if _, err := ks.VerifySignature(ctx, sign(t, k2, "one")); err == nil {
		t.Fatal("signature by another key verified")
	}
	if srv.fetches.Load() != before {
		t.Fatal("a bad signature on a known kid fetched the keys")
	}
}
