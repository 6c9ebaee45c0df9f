package auth

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/promgate/promgate/internal/access"
	"github.com/promgate/promgate/internal/promapi"
)

// retryAfterSeconds rounds d up to whole seconds, at least 1, for a
// Retry-After header.
func retryAfterSeconds(d time.Duration) int {
	return max(1, int((d+time.Second-1)/time.Second))
}

// WriteUnauthorized writes a 401 with the basic-auth challenge. A browser
// script can send X-Requested-With: XMLHttpRequest to get the 401 without
// the challenge, so the browser shows no password dialog.
func WriteUnauthorized(w http.ResponseWriter, r *http.Request, msg string) {
	if r.Header.Get("X-Requested-With") != "XMLHttpRequest" {
		w.Header().Set("WWW-Authenticate", `Basic realm="promgate"`)
	}
	promapi.WriteError(w, http.StatusUnauthorized, "unauthorized", msg)
}

// WriteTooManyRequests writes a 429 with Retry-After.
func WriteTooManyRequests(w http.ResponseWriter, retry time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds(retry)))
	promapi.WriteError(w, http.StatusTooManyRequests, "too_many_requests", "too many failed authentication attempts; retry later")
}

// Require returns middleware that authenticates every request with an API
// credential (and with the session cookie when allowSession is true), puts
// the principal in the context (access.PrincipalFrom), and rejects:
// 429 for an attempt the failure limiter refuses (before any store lookup;
// never a credential that worked recently, see limiter.go), 401 for missing
// or wrong credentials, 403 for a valid bearer JWT that no rule grants
// access, 403 for a session's state-changing request without
// a matching X-CSRF-Token header. Authorization (Can) is the handler's job.
func (a *Authenticator) Require(allowSession bool) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, csrf, err := a.authenticate(r, allowSession)
			switch {
			case err == nil:
			case errors.Is(err, ErrRateLimited):
				WriteTooManyRequests(w, RetryAfterOf(err))
				return
			case errors.Is(err, ErrNoCredentials):
				WriteUnauthorized(w, r, "authentication required: send an API credential as basic auth key:token")
				return
			case errors.Is(err, ErrSessionInvalid):
				WriteUnauthorized(w, r, "session expired or invalid; log in again")
				return
			case errors.Is(err, ErrForbidden):
				a.log.InfoContext(r.Context(), "bearer token refused", "client", a.ClientIP(r), "path", r.URL.Path, "err", err)
				promapi.WriteError(w, http.StatusForbidden, "forbidden", "the token is valid but no rule of its provider grants it access")
				return
			case errors.Is(err, ErrInvalidCredentials):
				a.log.InfoContext(r.Context(), "authentication failed", "client", a.ClientIP(r), "path", r.URL.Path, "err", err)
				WriteUnauthorized(w, r, "invalid credentials")
				return
			default:
				if !promapi.WriteServerError(w, err, "authentication unavailable") {
					a.log.ErrorContext(r.Context(), "authentication", "err", err)
				}
				return
			}
			if p.Kind == access.KindSession && !safeMethod(r.Method) && !csrfOK(r, csrf) {
				promapi.WriteError(w, http.StatusForbidden, "forbidden", "missing or wrong "+CSRFHeader+" header")
				return
			}
			ctx := access.WithPrincipal(r.Context(), p)
			if csrf != "" {
				ctx = WithCSRFToken(ctx, csrf)
			}
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}
