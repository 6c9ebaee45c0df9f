package ratelog

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestLimiter(t *testing.T) {
	c := &clock{t: time.Unix(1_000_000, 0)}
	l := NewLimiter(10 * time.Second)
	l.now = c.now
	for _, step := range []struct {
		after          time.Duration // since the previous step
		key            string
		ok             bool
		wantSuppressed int
	}{
		{0, "disk", true, 0},
		{time.Second, "disk", false, 0},
		{time.Second, "disk", false, 0},
		{0, "other", true, 0}, // keys are independent
		{7 * time.Second, "disk", false, 0},
		{time.Second, "disk", true, 3}, // 10 s after the first: through, with the count
		{time.Second, "disk", false, 0},
		{time.Minute, "disk", true, 1},
		{time.Minute, "disk", true, 0},
	} {
		c.t = c.t.Add(step.after)
		ok, n := l.Allow(step.key)
		if ok != step.ok || n != step.wantSuppressed {
			t.Errorf("%s at +%v: Allow = %v, %d; want %v, %d", step.key, c.t.Sub(time.Unix(1_000_000, 0)), ok, n, step.ok, step.wantSuppressed)
		}
	}
}

// TestLimiterBounded: keys beyond the bound are logged, not tracked, and
// spent keys make room again.
func TestLimiterBounded(t *testing.T) {
	c := &clock{t: time.Unix(1_000_000, 0)}
	l := NewLimiter(time.Second)
	l.now = c.now
	for i := range maxKeys + 10 {
		if ok, _ := l.Allow(strings.Repeat("k", i+1)); !ok {
			t.Fatalf("new key %d held back", i)
		}
	}
	if len(l.keys) > maxKeys {
		t.Fatalf("%d keys kept, bound %d", len(l.keys), maxKeys)
	}
	c.t = c.t.Add(2 * time.Second)
	if ok, _ := l.Allow("fresh"); !ok || l.keys["fresh"] == nil {
		t.Fatal("spent keys were not pruned to make room")
	}
}

func TestHandler(t *testing.T) {
	var buf bytes.Buffer
	c := &clock{t: time.Unix(1_000_000, 0)}
	h := NewHandler(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}), 10*time.Second)
	h.limiter.now = c.now
	logger := slog.New(h)
	api := logger.With("component", "api") // derived loggers share the limits

	for i := range 100 {
		logger.Error("write failed", "i", i)
		api.Error("write failed", "i", i)
		logger.Warn("http request", "status", 503)
		logger.Info("fine", "i", i)
	}
	ctx := context.Background()
	logger.Log(WithKey(ctx, "POST /api/v1/write 503"), slog.LevelWarn, "http request", "status", 503)
	logger.Log(WithKey(ctx, "POST /api/v1/write 503"), slog.LevelWarn, "http request", "status", 503)
	c.t = c.t.Add(10 * time.Second)
	logger.Error("write failed", "i", 100)

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	count := func(sub string) int {
		n := 0
		for _, l := range lines {
			if strings.Contains(l, sub) {
				n++
			}
		}
		return n
	}
	for _, tc := range []struct {
		sub  string
		want int
	}{
		{"msg=\"write failed\"", 2},
		{"msg=\"write failed\" i=0", 1},
		{"msg=\"write failed\" i=100 suppressed=199", 1},
		{"msg=\"http request\"", 2}, // by message, and once by its own key
		{"msg=fine", 100},           // below warn: untouched
	} {
		if got := count(tc.sub); got != tc.want {
			t.Errorf("%d lines with %s, want %d; log:\n%s", got, tc.sub, tc.want, buf.String())
		}
	}
}
