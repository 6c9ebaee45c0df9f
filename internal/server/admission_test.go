package server

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/promgate/promgate/internal/access"
)

// admStep is one event: a caller's query enters (tickets are numbered 1, 2,
// ... in the order they enter, refused ones too), or ticket leave leaves.
// running is the tickets running after the step.
type admStep struct {
	enter   string
	want    error
	leave   int
	running []int
}

func TestAdmission(t *testing.T) {
	tests := []struct {
		name   string
		limits QueryLimits
		steps  []admStep
	}{
		{
			name:   "a caller under its share runs at once, over it queues, others still run",
			limits: QueryLimits{Total: 4, PerCaller: 2, Queue: 2},
			steps: []admStep{
				{enter: "a", running: []int{1}},
				{enter: "a", running: []int{1, 2}},
				{enter: "a", running: []int{1, 2}},
				{enter: "b", running: []int{1, 2, 4}},
				{enter: "b", running: []int{1, 2, 4, 5}},
			},
		},
		{
			name:   "a full queue refuses at once, and only that caller",
			limits: QueryLimits{Total: 4, PerCaller: 1, Queue: 1},
			steps: []admStep{
				{enter: "a", running: []int{1}},
				{enter: "a", running: []int{1}},
				{enter: "a", want: errCallerQueueFull, running: []int{1}},
				{enter: "b", running: []int{1, 4}},
			},
		},
		{
			name:   "no queue: over the share is refused at once",
			limits: QueryLimits{Total: 4, PerCaller: 1, Queue: -1},
			steps: []admStep{
				{enter: "a", running: []int{1}},
				{enter: "a", want: errCallerQueueFull, running: []int{1}},
			},
		},
		{
			name:   "a caller's queue runs in order as its own queries end",
			limits: QueryLimits{Total: 4, PerCaller: 1, Queue: 2},
			steps: []admStep{
				{enter: "a", running: []int{1}},
				{enter: "a", running: []int{1}},
				{enter: "a", running: []int{1}},
				{leave: 1, running: []int{2}},
				{leave: 2, running: []int{3}},
				{leave: 3, running: nil},
			},
		},
		{
			name:   "freed slots go to waiting callers in turn, not to the longest queue",
			limits: QueryLimits{Total: 2, PerCaller: 2, Queue: 4},
			steps: []admStep{
				{enter: "a", running: []int{1}},
				{enter: "a", running: []int{1, 2}},
				{enter: "a", running: []int{1, 2}}, // 3
				{enter: "a", running: []int{1, 2}}, // 4
				{enter: "a", running: []int{1, 2}}, // 5
				{enter: "b", running: []int{1, 2}}, // 6
				{enter: "c", running: []int{1, 2}}, // 7
				{leave: 1, running: []int{2, 3}},   // a's turn (it waited first), then a to the back
				{leave: 2, running: []int{3, 6}},   // b
				{leave: 3, running: []int{6, 7}},   // c
				{leave: 6, running: []int{4, 7}},   // a again
			},
		},
		{
			name:   "a free slot skips callers at their share",
			limits: QueryLimits{Total: 3, PerCaller: 1, Queue: 2},
			steps: []admStep{
				{enter: "a", running: []int{1}},
				{enter: "b", running: []int{1, 2}},
				{enter: "a", running: []int{1, 2}},    // 3: a at its share
				{enter: "c", running: []int{1, 2, 4}}, // all 3 slots busy
				{enter: "b", running: []int{1, 2, 4}}, // 5: b at its share
				{leave: 4, running: []int{1, 2}},      // a and b are at their share: the slot stays free
				{enter: "d", running: []int{1, 2, 6}}, // so a new caller runs at once
				{leave: 1, running: []int{2, 3, 6}},
			},
		},
		{
			name:   "a queued query that gives up frees its place; leaving twice does nothing",
			limits: QueryLimits{Total: 4, PerCaller: 1, Queue: 1},
			steps: []admStep{
				{enter: "a", running: []int{1}},
				{enter: "a", running: []int{1}},
				{leave: 2, running: []int{1}},
				{leave: 2, running: []int{1}},
				{enter: "a", running: []int{1}},
				{leave: 1, running: []int{3}},
				{leave: 1, running: []int{3}},
				{leave: 3, running: nil},
			},
		},
		{
			name:   "the default share is a quarter of the slots",
			limits: QueryLimits{Total: 8, Queue: -1},
			steps: []admStep{
				{enter: "a", running: []int{1}},
				{enter: "a", running: []int{1, 2}},
				{enter: "a", want: errCallerQueueFull, running: []int{1, 2}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAdmission(tt.limits)
			var tickets []*ticket
			for i, st := range tt.steps {
				if st.enter != "" {
					tk, err := a.enter(st.enter)
					if !errors.Is(err, st.want) {
						t.Fatalf("step %d: enter %q: err %v, want %v", i, st.enter, err, st.want)
					}
					tickets = append(tickets, tk)
				}
				if st.leave > 0 {
					a.leave(tickets[st.leave-1])
				}
				var running []int
				for n, tk := range tickets {
					if tk != nil && isClosed(tk.ready) && !tk.done {
						running = append(running, n+1)
					}
				}
				if !slices.Equal(running, st.running) {
					t.Fatalf("step %d: running %v, want %v", i, running, st.running)
				}
				if r, _ := a.stats(); r != len(running) {
					t.Fatalf("step %d: stats say %d running, tickets %d", i, r, len(running))
				}
			}
			for _, tk := range tickets {
				if tk != nil {
					a.leave(tk)
				}
			}
			if r, q := a.stats(); r != 0 || q != 0 || len(a.callers) != 0 || len(a.turns) != 0 {
				t.Fatalf("after everyone left: running %d, queued %d, %d callers, %d turns", r, q, len(a.callers), len(a.turns))
			}
		})
	}
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func TestAdmissionAcquire(t *testing.T) {
	tests := []struct {
		name string
		// end does something to the queued acquire: cancel its context or
		// let the running query leave.
		end     func(cancel context.CancelFunc, running *ticket, a *admission)
		maxWait time.Duration
		want    error
	}{
		{"runs when the caller's running query ends", func(_ context.CancelFunc, r *ticket, a *admission) { a.leave(r) }, 10 * time.Second, nil},
		{"gives up when the caller leaves", func(cancel context.CancelFunc, _ *ticket, _ *admission) { cancel() }, 10 * time.Second, context.Canceled},
		{"429 after the longest wait", func(context.CancelFunc, *ticket, *admission) {}, 50 * time.Millisecond, errQueueTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAdmission(QueryLimits{Total: 4, PerCaller: 1, Queue: 1, MaxWait: tt.maxWait})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			running, err := a.acquire(ctx, "a")
			if err != nil {
				t.Fatal(err)
			}
			qctx, qcancel := context.WithCancel(ctx)
			defer qcancel()
			type result struct {
				t   *ticket
				err error
			}
			got := make(chan result, 1)
			start := time.Now()
			go func() {
				tk, err := a.acquire(qctx, "a")
				got <- result{tk, err}
			}()
			deadline := start.Add(10 * time.Second)
			// (A short wait may already be over.)
			for _, q := a.stats(); q != 1 && tt.want != errQueueTimeout; _, q = a.stats() {
				if time.Now().After(deadline) {
					t.Fatal("the second query never queued")
				}
				time.Sleep(time.Millisecond)
			}
			tt.end(qcancel, running, a)
			var res result
			select {
			case res = <-got:
			case <-time.After(10 * time.Second):
				t.Fatal("acquire did not return")
			}
			if !errors.Is(res.err, tt.want) {
				t.Fatalf("acquire: %v, want %v", res.err, tt.want)
			}
			if took := time.Since(start); tt.want == errQueueTimeout && took < tt.maxWait {
				t.Fatalf("gave up after %v, before the longest wait %v", took, tt.maxWait)
			}
			if res.t != nil {
				a.leave(res.t)
			}
			a.leave(running)
			if r, q := a.stats(); r != 0 || q != 0 {
				t.Fatalf("after all left: running %d, queued %d", r, q)
			}
		})
	}
}

func TestCallerKey(t *testing.T) {
	tests := []struct {
		name string
		p    access.Principal
		want string
	}{
		{"session: its user", access.Principal{Kind: access.KindSession, UserID: 5}, "user:5"},
		{"user credential: its user, with the user's sessions", access.Principal{Kind: access.KindUserCredential, UserID: 5, CredentialID: 9}, "user:5"},
		{"global credential: itself", access.Principal{Kind: access.KindGlobalCredential, CredentialID: 9}, "credential:9"},
		{"another global credential", access.Principal{Kind: access.KindGlobalCredential, CredentialID: 10}, "credential:10"},
	}
	for _, tt := range tests {
		if got := callerKey(&tt.p); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestAdmissionOff(t *testing.T) {
	if a := newAdmission(QueryLimits{PerCaller: -1}); a != nil {
		t.Fatal("a negative per-caller share should turn admission off")
	}
}
