// Package inprocess calls an http.Handler in this process as if over HTTP:
// the handler's answer comes back as an *http.Response to read. Its one
// ResponseWriter, Buffer, holds an answer in memory; the round trip uses
// it for small answers and streams larger ones through a pipe.
package inprocess

import (
	"bytes"
	"context"
	"io"
	"maps"
	"net/http"
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
// small one is then complete before the caller reads it, with no pipe and
// no hand-off per write (the pipe cost about 15 % of a small embedded query).
const holdLimit = 64 << 10

// Handler calls an http.Handler in this process. Its RoundTrip makes it an
// http.RoundTripper too: the self-scrape reads /metrics this way, without
// dialling a listener that may require TLS or a client certificate.
type Handler struct {
	h       http.Handler
	workers workers
}

// New returns a Handler that calls h.
func New(h http.Handler) *Handler { return &Handler{h: h, workers: workers{jobs: make(chan func())}} }

// Do runs the handler on req in a goroutine of its own and returns its
// answer once the handler ends, flushes or writes more than holdLimit, so
// nothing large is held whole. A panic in the handler is recovered there
// and comes back as a *panics.Error: from this call while nothing was
// committed, else from the body's Read, so the reader sees a broken
// answer, never a clean end. req's context must come from ctx; cancel
// cancels it. Closing the body cancels it too and waits for the handler
// to end.
func (c *Handler) Do(ctx context.Context, cancel context.CancelFunc, req *http.Request) (*http.Response, error) {
	w := &writer{Buffer: Buffer{header: http.Header{}}, ready: make(chan struct{})}
	done := make(chan struct{})
	c.workers.run(func() {
		var err error
		defer close(done)
		defer func() { w.finish(err) }()
		defer panics.Capture(&err)
		c.h.ServeHTTP(w, req)
	})
	select {
	case <-w.ready:
	case <-ctx.Done():
		// The handler sees the cancel too; once it commits or ends, let it
		// finish without a reader.
		cancel()
		<-w.ready
		if w.pr != nil {
			_ = w.pr.Close()
		}
		<-done
		return nil, ctx.Err()
	}
	if w.err != nil {
		cancel()
		<-done
		return nil, w.err
	}
	body, length := &handlerBody{cancel: cancel, done: done}, int64(-1)
	if w.pr != nil {
		body.r, body.pr = w.pr, w.pr
	} else {
		body.r, length = bytes.NewReader(w.body.Bytes()), int64(w.body.Len())
	}
	return &http.Response{
		Status:        http.StatusText(w.code),
		StatusCode:    w.code,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        w.sent,
		Body:          body,
		ContentLength: length,
		Request:       req,
	}, nil
}

// writer is the handler's ResponseWriter: a Buffer until the answer is
// committed (the handler ended, flushed or wrote past holdLimit), then a
// pipe to the reader. Only the handler's goroutine touches it until ready
// is closed.
type writer struct {
	Buffer
	ready chan struct{} // closed once code, sent, err and pr are set
	code  int
	sent  http.Header // the header as it was at commit
	err   error       // a panic before anything was committed
	pr    *io.PipeReader
	pw    *io.PipeWriter // nil: the whole answer is in Buffer
}

func (w *writer) Write(p []byte) (int, error) {
	if w.pw == nil && w.body.Len()+len(p) <= holdLimit {
		return w.Buffer.Write(p)
	}
	w.Buffer.WriteHeader(http.StatusOK)
	if err := w.stream(); err != nil {
		return 0, err
	}
	return w.pw.Write(p)
}

// Flush implements http.Flusher: what was held goes to the reader now.
func (w *writer) Flush() { _ = w.stream() }

// stream commits the status and header as they are now, switches to the
// pipe and hands it what was held. Once streaming it does nothing.
func (w *writer) stream() error {
	if w.pw != nil {
		return nil
	}
	w.pr, w.pw = io.Pipe()
	w.code, w.sent = w.Status(), w.header.Clone()
	close(w.ready)
	held := w.body.Bytes()
	w.body = bytes.Buffer{}
	if len(held) == 0 {
		return nil
	}
	_, err := w.pw.Write(held)
	return err
}

// finish ends the answer once the handler returned (err nil) or panicked.
func (w *writer) finish(err error) {
	if w.pw == nil {
		// Not streaming: the handler is done with its header, so it needs
		// no copy; after a panic nothing of the answer is used.
		w.code, w.sent, w.err = w.Status(), w.header, err
		close(w.ready)
		return
	}
	if err != nil {
		_ = w.pw.CloseWithError(err)
		return
	}
	_ = w.pw.Close()
}

// handlerBody is the answer's body: held bytes or the pipe's reader.
type handlerBody struct {
	r      io.Reader
	pr     *io.PipeReader
	cancel context.CancelFunc
	done   chan struct{}
}

func (b *handlerBody) Read(p []byte) (int, error) { return b.r.Read(p) }

func (b *handlerBody) Close() error {
	if b.pr != nil {
		_ = b.pr.Close()
	}
	b.cancel()
	<-b.done
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

// workers runs functions on goroutines kept for reuse. A fresh goroutine
// starts with a small stack, and Prometheus' handler with the PromQL
// engine grew it three or four times per request, copying it each time
// (runtime.copystack was 16 % of the embedded query's CPU); a worker keeps
// its grown stack for the requests that follow. A worker that waits
// longer than workerIdle for one ends.
type workers struct {
	jobs chan func() // unbuffered: a send succeeds only to a waiting worker
}

const workerIdle = 10 * time.Second

func (ws *workers) run(f func()) {
	select {
	case ws.jobs <- f:
	default:
		go ws.work(f)
	}
}

func (ws *workers) work(f func()) {
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	for {
		f() // recovers its own panics
		idle.Reset(workerIdle)
		select {
		case f = <-ws.jobs:
		case <-idle.C:
			return
		}
	}
}
