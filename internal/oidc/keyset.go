package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Bounds of the key set fetch.
const (
	// MinKeyRefresh is the least time between two JWKS fetches: a token
	// with an unknown kid triggers one, and a flood of made-up kids must
	// not become a flood of requests to the provider.
	MinKeyRefresh = 10 * time.Second
	maxJWKSBytes  = 1 << 20
)

// keySet is the provider's JWKS, cached: kept until a token names a kid it
// does not hold, then fetched again (at most once per MinKeyRefresh). A
// failed fetch keeps the keys it had, so tokens signed with them still
// verify while the provider is down. It implements go-oidc's KeySet.
type keySet struct {
	url    string
	client *http.Client
	algs   []jose.SignatureAlgorithm
	now    func() time.Time

	keys atomic.Pointer[[]jose.JSONWebKey]

	fetchMu   sync.Mutex // one fetch at a time
	lastFetch time.Time
	lastErr   error
}

func newKeySet(url string, client *http.Client, algs []jose.SignatureAlgorithm, now func() time.Time) *keySet {
	return &keySet{url: url, client: client, algs: algs, now: now}
}

var errUnknownKey = errors.New("token signed with a key the provider does not publish")

// VerifySignature checks the JWT's signature with the key its kid names and
// returns the payload. go-oidc has already checked that its alg is one of
// algs (so never none, nor an HMAC with a public key as its secret).
func (k *keySet) VerifySignature(ctx context.Context, raw string) ([]byte, error) {
	jws, err := jose.ParseSigned(raw, k.algs)
	if err != nil {
		return nil, fmt.Errorf("parse token: %w", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, errors.New("token must have exactly one signature")
	}
	kid := jws.Signatures[0].Header.KeyID
	if key, ok := k.find(kid); ok {
		return jws.Verify(key)
	}
	if err := k.refresh(ctx); err != nil {
		return nil, err
	}
	if key, ok := k.find(kid); ok {
		return jws.Verify(key)
	}
	return nil, errUnknownKey
}

// find returns the signing key with this kid; with no kid, the only key.
func (k *keySet) find(kid string) (*jose.JSONWebKey, bool) {
	p := k.keys.Load()
	if p == nil {
		return nil, false
	}
	keys := *p
	if kid == "" {
		if len(keys) == 1 {
			return &keys[0], true
		}
		return nil, false
	}
	for i := range keys {
		if keys[i].KeyID == kid && (keys[i].Use == "" || keys[i].Use == "sig") {
			return &keys[i], true
		}
	}
	return nil, false
}

// refresh fetches the JWKS unless it was fetched less than MinKeyRefresh
// ago; a caller that waited for another's fetch uses its result.
func (k *keySet) refresh(ctx context.Context) error {
	k.fetchMu.Lock()
	defer k.fetchMu.Unlock()
	now := k.now()
	if !k.lastFetch.IsZero() && now.Sub(k.lastFetch) < MinKeyRefresh {
		return k.lastErr
	}
	k.lastFetch = now
	keys, err := k.fetch(ctx)
	k.lastErr = err
	if err != nil {
		return err
	}
	k.keys.Store(&keys)
	return nil
}

func (k *keySet) fetch(ctx context.Context) ([]jose.JSONWebKey, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.url, nil)
	if err != nil {
		return nil, fmt.Errorf("fetch provider keys: %w", err)
	}
	resp, err := k.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch provider keys: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("fetch provider keys from %s: %w", k.url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch provider keys from %s: %s", k.url, resp.Status)
	}
	if len(body) > maxJWKSBytes {
		return nil, fmt.Errorf("fetch provider keys from %s: larger than %d bytes", k.url, maxJWKSBytes)
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("decode provider keys from %s: %w", k.url, err)
	}
	keys := make([]jose.JSONWebKey, 0, len(set.Keys))
	for _, raw := range set.Keys {
		var key jose.JSONWebKey
		if err := key.UnmarshalJSON(raw); err != nil {
			continue // a key type go-jose does not know: not ours to use (RFC 7517 5)
		}
		if !key.IsPublic() {
			continue
		}
		keys = append(keys, key)
	}
	return keys, nil
}
