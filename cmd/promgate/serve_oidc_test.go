package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestServeRefusesBadOIDCSection: a mistake in the config file's oidc:
// section stops `promgate serve` before it opens anything, with every
// mistake named on its own line, and the data dir stays untouched.
func TestServeRefusesBadOIDCSection(t *testing.T) {
	tests := []struct {
		name string
		yml  string
		want []string
	}{
		{"shape", `listen: ":0"
oidc:
  providers:
    - name: Corp
      issuer_url: idp.example.com
      selector_rules:
        - selector: '{team="a"}'
`, []string{"oidc.providers[0].issuer_url", "oidc.providers[0].client_id: required", "oidc.providers[0].selector_rules[0]: say which tokens"}},
		{"rules", `oidc:
  providers:
    - name: Corp
      issuer_url: https://idp.example.com
      client_id: promgate
      default_role: ADMIN
      selector_rules:
        - claim: tenant
          selector: '{tenant=~"{{ .tenant }}"}'
`, []string{"oidc.providers[0].default_role", "oidc.providers[0].selector_rules[0].selector", "whole value of a = matcher"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := filepath.Join(dir, "promgate.yml")
			if err := os.WriteFile(cfg, []byte(tt.yml), 0o600); err != nil {
				t.Fatal(err)
			}
			dataDir := filepath.Join(dir, "data")
			err := run(context.Background(), []string{"serve", "--listen", "127.0.0.1:0", "--config.file", cfg, "--data-dir", dataDir}, nil, io.Discard, io.Discard)
			if err == nil || exitCode(err) != 2 || strings.Contains(err.Error(), "\n") {
				t.Fatalf("serve: %v (exit %d), want a one-line usage error", err, exitCode(err))
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			if entries, _ := os.ReadDir(dataDir); len(entries) > 0 {
				t.Errorf("data dir touched: %v", entries)
			}
		})
	}
}
