package panics_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/promgate/promgate/internal/panics"
)

func TestCapture(t *testing.T) {
	tests := []struct {
		name  string
		f     func()
		value any
	}{
		{"no panic", func() {}, nil},
		{"string", func() { panic("boom") }, "boom"},
		{"runtime error", func() { var m map[string]int; m["x"] = 1 }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			done := make(chan error)
			go func() {
				var err error
				defer func() { done <- err }()
				defer panics.Capture(&err)
				tt.f()
			}()
			err := <-done
			var pe *panics.Error
			if tt.name == "no panic" {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if !errors.As(err, &pe) || !strings.Contains(string(pe.Stack), "panics_test.go") {
				t.Fatalf("err = %#v", err)
			}
			if tt.value != nil && pe.Value != tt.value {
				t.Fatalf("value = %v, want %v", pe.Value, tt.value)
			}
		})
	}
}
