// Package dbutil holds the value conversions of package sqlstore that do
// not depend on the database (login keys, time precision, the JSON of
// data source lists and headers, random UIDs), so that SQLite and
// PostgreSQL encode values the same way and behave identically under the
// conformance suite.
package dbutil

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// LoginKey is the value logins are unique on. Lower-casing in Go rather than
// in SQL keeps the rule identical in SQLite (whose NOCASE is ASCII only) and
// PostgreSQL.
func LoginKey(login string) string {
	return strings.ToLower(login)
}

// Micro truncates t to the microsecond precision both databases keep, in
// UTC, so a value read back equals the value written.
func Micro(t time.Time) time.Time {
	return t.Truncate(time.Microsecond).UTC()
}

// MicroPtr is Micro for optional times.
func MicroPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := Micro(*t)
	return &v
}

// NowIfZero returns now (truncated) when t is the zero time, so that callers
// may leave CreatedAt unset.
func NowIfZero(t time.Time) time.Time {
	if t.IsZero() {
		return Micro(time.Now())
	}
	return Micro(t)
}

// EncodeIDs encodes a data source ID list as JSON. nil (no restriction) is
// stored as SQL NULL and an empty list as "[]": the two mean different
// things (every data source vs none) and must survive a round trip.
func EncodeIDs(ids []int64) (*string, error) {
	if ids == nil {
		return nil, nil
	}
	b, err := json.Marshal(ids)
	if err != nil {
		return nil, fmt.Errorf("encode data source ids: %w", err)
	}
	s := string(b)
	return &s, nil
}

// DecodeIDs reverses EncodeIDs.
func DecodeIDs(s *string) ([]int64, error) {
	if s == nil {
		return nil, nil
	}
	ids := []int64{}
	if err := json.Unmarshal([]byte(*s), &ids); err != nil {
		return nil, fmt.Errorf("decode data source ids: %w", err)
	}
	return ids, nil
}

// EncodeHeaders encodes data source headers as JSON; nil is stored as NULL.
func EncodeHeaders(h map[string]string) (*string, error) {
	if h == nil {
		return nil, nil
	}
	b, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("encode headers: %w", err)
	}
	s := string(b)
	return &s, nil
}

// DecodeHeaders reverses EncodeHeaders.
func DecodeHeaders(s *string) (map[string]string, error) {
	if s == nil {
		return nil, nil
	}
	h := map[string]string{}
	if err := json.Unmarshal([]byte(*s), &h); err != nil {
		return nil, fmt.Errorf("decode headers: %w", err)
	}
	return h, nil
}

// NewUID returns a random data source UID, used when the caller gives none.
func NewUID() string {
	b := make([]byte, 10)
	// crypto/rand.Read never returns an error since Go 1.24.
	_, _ = rand.Read(b)
	// Lower-case base32 without padding: URL-safe and readable in
	// /uid/<uid>/ paths.
	enc := base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)
	return enc.EncodeToString(b)
}
