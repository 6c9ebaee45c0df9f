package server

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/time/rate"

	"github.com/promgate/promgate/internal/access"
	"github.com/promgate/promgate/internal/promapi"
)

// rateLimiter keeps one token bucket per credential, keyed by its key (a
// provider's token by provider and subject, see access.KindToken).
type rateLimiter struct {
	perSecond float64
	mu        sync.Mutex
	buckets   map[string]*bucket
}

type bucket struct {
	limiter  *rate.Limiter
	lastSeen time.Time
}

func newRateLimiter(perSecond float64) *rateLimiter {
	return &rateLimiter{perSecond: perSecond, buckets: map[string]*bucket{}}
}

func (l *rateLimiter) allow(credentialID string, now time.Time) bool {
	if l.perSecond <= 0 || credentialID == "" {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[credentialID]
	if !ok {
		// Forget idle buckets now and then so the map stays bounded.
		if len(l.buckets) > 10_000 {
			for id, old := range l.buckets {
				if now.Sub(old.lastSeen) > time.Minute {
					delete(l.buckets, id)
				}
			}
		}
		b = &bucket{limiter: rate.NewLimiter(rate.Limit(l.perSecond), max(1, int(2*l.perSecond)))}
		l.buckets[credentialID] = b
	}
	b.lastSeen = now
	return b.limiter.AllowN(now, 1)
}

func (s *Server) rateLimit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := access.PrincipalFrom(r.Context())
		if p != nil && p.IsCredential() && !s.limiter.allow(p.CredentialKey, time.Now()) {
			w.Header().Set("Retry-After", strconv.Itoa(1))
			promapi.WriteError(w, http.StatusTooManyRequests, promapi.ErrTooMany, "rate limit of this credential exceeded")
			return
		}
		next.ServeHTTP(w, r)
	})
}

type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	if reg == nil {
		return nil
	}
	f := promauto.With(reg)
	return &httpMetrics{
		requests: f.NewCounterVec(prometheus.CounterOpts{
			Name: "promgate_http_requests_total",
			Help: "HTTP requests by handler, method and status code.",
		}, []string{"handler", "method", "code"}),
		duration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:                        "promgate_http_request_duration_seconds",
			Help:                        "HTTP request latency by handler.",
			Buckets:                     prometheus.DefBuckets,
			NativeHistogramBucketFactor: 1.1,
		}, []string{"handler", "method", "code"}),
	}
}

func (m *httpMetrics) instrument(handler string, next http.Handler) http.Handler {
	if m == nil {
		return next
	}
	labels := prometheus.Labels{"handler": handler}
	return promhttp.InstrumentHandlerDuration(m.duration.MustCurryWith(labels),
		promhttp.InstrumentHandlerCounter(m.requests.MustCurryWith(labels), next))
}
