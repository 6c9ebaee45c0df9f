package main

import (
	"io"
	"strings"
	"testing"
	"time"
)

func TestServeAuthLimiterFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    [3]any // max failures, window, lockout
		wantErr string
	}{
		{"defaults", nil, nil, [3]any{10, time.Minute, time.Minute}, ""},
		{"flags", []string{"--auth.max-failures", "3", "--auth.failure-window", "5m", "--auth.lockout", "15m"}, nil, [3]any{3, 5 * time.Minute, 15 * time.Minute}, ""},
		{"environment", nil, map[string]string{"PROMGATE_AUTH_MAX_FAILURES": "20", "PROMGATE_AUTH_LOCKOUT": "2m"}, [3]any{20, time.Minute, 2 * time.Minute}, ""},
		{"zero failures", []string{"--auth.max-failures", "0"}, nil, [3]any{}, "--auth.max-failures must be at least 1"},
		{"negative lockout", []string{"--auth.lockout", "-1s"}, nil, [3]any{}, "--auth.lockout positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			f, err := parseServeFlags(tt.args, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := [3]any{f.authMaxFailures, f.authFailureWindow, f.authLockout}; got != tt.want {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// parseServeFlags parses `promgate serve args...` into its flags.
func parseServeFlags(args []string, stderr io.Writer) (*serveFlags, error) {
	c := newCLI(nil, io.Discard, stderr)
	if _, err := c.parse(append([]string{"serve"}, args...)); err != nil {
		return nil, err
	}
	return c.serve, c.serve.check()
}
