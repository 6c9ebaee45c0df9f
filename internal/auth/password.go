package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Argon2id parameters for new hashes (OWASP's 19 MiB, t=2, p=1 profile:
// affordable on a small shared machine, still memory-hard). They are stored
// in each hash, so they can be raised later without breaking old hashes.
const (
	argonMemoryKiB = 19 * 1024
	argonTime      = 2
	argonThreads   = 1
	argonSaltLen   = 16
	argonKeyLen    = 32

	// Limits on stored parameters, so a corrupted or hostile hash row cannot
	// make verification eat the machine.
	maxArgonMemoryKiB = 1 << 20
	maxArgonTime      = 16
	maxArgonThreads   = 16

	// MaxPasswordLen caps passwords; longer ones only cost hashing time.
	MaxPasswordLen = 1024
	// MinPasswordLen is the shortest password accepted for a new user.
	MinPasswordLen = 8
)

// ErrPasswordMismatch is returned by VerifyPassword for a wrong password.
var ErrPasswordMismatch = errors.New("password does not match")

var b64 = base64.RawStdEncoding

// HashPassword returns an encoded, versioned argon2id hash:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash> (PHC string format).
func HashPassword(password string) (string, error) {
	if len(password) > MaxPasswordLen {
		return "", fmt.Errorf("password longer than %d bytes", MaxPasswordLen)
	}
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("read salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemoryKiB, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argonMemoryKiB, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// VerifyPassword checks password against an encoded hash in constant time.
// It returns ErrPasswordMismatch for a wrong password and another error for
// a hash it cannot read.
func VerifyPassword(encoded, password string) error {
	if len(password) > MaxPasswordLen {
		return ErrPasswordMismatch
	}
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return errors.New("unsupported password hash format")
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return fmt.Errorf("unsupported argon2 version %q", parts[2])
	}
	var mem, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &mem, &t, &p); err != nil {
		return fmt.Errorf("parse argon2 parameters: %w", err)
	}
	if mem == 0 || mem > maxArgonMemoryKiB || t == 0 || t > maxArgonTime || p == 0 || p > maxArgonThreads {
		return fmt.Errorf("argon2 parameters out of range: %s", parts[3])
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return fmt.Errorf("decode salt: %w", err)
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) < 16 || len(want) > 64 {
		return errors.New("decode argon2 hash: bad length or encoding")
	}
	got := argon2.IDKey([]byte(password), salt, t, mem, p, uint32(len(want)))
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return ErrPasswordMismatch
	}
	return nil
}

// MaxLoginLen is the longest login a user may have; longer ones are
// refused before any store lookup.
const MaxLoginLen = 128

// RandomPassword returns a new random password of 24 base62 characters,
// for a first OWNER nobody chose a password for.
func RandomPassword() (string, error) { return randomBase62(24) }
