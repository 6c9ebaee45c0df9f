package promapi

import (
	"encoding/json"
	"net/http"
)

// Error types of Prometheus' API, with the status codes Prometheus uses.
const (
	ErrBadData      = "bad_data"     // 400
	ErrExecution    = "execution"    // 422
	ErrCanceled     = "canceled"     // 499
	ErrTimeout      = "timeout"      // 503
	ErrInternal     = "internal"     // 500
	ErrNotFound     = "not_found"    // 404
	ErrUnavailable  = "unavailable"  // 500 in Prometheus; 502/503 here for backends
	ErrUnauthorized = "unauthorized" // 401
	ErrForbidden    = "forbidden"    // 403
	ErrTooMany      = "too_many_requests"
)

// Error is an API error to answer in Prometheus' format.
type Error struct {
	Status int
	Type   string
	Msg    string
}

func (e *Error) Error() string { return e.Type + ": " + e.Msg }

// WriteError writes {"status":"error","errorType":...,"error":...}.
func WriteError(w http.ResponseWriter, status int, errorType, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Del("Content-Length")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Status    string `json:"status"`
		ErrorType string `json:"errorType"`
		Error     string `json:"error"`
	}{"error", errorType, msg})
}

// Write writes e.
func (e *Error) Write(w http.ResponseWriter) { WriteError(w, e.Status, e.Type, e.Msg) }
