package promapi

import (
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/promgate/promgate/internal/store"
)

func TestWriteServerError(t *testing.T) {
	tests := []struct {
		name        string
		err         error
		status      int
		errorType   string
		retryAfter  string
		unavailable bool
	}{
		{"store unreachable, wrapped twice", fmt.Errorf("look up credential: %w", store.Unavailable(errors.New("dial tcp 10.0.0.1:5432: connection refused"))), 503, ErrUnavailable, "5", true},
		{"other store error", fmt.Errorf("list users: %w", errors.New("relation \"users\" does not exist")), 500, ErrInternal, "", false},
		{"damaged store", fmt.Errorf("x: %w", store.ErrCorrupt), 500, ErrInternal, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			got := WriteServerError(rec, tc.err, "lookup failed")
			if got != tc.unavailable || rec.Code != tc.status || rec.Header().Get("Retry-After") != tc.retryAfter {
				t.Fatalf("unavailable %v, status %d, Retry-After %q; want %v %d %q", got, rec.Code, rec.Header().Get("Retry-After"), tc.unavailable, tc.status, tc.retryAfter)
			}
			body := rec.Body.String()
			if !strings.Contains(body, `"errorType":"`+tc.errorType+`"`) {
				t.Errorf("body %s, want errorType %s", body, tc.errorType)
			}
			if strings.Contains(body, "10.0.0.1") || strings.Contains(body, "relation") {
				t.Errorf("the body reveals the store's error: %s", body)
			}
			if rec.Header().Get("Content-Type") != "application/json" {
				t.Errorf("Content-Type %q", rec.Header().Get("Content-Type"))
			}
		})
	}
}
