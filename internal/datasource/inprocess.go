package datasource

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"sync"

	"github.com/promgate/promgate/internal/panics"
	"github.com/promgate/promgate/internal/promapi"
)

// InProcess is a data source answered by an http.Handler in this process:
// the embedded store's Prometheus API handlers.
type InProcess struct {
	info Info
	h    http.Handler
}

// NewInProcess returns a data source that answers through h. h sees a
// fresh request built from the canonical one, under the path /api/v1/...
func NewInProcess(info Info, h http.Handler) *InProcess { return &InProcess{info: info, h: h} }

// Info implements DataSource.
func (d *InProcess) Info() Info { return d.info }

// Query implements DataSource.
func (d *InProcess) Query(ctx context.Context, req *promapi.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancel(ctx)
	hr, err := req.NewHTTPRequest(ctx, &url.URL{Path: "/"})
	if err != nil {
		cancel()
		return nil, &promapi.Error{Status: http.StatusInternalServerError, Type: promapi.ErrInternal, Msg: err.Error()}
	}
	return roundTripHandler(ctx, cancel, d.h, hr)
}

// roundTripHandler is the one place a handler's answer becomes a response
// to read: the handler writes into a pipe in its own goroutine and the
// response is returned once it commits its status, so nothing is held
// whole. A panic in the handler is recovered there and comes back as a
// *panics.Error: from this call while nothing was committed, else from the
// body's Read, so the reader sees a broken answer, never a clean end.
// Closing the body cancels the handler's context (ctx, hr's, which cancel
// cancels) and waits for it to end.
func roundTripHandler(ctx context.Context, cancel context.CancelFunc, h http.Handler, hr *http.Request) (*http.Response, error) {
	pr, pw := io.Pipe()
	w := &pipeWriter{header: http.Header{}, pw: pw, ready: make(chan struct{})}
	body := &handlerBody{pr: pr, cancel: cancel, done: make(chan struct{})}
	go func() {
		var err error
		defer close(body.done)
		defer func() { w.finish(err) }()
		defer panics.Capture(&err)
		h.ServeHTTP(w, hr)
	}()
	select {
	case <-w.ready:
	case <-ctx.Done():
		_ = body.Close()
		return nil, ctx.Err()
	}
	if w.err != nil {
		_ = body.Close()
		return nil, w.err
	}
	return &http.Response{
		Status:        http.StatusText(w.status),
		StatusCode:    w.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        w.committed,
		Body:          body,
		ContentLength: -1,
		Request:       hr,
	}, nil
}

// pipeWriter is the handler's ResponseWriter: the header as it was when
// the status was committed, and a body written into a pipe.
type pipeWriter struct {
	header    http.Header
	pw        *io.PipeWriter
	once      sync.Once
	ready     chan struct{} // closed once status, committed and err are set
	status    int
	committed http.Header
	err       error // a panic before anything was committed
}

func (p *pipeWriter) Header() http.Header { return p.header }

func (p *pipeWriter) WriteHeader(code int) {
	p.once.Do(func() {
		p.status, p.committed = code, p.header.Clone()
		close(p.ready)
	})
}

func (p *pipeWriter) Write(b []byte) (int, error) {
	p.WriteHeader(http.StatusOK)
	return p.pw.Write(b)
}

// Flush implements http.Flusher: the pipe holds nothing back.
func (p *pipeWriter) Flush() {}

// finish ends the body once the handler returned (err nil) or panicked.
func (p *pipeWriter) finish(err error) {
	p.once.Do(func() { // nothing committed yet
		p.status, p.committed, p.err = http.StatusOK, p.header.Clone(), err
		close(p.ready)
	})
	if err != nil {
		_ = p.pw.CloseWithError(err)
		return
	}
	_ = p.pw.Close()
}

type handlerBody struct {
	pr     *io.PipeReader
	cancel context.CancelFunc
	done   chan struct{}
}

func (b *handlerBody) Read(p []byte) (int, error) { return b.pr.Read(p) }

func (b *handlerBody) Close() error {
	_ = b.pr.Close()
	b.cancel()
	<-b.done
	return nil
}

// HandlerTransport is an http.RoundTripper answered by h in this process,
// through the same recovered pipe as InProcess: the self-scrape reads
// /metrics this way, without dialling a listener that may require TLS or a
// client certificate.
func HandlerTransport(h http.Handler) http.RoundTripper { return handlerTransport{h} }

type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancel(req.Context())
	in := req.Clone(ctx)
	in.RequestURI = req.URL.RequestURI()
	in.Host = req.URL.Host
	in.RemoteAddr = "127.0.0.1:0" // this process: as local as loopback
	in.Proto, in.ProtoMajor, in.ProtoMinor = "HTTP/1.1", 1, 1
	if in.Body == nil {
		in.Body = http.NoBody
	}
	return roundTripHandler(ctx, cancel, t.h, in)
}
