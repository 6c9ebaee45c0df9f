package auth

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/promgate/promgate/internal/access"
)

// clientFromHeader lets one test process play many client addresses over
// real HTTP: the address is X-Test-Client, else the connection's.
func clientFromHeader(r *http.Request) string {
	if c := r.Header.Get("X-Test-Client"); c != "" {
		return c
	}
	return remoteHost(r)
}

func from(client string, h http.Header) http.Header {
	out := h.Clone()
	if out == nil {
		out = http.Header{}
	}
	out.Set("X-Test-Client", client)
	return out
}

func limiterFixture(t *testing.T) *fixture {
	return newFixture(t, Options{MaxFailures: 5, FailureWindow: time.Minute, Lockout: 30 * time.Second, ClientIP: clientFromHeader}, false)
}

func wantStatus(t *testing.T, f *fixture, h http.Header, want int, what string) {
	t.Helper()
	s, hdr, body := f.get(t, h)
	if s != want {
		t.Fatalf("%s: status %d, want %d: %s", what, s, want, body)
	}
	if s == http.StatusTooManyRequests {
		if ra, err := strconv.Atoi(hdr.Get("Retry-After")); err != nil || ra < 1 || ra > 30 {
			t.Fatalf("%s: Retry-After = %q", what, hdr.Get("Retry-After"))
		}
	}
}

// TestGuessingOneKeyStaysThrottled: wrong tokens for one key are refused
// after MaxFailures from one address, and after 10*MaxFailures from all
// addresses together. While refused from its address, even the right token
// of a credential not yet seen working is refused without a store lookup;
// a credential that already worked is never refused, and the right token
// works from an address that is not itself refused.
func TestGuessingOneKeyStaysThrottled(t *testing.T) {
	f := limiterFixture(t)
	target, targetTok := f.cred(t, credSpec{Role: access.RoleViewer})
	inUse, inUseTok := f.cred(t, credSpec{Role: access.RoleEditor})
	wantStatus(t, f, from("10.0.0.1", basic(inUse.Key, inUseTok)), 200, "credential in use")

	guess := func() string {
		_, tok, err := GenerateCredential()
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	for i := range 5 {
		wantStatus(t, f, from("10.0.0.1", basic(target.Key, guess())), 401, fmt.Sprintf("guess %d", i+1))
		wantStatus(t, f, from("10.0.0.1", basic(inUse.Key, inUseTok)), 200, "credential in use, same address")
	}
	lookups := f.st.lookups.Load()
	wantStatus(t, f, from("10.0.0.1", basic(target.Key, guess())), 429, "guess after the limit")
	wantStatus(t, f, from("10.0.0.1", basic(target.Key, targetTok)), 429, "right token while its key is refused here")
	if n := f.st.lookups.Load() - lookups; n != 0 {
		t.Fatalf("refused guesses made %d store lookups", n)
	}
	wantStatus(t, f, from("10.0.0.1", basic(inUse.Key, inUseTok)), 200, "credential in use, same address, after the limit")
	// Another address is not refused for this address's guesses...
	wantStatus(t, f, from("10.0.0.2", basic(target.Key, targetTok)), 200, "right token from another address")
	wantStatus(t, f, from("10.0.0.1", basic(target.Key, targetTok)), 200, "the right token, once proven, from the refused address")

	// ...but guesses spread over many addresses stop at 10*MaxFailures for
	// the key, whatever the address.
	other, otherTok := f.cred(t, credSpec{Role: access.RoleViewer})
	for i := range 50 {
		wantStatus(t, f, from(fmt.Sprintf("10.1.%d.%d", i/4, i%4), basic(other.Key, guess())), 401, fmt.Sprintf("spread guess %d", i+1))
	}
	wantStatus(t, f, from("10.2.0.1", basic(other.Key, guess())), 429, "spread guess after the limit")
	// The key's holder is not locked out by guesses from elsewhere.
	wantStatus(t, f, from("10.2.0.2", basic(other.Key, otherTok)), 200, "right token of a key refused everywhere")
	wantStatus(t, f, from("10.2.0.3", basic(inUse.Key, inUseTok)), 200, "credential in use from a fresh address")

	f.clock.Advance(31 * time.Second)
	wantStatus(t, f, from("10.2.0.2", basic(other.Key, otherTok)), 200, "after the lockout")
}

// TestSprayingKeysFromOneAddressStaysThrottled: many different keys from one
// address are refused after MaxFailures distinct failing keys, without a
// store lookup, while credentials that work from that address are never
// refused, and other addresses are not affected.
func TestSprayingKeysFromOneAddressStaysThrottled(t *testing.T) {
	f := limiterFixture(t)
	writer, writerTok := f.cred(t, credSpec{Role: access.RoleEditor, Scope: access.ScopeWrite})
	reader, readerTok := f.cred(t, credSpec{Role: access.RoleViewer})
	fresh, freshTok := f.cred(t, credSpec{Role: access.RoleViewer})
	wantStatus(t, f, from("192.0.2.7", basic(writer.Key, writerTok)), 200, "writer")
	wantStatus(t, f, from("192.0.2.7", basic(reader.Key, readerTok)), 200, "reader")

	for i := range 5 {
		key, tok, _ := GenerateCredential()
		wantStatus(t, f, from("192.0.2.7", basic(key, tok)), 401, fmt.Sprintf("sprayed key %d", i+1))
		wantStatus(t, f, from("192.0.2.7", basic(writer.Key, writerTok)), 200, "writer while spraying")
	}
	lookups := f.st.lookups.Load()
	for i := range 100 {
		key, tok, _ := GenerateCredential()
		wantStatus(t, f, from("192.0.2.7", basic(key, tok)), 429, fmt.Sprintf("sprayed key %d after the limit", i+6))
		if i%10 == 0 {
			wantStatus(t, f, from("192.0.2.7", basic(writer.Key, writerTok)), 200, "writer after the limit")
			wantStatus(t, f, from("192.0.2.7", basic(reader.Key, readerTok)), 200, "reader after the limit")
		}
	}
	// A credential never seen working cannot be told from a guess here
	// without a lookup, which would answer guesses at full speed.
	wantStatus(t, f, from("192.0.2.7", basic(fresh.Key, freshTok)), 429, "unproven credential from the spraying address")
	wantStatus(t, f, from("192.0.2.8", basic(fresh.Key, freshTok)), 200, "the same credential from another address")
	// Only the writer and reader (at most one lookup each per cache miss)
	// and the other address reached the store.
	if n := f.st.lookups.Load() - lookups; n > 3 {
		t.Fatalf("%d store lookups while the address was refused", n)
	}
	// The buckets of a spraying address stay few: it is refused before
	// anything more is recorded.
	if n := f.a.limit.size(); n > 30 {
		t.Fatalf("limiter holds %d entries after 105 sprayed keys", n)
	}
	// An IPv6 client cannot escape by changing addresses inside its /64.
	for i := range 5 {
		key, tok, _ := GenerateCredential()
		wantStatus(t, f, from(fmt.Sprintf("2001:db8:1:2::%x", i+1), basic(key, tok)), 401, fmt.Sprintf("IPv6 sprayed key %d", i+1))
	}
	key, tok, _ := GenerateCredential()
	wantStatus(t, f, from("2001:db8:1:2:ffff::1", basic(key, tok)), 429, "IPv6 sprayed key from a new address in the same /64")
	wantStatus(t, f, from("2001:db8:1:3::1", basic(key, tok)), 401, "IPv6 next /64")
}

// TestRetryingABadCredentialRefusesOnlyIt: one client retrying a revoked
// credential, and another sending a wrong token for a working key, from the
// same address as a working writer and reader: the retries are refused and
// the working credentials never are, including one first used after the
// retries were refused. Malformed headers count like one wrong key.
func TestRetryingABadCredentialRefusesOnlyIt(t *testing.T) {
	f := limiterFixture(t)
	revoked, revokedTok := f.cred(t, credSpec{Role: access.RoleEditor, Scope: access.ScopeWrite})
	if err := change(f.a, f.st.RevokeCredential(context.Background(), revoked.ID, time.Now())); err != nil {
		t.Fatal(err)
	}
	writer, writerTok := f.cred(t, credSpec{Role: access.RoleEditor, Scope: access.ScopeWrite})
	reader, readerTok := f.cred(t, credSpec{Role: access.RoleViewer})
	late, lateTok := f.cred(t, credSpec{Role: access.RoleViewer})
	_, wrongTok, _ := GenerateCredential()
	wantStatus(t, f, basic(writer.Key, writerTok), 200, "writer")

	refused := map[string]int{}
	for range 200 {
		for name, h := range map[string]http.Header{
			"revoked":   basic(revoked.Key, revokedTok),
			"wrong":     basic(writer.Key, wrongTok),
			"malformed": {"Authorization": {"Basic garbage"}},
		} {
			if s, _, _ := f.get(t, h); s == http.StatusTooManyRequests {
				refused[name]++
			} else if s != http.StatusUnauthorized {
				t.Fatalf("%s: %d", name, s)
			}
		}
		wantStatus(t, f, basic(writer.Key, writerTok), 200, "writer")
		wantStatus(t, f, basic(reader.Key, readerTok), 200, "reader")
	}
	for _, name := range []string{"revoked", "wrong", "malformed"} {
		if refused[name] != 195 {
			t.Errorf("%s: %d of 200 refused with 429, want 195 (all after the first 5)", name, refused[name])
		}
	}
	wantStatus(t, f, basic(late.Key, lateTok), 200, "a credential first used after the retries were refused")
	if strings.Contains(f.logs.String(), revokedTok) || strings.Contains(f.logs.String(), wrongTok) {
		t.Fatal("a token appears in the logs")
	}
}

// TestLimiterMemoryBounded: a flood of random keys from random addresses
// never grows the limiter past its bound, and keys it refuses stay refused.
func TestLimiterMemoryBounded(t *testing.T) {
	const bound = 1000
	l := newFailureLimiter(limiterConfig{max: 5, window: time.Minute, lockout: time.Minute, maxEntries: bound})
	now := time.Now()
	for range 5 {
		l.fail("203.0.113.1", credSubject("pgk_target"), now)
	}
	if l.retryAfter("203.0.113.1", credSubject("pgk_target"), now) == 0 {
		t.Fatal("target not refused")
	}
	for i := range 200_000 {
		addr := fmt.Sprintf("198.%d.%d.%d", i>>16&255, i>>8&255, i&255)
		l.fail(addr, credSubject(fmt.Sprintf("pgk_%016d", i)), now)
		if i%1000 == 0 && l.size() > bound {
			t.Fatalf("after %d failures the limiter holds %d entries, bound %d", i+1, l.size(), bound)
		}
	}
	if n := l.size(); n > bound {
		t.Fatalf("limiter holds %d entries, bound %d", n, bound)
	}
	if l.retryAfter("203.0.113.1", credSubject("pgk_target"), now) == 0 {
		t.Fatal("the flood freed a refused key")
	}
}

// TestLimiterGiveBack: a success gives back what it counted and clears its
// subject's count from its address, and typo-success cycles never add up to
// a refusal of the address.
func TestLimiterGiveBack(t *testing.T) {
	l := newFailureLimiter(limiterConfig{max: 3, window: time.Minute, lockout: time.Minute})
	now := time.Now()
	bob := loginSubject("bob")
	for i := range 10 {
		if _, d := l.reserve("192.0.2.1", bob, now); d > 0 {
			t.Fatalf("cycle %d: typo refused", i)
		}
		r, d := l.reserve("192.0.2.1", bob, now)
		if d > 0 {
			t.Fatalf("cycle %d: right password refused", i)
		}
		l.giveBack(r, true)
	}
	if d := l.retryAfter("192.0.2.1", loginSubject("alice"), now); d > 0 {
		t.Fatal("typo-success cycles refused the address")
	}
	// Ten typos in all count for bob from all addresses (limit 30).
	for range 19 {
		l.fail("192.0.2.2", bob, now)
		l.giveBack(reservation{}, false) // a zero reservation gives back nothing
	}
	if d := l.retryAfter("192.0.2.3", bob, now); d > 0 {
		t.Fatal("29 failures refused bob everywhere")
	}
	l.fail("192.0.2.4", bob, now)
	if d := l.retryAfter("192.0.2.3", bob, now); d == 0 {
		t.Fatal("30 failures did not refuse bob everywhere")
	}
}

// TestSpreadGuessesDoNotLockOutTheHolder: wrong tokens for one key sent from
// many addresses (an attacker who knows the key, which is not secret) must
// not lock out its holder, even before the credential has worked on this
// process (new, after a restart, on another replica, idle for a day). The
// guesses themselves stay throttled: every further wrong token is 429,
// and an address that reached its own limit is refused without a lookup.
func TestSpreadGuessesDoNotLockOutTheHolder(t *testing.T) {
	f := limiterFixture(t)
	victim, victimTok := f.cred(t, credSpec{Role: access.RoleEditor, Scope: access.ScopeWrite})
	guess := func() string {
		_, tok, err := GenerateCredential()
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	// 10 addresses x MaxFailures: the key's all-addresses limit.
	for i := range 50 {
		wantStatus(t, f, from(fmt.Sprintf("198.51.100.%d", i/5+1), basic(victim.Key, guess())), 401, fmt.Sprintf("spread guess %d", i+1))
	}
	wantStatus(t, f, from("198.51.100.99", basic(victim.Key, guess())), 429, "a guess from a fresh address after the key's limit")
	wantStatus(t, f, from("203.0.113.5", basic(victim.Key, victimTok)), 200, "the holder, first use on this process, from its own address")
	wantStatus(t, f, from("203.0.113.6", basic(victim.Key, victimTok)), 200, "the holder from another address")
	wantStatus(t, f, from("198.51.100.98", basic(victim.Key, guess())), 429, "guesses stay refused after the holder worked")

	// An address that used up its own allowance for the key is refused
	// before any store lookup.
	lookups := f.st.lookups.Load()
	for i := range 20 {
		wantStatus(t, f, from("198.51.100.1", basic(victim.Key, guess())), 429, fmt.Sprintf("guess %d from an address at its limit", i+1))
	}
	if n := f.st.lookups.Load() - lookups; n != 0 {
		t.Fatalf("guesses from an address at its limit made %d store lookups", n)
	}
}
