package datasource_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/promgate/promgate/internal/datasource"
	"github.com/promgate/promgate/internal/secrets"
)

// TestWriteURLSettings: a remote_write URL is optional, checked like the
// base URL but keeps its path (backends name it differently), and bad ones
// are refused with the field named and nothing of the input quoted.
func TestWriteURLSettings(t *testing.T) {
	for _, tc := range []struct {
		in, want, wantErr string
	}{
		{"", "", ""},
		{"  http://thanos-receive:19291/api/v1/receive  ", "http://thanos-receive:19291/api/v1/receive", ""},
		{"https://Mimir.Example/api/v1/push/", "https://mimir.example/api/v1/push", ""},
		{"http://prom:9090/api/v1/write", "http://prom:9090/api/v1/write", ""},
		{"http://prom:9090", "", "needs the receiving path"},
		{"http://prom:9090/", "", "needs the receiving path"},
		{"ftp://prom/api/v1/write", "", "http:// or https://"},
		{"http://user:s3cret-pw@prom/api/v1/write", "", "may not contain a user or password"},
		{"http://prom/api/v1/write?tenant=a", "", "query string"},
		{"http://prom/api/v1/write#x", "", "fragment"},
		{"http://prom/api/../v1/write", "", "'..'"},
		{"http://prom/api//v1/write", "", "empty"},
		{"http://prom/api%2Fv1/write", "", "escaped"},
		{"http:///api/v1/write", "", "needs a host"},
		{"http://prom/api/v1\x01/write", "", "control characters"},
		{"http://prom/" + strings.Repeat("a", 2100), "", "too long"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			s := datasource.Settings{Name: "n", URL: "http://prom:9090", Env: "test", WriteURL: tc.in}
			err := s.Normalize()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "writeUrl") {
					t.Fatalf("error %v, want one naming writeUrl and %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "s3cret-pw") {
					t.Errorf("error quotes the input: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.WriteURL != tc.want {
				t.Errorf("WriteURL %q, want %q", s.WriteURL, tc.want)
			}
		})
	}
}

// TestCodecSealsTheWriteURL: the write URL is sealed (a data source
// without any secret gets a sealed part for it), opens again, and cannot
// be moved to another data source's row by someone without the key.
func TestCodecSealsTheWriteURL(t *testing.T) {
	box := newBox(t)
	codec := datasource.NewCodec(box)
	const writeURL = "http://thanos-receive:19291/api/v1/receive"
	s := datasource.Settings{UID: "uid1", Name: "thanos", URL: "http://thanos-query:10902", WriteURL: writeURL, Env: "prod"}
	if err := s.Normalize(); err != nil {
		t.Fatal(err)
	}
	row, err := codec.ToRow(s)
	if err != nil {
		t.Fatal(err)
	}
	if len(row.Secrets) == 0 || bytes.Contains(row.Secrets, []byte("thanos-receive")) {
		t.Fatalf("write URL not sealed: %q", row.Secrets)
	}
	back, err := codec.FromRow(row)
	if err != nil {
		t.Fatal(err)
	}
	if back.WriteURL != writeURL {
		t.Errorf("opened WriteURL %q, want %q", back.WriteURL, writeURL)
	}
	// Without a write URL and secrets nothing is sealed, as before.
	s.WriteURL = ""
	if row, err = codec.ToRow(s); err != nil || len(row.Secrets) != 0 {
		t.Errorf("row without secrets or write URL: sealed %d bytes, err %v", len(row.Secrets), err)
	}
	// The sealed part of one data source does not open in another's row.
	other := datasource.Settings{UID: "uid2", Name: "other", URL: "http://other:9090", Env: "prod"}
	orow, err := codec.ToRow(other)
	if err != nil {
		t.Fatal(err)
	}
	s.WriteURL = writeURL
	row, _ = codec.ToRow(s)
	orow.Secrets = row.Secrets
	if _, err := codec.FromRow(orow); !errors.Is(err, secrets.ErrDecrypt) {
		t.Errorf("moved sealed write URL opened: %v", err)
	}
}
