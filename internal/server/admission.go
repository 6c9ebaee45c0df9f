package server

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/promgate/promgate/internal/access"
	"github.com/promgate/promgate/internal/promapi"
)

// QueryLimits bound how many proxied queries run at once.
type QueryLimits struct {
	// Total is the most queries running at once over all callers and data
	// sources; 0 means 20 (the embedded engine's default).
	Total int
	// PerCaller is the most one caller runs at once; 0 means a quarter of
	// Total (at least 1), negative turns admission off.
	PerCaller int
	// Queue is how many more queries of one caller may wait for a slot;
	// beyond it the caller gets 429 at once. 0 means 4, negative none.
	Queue int
	// MaxWait is how long a queued query waits before 429; 0 means 10 s.
	MaxWait time.Duration
}

// Reasons a query is refused, as promgate_query_rejected_total labels.
var (
	errCallerQueueFull = errors.New("caller_queue_full")
	errQueueTimeout    = errors.New("queue_timeout")
)

// admission decides when a proxied query may run: at most total at once,
// at most perCaller of them for one caller, a short queue per caller behind
// that, and freed slots handed to waiting callers in turn, so one caller's
// backlog never delays another caller by more than one turn.
type admission struct {
	total, perCaller, queueLen int
	maxWait                    time.Duration

	mu      sync.Mutex
	running int
	queued  int
	// callers holds only callers with something running or queued, so it
	// stays as small as the load.
	callers map[string]*caller
	// turns are the callers with queued tickets, least recently served first.
	turns []*caller
}

type caller struct {
	key     string
	running int
	queue   []*ticket
}

// ticket is one query's place: queued until ready is closed, then running
// until leave.
type ticket struct {
	c       *caller
	ready   chan struct{}
	running bool
	done    bool
}

// newAdmission returns nil when limits turn admission off.
func newAdmission(l QueryLimits) *admission {
	if l.Total <= 0 {
		l.Total = 20
	}
	if l.PerCaller < 0 {
		return nil
	}
	if l.PerCaller == 0 {
		l.PerCaller = max(1, l.Total/4)
	}
	if l.Queue == 0 {
		l.Queue = 4
	}
	if l.MaxWait <= 0 {
		l.MaxWait = 10 * time.Second
	}
	return &admission{
		total: l.Total, perCaller: min(l.PerCaller, l.Total), queueLen: max(0, l.Queue), maxWait: l.MaxWait,
		callers: map[string]*caller{},
	}
}

// acquire waits, for at most maxWait, until the caller's query may run.
// The ticket must be given back with leave.
func (a *admission) acquire(ctx context.Context, key string) (*ticket, error) {
	t, err := a.enter(key)
	if err != nil {
		return nil, err
	}
	select {
	case <-t.ready: // the common case: no timer needed
		return t, nil
	default:
	}
	timer := time.NewTimer(a.maxWait)
	defer timer.Stop()
	select {
	case <-t.ready:
		return t, nil
	case <-ctx.Done():
		a.leave(t)
		return nil, ctx.Err()
	case <-timer.C:
		a.leave(t)
		return nil, errQueueTimeout
	}
}

// enter runs the query at once if the caller is under its share and a slot
// is free, queues it if the caller's queue has room, or refuses it.
func (a *admission) enter(key string) (*ticket, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.callers[key]
	if c == nil {
		c = &caller{key: key}
		a.callers[key] = c
	}
	t := &ticket{c: c, ready: make(chan struct{})}
	// Slots free while others wait cannot happen (leave hands them on), so
	// running at once never jumps a queue.
	if c.running < a.perCaller && a.running < a.total && len(c.queue) == 0 {
		a.start(t)
		return t, nil
	}
	if len(c.queue) >= a.queueLen {
		a.forget(c)
		return nil, errCallerQueueFull
	}
	if len(c.queue) == 0 {
		a.turns = append(a.turns, c)
	}
	c.queue = append(c.queue, t)
	a.queued++
	return t, nil
}

// leave ends a running query or gives up a queued one; a second call does
// nothing.
func (a *admission) leave(t *ticket) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if t.done {
		return
	}
	t.done = true
	c := t.c
	if t.running {
		c.running--
		a.running--
		a.dispatch()
	} else {
		c.queue = slices.DeleteFunc(c.queue, func(q *ticket) bool { return q == t })
		a.queued--
		if len(c.queue) == 0 {
			a.turns = slices.DeleteFunc(a.turns, func(x *caller) bool { return x == c })
		}
	}
	a.forget(c)
}

// dispatch hands free slots to queued tickets, one caller at a time in
// turn; a caller at its own share is skipped.
func (a *admission) dispatch() {
	for a.running < a.total {
		i := slices.IndexFunc(a.turns, func(c *caller) bool { return c.running < a.perCaller })
		if i < 0 {
			return
		}
		c := a.turns[i]
		t := c.queue[0]
		c.queue = c.queue[1:]
		a.queued--
		a.turns = slices.Delete(a.turns, i, i+1)
		if len(c.queue) > 0 {
			a.turns = append(a.turns, c) // served: to the back
		}
		a.start(t)
	}
}

func (a *admission) start(t *ticket) {
	t.running = true
	t.c.running++
	a.running++
	close(t.ready)
}

func (a *admission) forget(c *caller) {
	if c.running == 0 && len(c.queue) == 0 {
		delete(a.callers, c.key)
	}
}

func (a *admission) stats() (running, queued int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.running, a.queued
}

// callerKey names whose share a request uses: a user's sessions and
// credentials share one (else minting credentials would multiply it); a
// global credential has its own.
func callerKey(p *access.Principal) string {
	if p.UserID != 0 {
		return "user:" + strconv.FormatInt(p.UserID, 10)
	}
	if p.Kind == access.KindToken {
		return "token:" + p.CredentialKey // provider and subject
	}
	return "credential:" + strconv.FormatInt(p.CredentialID, 10)
}

// admitQuery waits for the caller's turn to run a proxied query. When it
// returns false it has answered the request (429) and the query must not
// run; otherwise done must be called when the query is over.
func (s *Server) admitQuery(w http.ResponseWriter, r *http.Request, p *access.Principal) (done func(), ok bool) {
	if s.admission == nil {
		return func() {}, true
	}
	t, err := s.admission.acquire(r.Context(), callerKey(p))
	switch {
	case err == nil:
		return func() { s.admission.leave(t) }, true
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		// The caller left while queued: nobody reads an answer.
		promapi.WriteError(w, 499, promapi.ErrCanceled, "request canceled while waiting for a query slot")
		return nil, false
	}
	s.queryMetrics.rejected.WithLabelValues(err.Error()).Inc()
	msg := "too many concurrent queries from this caller; retry later"
	if errors.Is(err, errQueueTimeout) {
		msg = "no query slot became free in time; retry later"
	}
	w.Header().Set("Retry-After", "1")
	promapi.WriteError(w, http.StatusTooManyRequests, promapi.ErrTooMany, msg)
	return nil, false
}

type queryMetrics struct {
	rejected *prometheus.CounterVec
}

// newQueryMetrics exports the admission's state: totals only, no
// per-caller labels, so the series count does not grow with callers.
func newQueryMetrics(reg prometheus.Registerer, a *admission) *queryMetrics {
	if reg == nil {
		reg = prometheus.NewRegistry() // counted, but not exported
	}
	f := promauto.With(reg)
	m := &queryMetrics{rejected: f.NewCounterVec(prometheus.CounterOpts{
		Name: "promgate_query_rejected_total",
		Help: "Proxied queries refused with 429 before running, by reason (caller_queue_full, queue_timeout).",
	}, []string{"reason"})}
	for _, err := range []error{errCallerQueueFull, errQueueTimeout} {
		m.rejected.WithLabelValues(err.Error())
	}
	stat := func(pick func(running, queued int) int) func() float64 {
		return func() float64 {
			if a == nil {
				return 0
			}
			return float64(pick(a.stats()))
		}
	}
	f.NewGaugeFunc(prometheus.GaugeOpts{Name: "promgate_query_inflight", Help: "Proxied queries running now, over all callers and data sources."},
		stat(func(running, _ int) int { return running }))
	f.NewGaugeFunc(prometheus.GaugeOpts{Name: "promgate_query_queued", Help: "Proxied queries waiting for a slot now."},
		stat(func(_, queued int) int { return queued }))
	limit := f.NewGaugeVec(prometheus.GaugeOpts{
		Name: "promgate_query_concurrency_limit",
		Help: "Most proxied queries running at once: over all callers (scope=total) and per caller (scope=caller); absent when admission is off.",
	}, []string{"scope"})
	if a != nil {
		limit.WithLabelValues("total").Set(float64(a.total))
		limit.WithLabelValues("caller").Set(float64(a.perCaller))
	}
	return m
}
