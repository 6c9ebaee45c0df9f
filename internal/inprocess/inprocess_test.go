package inprocess_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/promgate/promgate/internal/inprocess"
	"github.com/promgate/promgate/internal/panics"
)

func do(ctx context.Context, t *testing.T, h http.HandlerFunc) (*http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://in.process/x", nil)
	if err != nil {
		t.Fatal(err)
	}
	return inprocess.New(h).Do(ctx, cancel, req)
}

// TestDo: small answers come back whole, large ones stream, and a panic
// before or after the answer is committed comes back as a *panics.Error.
func TestDo(t *testing.T) {
	big := strings.Repeat("x", 200<<10)
	tests := []struct {
		name       string
		h          http.HandlerFunc
		status     int
		body       string
		doPanic    bool // Do itself returns the panic
		readPanics bool // the body's Read does
	}{
		{"small", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusTeapot)
			_, _ = io.WriteString(w, `{"a":1}`)
		}, http.StatusTeapot, `{"a":1}`, false, false},
		{"no write", func(w http.ResponseWriter, r *http.Request) {}, http.StatusOK, "", false, false},
		{"large, in pieces", func(w http.ResponseWriter, r *http.Request) {
			for i := 0; i < len(big); i += 1000 {
				_, _ = io.WriteString(w, big[i:min(i+1000, len(big))])
			}
		}, http.StatusOK, big, false, false},
		{"large, one write", func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, big)
		}, http.StatusOK, big, false, false},
		{"panic before anything", func(w http.ResponseWriter, r *http.Request) {
			panic("boom")
		}, 0, "", true, false},
		{"panic after a small write", func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, "partial")
			panic("boom")
		}, 0, "", true, false},
		{"panic after a flush", func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, "partial")
			w.(http.Flusher).Flush()
			panic("boom")
		}, http.StatusOK, "partial", false, true},
		{"panic while streaming", func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, big)
			panic("boom")
		}, http.StatusOK, big, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := do(context.Background(), t, tt.h)
			var pe *panics.Error
			if tt.doPanic {
				if !errors.As(err, &pe) {
					t.Fatalf("Do: %v, want a *panics.Error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if tt.readPanics != errors.As(err, &pe) {
				t.Fatalf("read error %v, want a panic: %v", err, tt.readPanics)
			}
			if resp.StatusCode != tt.status || string(body) != tt.body {
				t.Fatalf("got %d with %d bytes, want %d with %d", resp.StatusCode, len(body), tt.status, len(tt.body))
			}
		})
	}
}

// TestStreams: a large answer's start reaches the reader while the
// handler is still writing, and closing the body stops the handler.
func TestStreams(t *testing.T) {
	ended := make(chan error, 1)
	h := func(w http.ResponseWriter, r *http.Request) {
		chunk := strings.Repeat("y", 32<<10)
		for {
			if _, err := io.WriteString(w, chunk); err != nil {
				ended <- err
				return
			}
		}
	}
	resp, err := do(context.Background(), t, h)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(resp.Body, make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close() // waits for the handler to end
	select {
	case err := <-ended:
		if err == nil {
			t.Fatal("handler's write did not fail after Close")
		}
	default:
		t.Fatal("Close returned before the handler ended")
	}
}

// TestCancel: the caller's cancel reaches the handler, and Do returns.
func TestCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	h := func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-r.Context().Done()
	}
	go func() { <-started; cancel() }()
	errc := make(chan error, 1)
	go func() {
		_, err := do(ctx, t, h)
		errc <- err
	}()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Do: %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Do did not return after the cancel")
	}
}

// TestBuffer: the first status stands and WriteTo sends what was held.
func TestBuffer(t *testing.T) {
	b := inprocess.NewBuffer()
	b.Header().Set("X-A", "1")
	b.WriteHeader(http.StatusAccepted)
	b.WriteHeader(http.StatusInternalServerError)
	_, _ = io.WriteString(b, "hello")
	out := inprocess.NewBuffer()
	b.WriteTo(out)
	if out.Status() != http.StatusAccepted || string(out.Body()) != "hello" || out.Header().Get("X-A") != "1" {
		t.Fatalf("got %d %q %v", out.Status(), out.Body(), out.Header())
	}
	if got := inprocess.NewBuffer().Status(); got != http.StatusOK {
		t.Fatalf("status of an empty buffer: %d", got)
	}
}

// TestReuse: one Handler answers requests from several goroutines at once
// on its reused coroutines, and one left by a panic, a body closed while
// the handler still wrote or a flushed answer serves the next request
// whole.
func TestReuse(t *testing.T) {
	big := strings.Repeat("z", 100<<10)
	h := inprocess.New(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("k") {
		case "panic":
			panic("boom")
		case "endless":
			for {
				if _, err := io.WriteString(w, big); err != nil {
					return
				}
			}
		case "flushed":
			_, _ = io.WriteString(w, "a")
			w.(http.Flusher).Flush()
			_, _ = io.WriteString(w, "b")
		default:
			_, _ = io.WriteString(w, r.URL.Query().Get("k"))
		}
	}))
	get := func(k string) (string, error) {
		ctx, cancel := context.WithCancel(context.Background())
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://in.process/x?k="+k, nil)
		if err != nil {
			cancel()
			return "", err
		}
		resp, err := h.Do(ctx, cancel, req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		if k == "endless" {
			_, err := io.ReadFull(resp.Body, make([]byte, 300<<10))
			return "", err // Close stops the handler
		}
		body, err := io.ReadAll(resp.Body)
		return string(body), err
	}
	const workers, rounds = 4, 50
	errc := make(chan error, workers)
	for g := range workers {
		go func() {
			for i := range rounds {
				var pe *panics.Error
				if _, err := get("panic"); !errors.As(err, &pe) {
					errc <- fmt.Errorf("panic: got %v", err)
					return
				}
				if _, err := get("endless"); err != nil {
					errc <- fmt.Errorf("endless: %w", err)
					return
				}
				if body, err := get("flushed"); err != nil || body != "ab" {
					errc <- fmt.Errorf("flushed: %q, %v", body, err)
					return
				}
				want := fmt.Sprintf("g%di%d", g, i)
				if body, err := get(want); err != nil || body != want {
					errc <- fmt.Errorf("got %q, %v, want %q", body, err, want)
					return
				}
			}
			errc <- nil
		}()
	}
	for range workers {
		select {
		case err := <-errc:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("requests did not end")
		}
	}
}

// TestCloseDuringRead: a Close from another goroutine while a Read waits
// for the handler cancels the handler, and both return.
func TestCloseDuringRead(t *testing.T) {
	waiting := make(chan struct{})
	h := func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "x")
		w.(http.Flusher).Flush()
		close(waiting)
		<-r.Context().Done() // the reader's next Read waits here
		_, _ = io.WriteString(w, "y")
	}
	resp, err := do(context.Background(), t, h)
	if err != nil {
		t.Fatal(err)
	}
	go func() { <-waiting; _ = resp.Body.Close() }()
	done := make(chan error, 1)
	go func() {
		_, err := io.ReadAll(resp.Body)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("read ended cleanly after Close")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Read did not return after Close")
	}
}
