package promapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/promgate/promgate/internal/store"
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

// StoreRetryAfter is how long a client is told to wait (Retry-After) when
// a request failed because the store could not be reached.
const StoreRetryAfter = 5 * time.Second

// WriteServerError answers a request that failed on promgate's side. When
// err matches store.ErrUnavailable (the store cannot be reached; the same
// request may work in a moment) it writes 503 with error type
// "unavailable" and Retry-After, so that load balancers and remote_write
// senders retry; anything else is a 500 "internal" with msg. err's text is
// never sent: it may name internals. It reports whether err was the store
// being unavailable: callers log only the other failures, as the outage
// itself is logged once where it is noticed.
//
// This is the one place where a store error becomes an HTTP answer.
func WriteServerError(w http.ResponseWriter, err error, msg string) (unavailable bool) {
	if errors.Is(err, store.ErrUnavailable) {
		w.Header().Set("Retry-After", strconv.Itoa(int(StoreRetryAfter/time.Second)))
		WriteError(w, http.StatusServiceUnavailable, ErrUnavailable, "the user store is unreachable; retry later")
		return true
	}
	WriteError(w, http.StatusInternalServerError, ErrInternal, msg)
	return false
}

// Write writes e.
func (e *Error) Write(w http.ResponseWriter) { WriteError(w, e.Status, e.Type, e.Msg) }

// WriteRequestError writes err, a refusal of the caller's request: an
// *Error (or one it wraps) with its own status and type, anything else as
// 400 bad_data with err's text.
func WriteRequestError(w http.ResponseWriter, err error) {
	var e *Error
	if errors.As(err, &e) {
		e.Write(w)
		return
	}
	WriteError(w, http.StatusBadRequest, ErrBadData, err.Error())
}

// ErrConflict is the error type of a change that clashes with the stored
// state (409): a name taken, the last OWNER. Prometheus has no such type.
const ErrConflict = "conflict"

// BadData returns a 400 bad_data error whose message is fit to show.
func BadData(format string, args ...any) error {
	return &Error{Status: http.StatusBadRequest, Type: ErrBadData, Msg: fmt.Sprintf(format, args...)}
}

// IsBadData reports whether err is, or wraps, a bad_data Error: input the
// caller got wrong.
func IsBadData(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Type == ErrBadData
}
