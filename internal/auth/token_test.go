package auth

import (
	"strings"
	"testing"
)

func TestGenerateCredentialShape(t *testing.T) {
	seen := map[string]bool{}
	for range 50 {
		key, tok, err := GenerateCredential()
		if err != nil {
			t.Fatal(err)
		}
		if !ValidKey(key) || !ValidToken(tok) {
			t.Fatalf("generated pair does not validate: %q %q", key, tok)
		}
		if seen[key] || seen[tok] {
			t.Fatal("duplicate credential")
		}
		seen[key], seen[tok] = true, true
		if len(tok) != len(TokenPrefix)+tokenRandLen+1+checksumLen {
			t.Fatalf("token length %d", len(tok))
		}
	}
}

func TestValidateCredential(t *testing.T) {
	key, tok, err := GenerateCredential()
	if err != nil {
		t.Fatal(err)
	}
	// Flip one character of the random part: the checksum must catch it.
	body := []byte(tok)
	i := len(TokenPrefix) + 3
	if body[i] == 'a' {
		body[i] = 'b'
	} else {
		body[i] = 'a'
	}
	tests := []struct {
		name       string
		key, token string
		ok         bool
	}{
		{"valid", key, tok, true},
		{"empty key", "", tok, false},
		{"empty token", key, "", false},
		{"no key prefix", strings.TrimPrefix(key, KeyPrefix), tok, false},
		{"no token prefix", key, strings.TrimPrefix(tok, TokenPrefix), false},
		{"short key", key[:len(key)-1], tok, false},
		{"long key", key + "A", tok, false},
		{"bad checksum", key, string(body), false},
		{"token as key", tok, key, false},
		{"unicode key", KeyPrefix + "ééééééééAAAAAAAA"[:16], tok, false},
		{"unicode in token", key, strings.Replace(tok, tok[6:8], "é", 1), false},
		{"key with colon", KeyPrefix + "AAAAAAAA:AAAAAAA", tok, false},
		{"truncated token", key, tok[:len(tok)-2], false},
		{"token with space", key, tok + " ", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateCredential(tt.key, tt.token)
			if (err == nil) != tt.ok {
				t.Fatalf("ValidateCredential = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestPasswordHash(t *testing.T) {
	h, err := HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("unexpected encoding %q", h)
	}
	if strings.Contains(h, "correct horse") {
		t.Fatal("hash contains the password")
	}
	parts := strings.Split(h, "$")
	tests := []struct {
		name, hash, password string
		wantErr              bool
		mismatch             bool
	}{
		{"right", h, "correct horse", false, false},
		{"wrong", h, "correct horsE", true, true},
		{"empty password", h, "", true, true},
		{"too long", h, strings.Repeat("x", MaxPasswordLen+1), true, true},
		{"not argon2id", "$2a$10$abcdefghijklmnopqrstuv", "x", true, false},
		{"garbage", "garbage", "x", true, false},
		{"bad version", strings.Replace(h, "v=19", "v=16", 1), "correct horse", true, false},
		{"huge memory", strings.Join([]string{"", parts[1], parts[2], "m=99999999,t=1,p=1", parts[4], parts[5]}, "$"), "correct horse", true, false},
		{"bad salt", strings.Join([]string{"", parts[1], parts[2], parts[3], "!!!", parts[5]}, "$"), "correct horse", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifyPassword(tt.hash, tt.password)
			if (err != nil) != tt.wantErr {
				t.Fatalf("VerifyPassword = %v, want error %v", err, tt.wantErr)
			}
			if tt.mismatch && err != ErrPasswordMismatch {
				t.Fatalf("want ErrPasswordMismatch, got %v", err)
			}
		})
	}
}
