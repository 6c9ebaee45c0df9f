package dbutil

import (
	"reflect"
	"testing"
	"time"
)

func TestIDsRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		in   []int64
	}{
		{"Nil", nil},
		{"Empty", []int64{}},
		{"Some", []int64{2, 9, 3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			enc, err := EncodeIDs(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if (enc == nil) != (tc.in == nil) {
				t.Fatalf("EncodeIDs(%#v) = %v: nil must map to NULL and only nil", tc.in, enc)
			}
			got, err := DecodeIDs(enc)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.in) {
				t.Errorf("round trip %#v -> %#v", tc.in, got)
			}
		})
	}
}

func TestHeadersRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		in   map[string]string
	}{
		{"Nil", nil},
		{"Empty", map[string]string{}},
		{"Some", map[string]string{"X-Scope-OrgID": "a", "X-Ü": "\"q\""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			enc, err := EncodeHeaders(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := DecodeHeaders(enc)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.in) {
				t.Errorf("round trip %#v -> %#v", tc.in, got)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	bad := "{not json"
	if _, err := DecodeIDs(&bad); err == nil {
		t.Error("DecodeIDs accepted bad JSON")
	}
	if _, err := DecodeHeaders(&bad); err == nil {
		t.Error("DecodeHeaders accepted bad JSON")
	}
}

func TestTimes(t *testing.T) {
	in := time.Date(2025, 1, 2, 3, 4, 5, 123456789, time.FixedZone("X", 7200))
	got := Micro(in)
	if got.Location() != time.UTC || got.Nanosecond() != 123456000 || !got.Equal(in.Truncate(time.Microsecond)) {
		t.Errorf("Micro(%v) = %v", in, got)
	}
	if MicroPtr(nil) != nil {
		t.Error("MicroPtr(nil) != nil")
	}
	if now := NowIfZero(time.Time{}); time.Since(now) > time.Minute || now.Location() != time.UTC {
		t.Errorf("NowIfZero(zero) = %v", now)
	}
}

func TestLoginKeyAndUID(t *testing.T) {
	if LoginKey("Alice@Example.COM") != LoginKey("alice@example.com") {
		t.Error("LoginKey is case-sensitive")
	}
	a, b := NewUID(), NewUID()
	if a == b || len(a) != 16 {
		t.Errorf("NewUID: %q, %q", a, b)
	}
}
