package server

import (
	"fmt"
	"net/http"
	"runtime/debug"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/promgate/promgate/internal/panics"
	"github.com/promgate/promgate/internal/promapi"
)

func newPanicCounter(reg prometheus.Registerer) prometheus.Counter {
	opts := prometheus.CounterOpts{
		Name: "promgate_panics_total",
		Help: "Panics while serving a request; each was logged with its stack and failed only its own request.",
	}
	if reg == nil {
		return prometheus.NewCounter(opts)
	}
	return promauto.With(reg).NewCounter(opts)
}

// serveRecovered routes r; a panic while serving it, in this goroutine or
// raised again here from one started for the request (a *panics.Error),
// fails only this request: a Prometheus-format 500 when nothing was sent
// yet, else a broken response. It is logged once, with the stack of the
// goroutine that panicked, and counted.
func (s *Server) serveRecovered(w *statusRecorder, r *http.Request) {
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		if v == http.ErrAbortHandler {
			// A deliberate abort of a response already under way.
			if !w.wroteHeader {
				promapi.WriteError(w, http.StatusInternalServerError, promapi.ErrInternal, "the answer was abandoned before it began")
				return
			}
			panic(v)
		}
		stack := debug.Stack()
		if pe, ok := v.(*panics.Error); ok {
			v, stack = pe.Value, pe.Stack
		}
		s.panics.Inc()
		s.opts.Logger.ErrorContext(r.Context(), "panic serving request",
			"method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(v), "stack", string(stack))
		if w.wroteHeader {
			panic(http.ErrAbortHandler) // net/http drops the connection without logging again
		}
		promapi.WriteError(w, http.StatusInternalServerError, promapi.ErrInternal, "internal error while serving this request (logged on the server)")
	}()
	// ServeHTTP let only canonical paths through, which ServeMux would
	// neither clean nor redirect, and under ProxyPrefix the mux's most
	// specific pattern is ProxyPrefix itself; CONNECT it routes apart.
	if r.Method != http.MethodConnect && strings.HasPrefix(r.URL.Path, ProxyPrefix) {
		s.proxyRoutes.ServeHTTP(w, r)
		return
	}
	s.mux.ServeHTTP(w, r)
}
