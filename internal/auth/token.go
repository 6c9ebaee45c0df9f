package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"
)

// Credential format. The prefixes let secret scanners find leaked values;
// the checksum lets the server reject garbage before any store lookup.
const (
	KeyPrefix   = "pgk_"
	TokenPrefix = "pgt_"

	keyRandLen   = 16 // base62 chars of the public key (~95 bits)
	tokenRandLen = 32 // base62 chars of the secret (~190 bits, >= 160 required)
	checksumLen  = 6  // base62 chars: 62^6 > 2^32 holds a whole crc32
)

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// ErrMalformedCredential means a key or token is not in promgate's format.
var ErrMalformedCredential = errors.New("malformed credential")

// randomBase62 returns n uniformly random base62 characters from crypto/rand.
func randomBase62(n int) (string, error) {
	out := make([]byte, 0, n)
	buf := make([]byte, n+n/2)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("read random bytes: %w", err)
		}
		for _, b := range buf {
			// Rejection sampling: 248 = 4*62, so b%62 is uniform below it.
			if b < 248 && len(out) < n {
				out = append(out, base62[b%62])
			}
		}
	}
	return string(out), nil
}

// checksum encodes crc32(s) as fixed-width base62.
func checksum(s string) string {
	v := uint64(crc32.ChecksumIEEE([]byte(s)))
	var b [checksumLen]byte
	for i := checksumLen - 1; i >= 0; i-- {
		b[i] = base62[v%62]
		v /= 62
	}
	return string(b[:])
}

func isBase62(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z') {
			return false
		}
	}
	return true
}

// GenerateCredential returns a new public key and secret token.
func GenerateCredential() (key, token string, err error) {
	k, err := randomBase62(keyRandLen)
	if err != nil {
		return "", "", fmt.Errorf("generate credential key: %w", err)
	}
	t, err := randomBase62(tokenRandLen)
	if err != nil {
		return "", "", fmt.Errorf("generate credential token: %w", err)
	}
	return KeyPrefix + k, TokenPrefix + t + "_" + checksum(t), nil
}

// ValidKey reports whether key has the shape of a promgate key.
func ValidKey(key string) bool {
	rest, ok := strings.CutPrefix(key, KeyPrefix)
	return ok && len(rest) == keyRandLen && isBase62(rest)
}

// ValidToken reports whether token has the shape of a promgate token and
// its checksum matches. It says nothing about whether the token is issued.
func ValidToken(token string) bool {
	rest, ok := strings.CutPrefix(token, TokenPrefix)
	if !ok || len(rest) != tokenRandLen+1+checksumLen || rest[tokenRandLen] != '_' {
		return false
	}
	body, sum := rest[:tokenRandLen], rest[tokenRandLen+1:]
	if !isBase62(body) || !isBase62(sum) {
		return false
	}
	// The checksum is public information, so a plain compare is fine.
	return checksum(body) == sum
}

// ValidateCredential checks the shape of a key:token pair.
func ValidateCredential(key, token string) error {
	if !ValidKey(key) || !ValidToken(token) {
		return ErrMalformedCredential
	}
	return nil
}

// HashToken is the SHA-256 of a token. A fast hash is right here: tokens
// carry >= 160 random bits, so there is nothing to brute-force.
func HashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// EqualHash compares two hashes in constant time.
func EqualHash(a, b []byte) bool {
	return subtle.ConstantTimeCompare(a, b) == 1
}
