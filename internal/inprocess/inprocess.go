// Package inprocess calls an http.Handler in this process as if over HTTP:
// the handler's answer comes back as an *http.Response to read. Its one
// ResponseWriter, Buffer, holds an answer in memory; the round trip uses
// it for small answers and hands larger ones to the reader piece by piece
// from a coroutine.
package inprocess

import (
	"bytes"
	"context"
	"errors"
	"io"
	"iter"
	"maps"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/promgate/promgate/internal/panics"
)

// Buffer is an http.ResponseWriter that holds status, header and body in
// memory, for a caller that decides what to do with an answer only once
// it is complete.
type Buffer struct {
	header http.Header
	status int // 0 until written
	body   bytes.Buffer
}

// NewBuffer returns an empty Buffer.
func NewBuffer() *Buffer { return &Buffer{header: http.Header{}} }

// Header implements http.ResponseWriter.
func (b *Buffer) Header() http.Header { return b.header }

// WriteHeader implements http.ResponseWriter; the first status stands.
func (b *Buffer) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}

// Write implements http.ResponseWriter.
func (b *Buffer) Write(p []byte) (int, error) {
	b.WriteHeader(http.StatusOK)
	return b.body.Write(p)
}

// Status is the status written, 200 if none was.
func (b *Buffer) Status() int {
	if b.status == 0 {
		return http.StatusOK
	}
	return b.status
}

// Body is the body written so far.
func (b *Buffer) Body() []byte { return b.body.Bytes() }

// WriteTo sends the held answer to w.
func (b *Buffer) WriteTo(w http.ResponseWriter) {
	maps.Copy(w.Header(), b.header)
	w.WriteHeader(b.Status())
	_, _ = w.Write(b.body.Bytes())
}

// holdLimit is how much of an answer the round trip holds before it
// streams: Prometheus' API handlers write an answer in one call, so a
// small one is then complete before the caller reads it, with no hand-off
// per write.
const holdLimit = 64 << 10

// errClosed is what the handler's Write returns once the caller closed
// the answer's body.
var errClosed = errors.New("inprocess: response body closed")

// Handler calls an http.Handler in this process. Its RoundTrip makes it an
// http.RoundTripper too: the self-scrape reads /metrics this way, without
// dialling a listener that may require TLS or a client certificate.
type Handler struct {
	h     http.Handler
	coros coros
}

// New returns a Handler that calls h.
func New(h http.Handler) *Handler { return &Handler{h: h} }

// Do runs the handler on req and returns its answer once the handler
// ends, flushes or writes more than holdLimit, so nothing large is held
// whole. The handler runs on a coroutine (iter.Pull): the caller's
// goroutine switches to it directly and waits, in Do and in the body's
// Read, so a hand-off wakes no other P, and the coroutine is reused so its
// grown stack is too. A panic in the handler is recovered there and comes
// back as a *panics.Error: from this call while nothing was committed,
// else from the body's Read, so the reader sees a broken answer, never a
// clean end. req's context must come from ctx; cancel cancels it. Closing
// the body cancels it too, makes the handler's further writes fail and
// waits for the handler to end. A coroutine switch under
// runtime.LockOSThread stops the process, so neither the caller nor the
// handler (across a Write or Flush) may hold such a lock; nothing in
// promgate or Prometheus' handlers takes one.
func (c *Handler) Do(ctx context.Context, cancel context.CancelFunc, req *http.Request) (*http.Response, error) {
	call := &call{req: req, w: writer{Buffer: Buffer{header: http.Header{}}}}
	co := c.coros.get(c.h)
	co.call = call
	co.next() // until the handler commits its answer or ends
	if call.ended {
		c.coros.put(co)
	}
	if err := ctx.Err(); err != nil {
		// The handler saw the cancel too; let it finish without a reader.
		cancel()
		if !call.ended {
			(&stream{c: c, co: co, call: call, cancel: cancel}).Close()
		}
		return nil, err
	}
	w := &call.w
	var body io.ReadCloser
	length := int64(-1)
	if call.ended {
		if call.err != nil {
			cancel()
			return nil, call.err
		}
		// Not streaming: the handler is done with its header, so it needs
		// no copy.
		w.code, w.sent = w.Status(), w.header
		call.held.Reset(w.body.Bytes())
		call.held.cancel = cancel
		body, length = &call.held, int64(w.body.Len())
	} else {
		body = &stream{c: c, co: co, call: call, cancel: cancel}
	}
	call.resp = http.Response{
		Status:        http.StatusText(w.code),
		StatusCode:    w.code,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        w.sent,
		Body:          body,
		ContentLength: length,
		Request:       req,
	}
	return &call.resp, nil
}

// call is one request's state. The caller and the coroutine never run at
// the same time: each switch hands it over whole.
type call struct {
	req   *http.Request
	w     writer
	ended bool  // the handler returned or panicked
	err   error // its panic
	// The answer and a held answer's body live here too, so a request
	// costs one allocation for all of its state.
	resp http.Response
	held heldBody
}

func (c *call) serve(h http.Handler) {
	defer func() { c.ended = true }()
	defer panics.Capture(&c.err)
	h.ServeHTTP(&c.w, c.req)
}

// writer is the handler's ResponseWriter: a Buffer until the answer is
// committed (the handler flushed or wrote past holdLimit), then each
// write is handed to the reader, which reads it before the handler goes
// on, as through a pipe.
type writer struct {
	Buffer
	yield     func(struct{}) bool // back to the reader
	committed bool
	code      int
	sent      http.Header // the header as it was at commit
	chunk     []byte      // handed to the reader, not yet read
	closed    bool        // the reader closed the body
}

func (w *writer) Write(p []byte) (int, error) {
	if !w.committed && w.body.Len()+len(p) <= holdLimit {
		return w.Buffer.Write(p)
	}
	w.Buffer.WriteHeader(http.StatusOK)
	if err := w.commit(); err != nil {
		return 0, err
	}
	if err := w.hand(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Flush implements http.Flusher: what was held goes to the reader now.
func (w *writer) Flush() { _ = w.commit() }

// commit fixes the status and header as they are now and hands over what
// was held, if only to let Do return. Once committed it does nothing.
func (w *writer) commit() error {
	if w.committed {
		return nil
	}
	w.committed = true
	w.code, w.sent = w.Status(), w.header.Clone()
	return w.hand(w.body.Bytes())
}

// hand gives p to the reader and returns once it was read, or with
// errClosed once the body is closed.
func (w *writer) hand(p []byte) error {
	if w.closed {
		return errClosed
	}
	w.chunk = p
	if !w.yield(struct{}{}) || w.closed {
		w.closed = true
		return errClosed
	}
	return nil
}

// heldBody is a whole answer's body; the handler has ended.
type heldBody struct {
	bytes.Reader
	cancel context.CancelFunc
}

func (b *heldBody) Close() error {
	b.cancel()
	return nil
}

// stream is a committed answer's body: each Read takes what the handler
// handed over, resuming it for more. mu keeps a Close from another
// goroutine off the coroutine while a Read runs it; closing tells that
// Read to stop at once, as a pipe's would.
type stream struct {
	mu      sync.Mutex
	c       *Handler
	co      *coro // nil once the handler ended and the coroutine went back
	call    *call
	cancel  context.CancelFunc
	closing atomic.Bool
	closed  bool
}

func (s *stream) Read(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := &s.call.w
	for {
		switch {
		case s.closing.Load():
			return 0, errClosed
		case len(w.chunk) > 0:
			n := copy(p, w.chunk)
			w.chunk = w.chunk[n:]
			return n, nil
		case s.co == nil && s.call.err != nil:
			return 0, s.call.err
		case s.co == nil:
			return 0, io.EOF
		case len(p) == 0:
			return 0, nil
		}
		s.resume()
	}
}

// resume runs the handler until it hands over more or ends.
func (s *stream) resume() {
	s.call.w.chunk = nil
	s.co.next()
	if s.call.ended {
		s.c.coros.put(s.co)
		s.co = nil
	}
}

func (s *stream) Close() error {
	s.closing.Store(true)
	s.cancel() // a Read running the handler returns sooner
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.co != nil {
		s.call.w.closed = true
		s.resume() // the handler's writes fail from here on; wait for its end
	}
	return nil
}

// RoundTrip implements http.RoundTripper: req is answered by the handler
// as if it came from loopback.
func (c *Handler) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancel(req.Context())
	in := req.Clone(ctx)
	in.RequestURI = req.URL.RequestURI()
	in.Host = req.URL.Host
	in.RemoteAddr = "127.0.0.1:0" // this process: as local as loopback
	in.Proto, in.ProtoMajor, in.ProtoMinor = "HTTP/1.1", 1, 1
	if in.Body == nil {
		in.Body = http.NoBody
	}
	return c.Do(ctx, cancel, in)
}

// coro is a coroutine that serves one call after another: each next runs
// the handler of call until it hands over part of its answer or ends.
type coro struct {
	next func() (struct{}, bool)
	stop func()
	call *call
	idle time.Time // since when it waits in the pool
}

func newCoro(h http.Handler) *coro {
	co := &coro{}
	co.next, co.stop = iter.Pull(func(yield func(struct{}) bool) {
		for {
			co.call.w.yield = yield
			co.call.serve(h)
			co.call = nil
			if !yield(struct{}{}) { // ended; wait for the next call
				return
			}
		}
	})
	return co
}

// coros keeps idle coroutines for reuse. A fresh goroutine starts with a
// small stack, and Prometheus' handler with the PromQL engine grew it
// three or four times per request, copying it each time
// (runtime.copystack was 16 % of the embedded query's CPU); a reused
// coroutine keeps its grown stack. One idle longer than coroIdle ends, and
// at most maxIdle wait.
type coros struct {
	mu    sync.Mutex
	free  []*coro // oldest first
	timer *time.Timer
}

const (
	coroIdle = 10 * time.Second
	maxIdle  = 64
)

func (cs *coros) get(h http.Handler) *coro {
	cs.mu.Lock()
	if n := len(cs.free); n > 0 {
		co := cs.free[n-1]
		cs.free[n-1] = nil
		cs.free = cs.free[:n-1]
		cs.mu.Unlock()
		return co
	}
	cs.mu.Unlock()
	return newCoro(h)
}

func (cs *coros) put(co *coro) {
	co.idle = time.Now()
	cs.mu.Lock()
	if len(cs.free) == maxIdle {
		cs.mu.Unlock()
		co.stop()
		return
	}
	cs.free = append(cs.free, co)
	if cs.timer == nil {
		cs.timer = time.AfterFunc(coroIdle, cs.reap)
	}
	cs.mu.Unlock()
}

// reap ends the coroutines idle longer than coroIdle.
func (cs *coros) reap() {
	cs.mu.Lock()
	now, n := time.Now(), 0
	for n < len(cs.free) && now.Sub(cs.free[n].idle) >= coroIdle {
		n++
	}
	old := make([]*coro, n)
	copy(old, cs.free)
	cs.free = append(cs.free[:0], cs.free[n:]...)
	if len(cs.free) > 0 {
		cs.timer.Reset(coroIdle - now.Sub(cs.free[0].idle))
	} else {
		cs.timer = nil
	}
	cs.mu.Unlock()
	for _, co := range old {
		co.stop()
	}
}
