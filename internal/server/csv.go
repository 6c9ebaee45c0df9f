package server

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"syscall"

	"github.com/promgate/promgate/internal/datasource"
	"github.com/promgate/promgate/internal/export"
	"github.com/promgate/promgate/internal/panics"
	"github.com/promgate/promgate/internal/promapi"
)

// serveCSV answers query and query_range as CSV, for any data source: the
// data source's JSON answer is streamed through a pipe into the same
// converter the CLI uses, so both produce identical bytes and the result is
// never held whole. The data source runs in its own goroutine, so a panic
// there is captured and raised again here, where ServeHTTP's recovery turns
// it into this request's error; an answer cut short becomes a Prometheus
// error while no row is out, and a broken transfer after.
func (s *Server) serveCSV(w http.ResponseWriter, r *http.Request, ds datasource.DataSource, req *promapi.Request) {
	ctx, cancel := context.WithCancel(r.Context())
	pw := newPipeResponse()
	go func() {
		var err error
		defer func() { pw.finish(err) }()
		defer panics.Capture(&err)
		ds.Serve(pw, r.WithContext(ctx), req)
	}()
	defer func() {
		// Never leave the data source running behind us (the caller's query
		// slot is given back when this returns, and the embedded engine does
		// not stop at once), and make its panic this request's. Closing the
		// reader first makes a writer blocked on the pipe return.
		cancel()
		_ = pw.reader.Close()
		<-pw.done
		if pe := pw.panicked(); pe != nil {
			panic(pe)
		}
	}()
	select {
	case <-pw.headerReady:
	case <-ctx.Done():
		return
	}
	if pw.status == 0 {
		return // it panicked before answering: the deferred panic answers
	}
	body := io.ReadCloser(pw.reader)
	if pw.status != http.StatusOK {
		// Errors stay in Prometheus' JSON format.
		for _, k := range []string{"Content-Type", "Content-Encoding"} {
			if v := pw.header.Get(k); v != "" {
				w.Header().Set(k, v)
			}
		}
		w.WriteHeader(pw.status)
		if _, err := io.Copy(w, body); err != nil && r.Context().Err() == nil {
			panic(http.ErrAbortHandler) // cut short: never a clean truncated error body
		}
		return
	}
	if pw.header.Get("Content-Encoding") == "gzip" {
		gz, err := gzip.NewReader(body)
		if err != nil {
			promapi.WriteError(w, http.StatusBadGateway, promapi.ErrUnavailable, fmt.Sprintf("data source %q sent a bad gzip body", ds.Info().Name))
			return
		}
		body = gz
	}
	out := &csvWriter{w: w}
	exp := export.Exporter{Options: export.Options{Format: export.CSV}}
	err := exp.Convert(ctx, out, body, req.Endpoint == promapi.EndpointQueryRange)
	if err == nil || r.Context().Err() != nil || errors.Is(err, syscall.EPIPE) {
		return // done, or the caller went away
	}
	var pe *panics.Error
	if errors.As(err, &pe) {
		panic(pe) // the converter's goroutine panicked: ServeHTTP answers and reports it
	}
	// Let the data source finish so what it reported is known.
	cancel()
	_ = pw.reader.Close()
	<-pw.done
	if pw.panicked() != nil {
		return // the deferred panic answers
	}
	if !out.started {
		var perr *promapi.Error
		if errors.As(pw.abortErr, &perr) {
			perr.Write(w)
		} else {
			promapi.WriteError(w, http.StatusBadGateway, promapi.ErrUnavailable,
				fmt.Sprintf("data source %q sent an answer that could not be converted to CSV: %v", ds.Info().Name, err))
		}
		return
	}
	// Rows are out: the status is sent, so the only honest signal left is a
	// broken response, which every HTTP client reports as an error.
	s.opts.Logger.Warn("CSV answer cut short; aborting the response", "data_source", ds.Info().Name, "err", err)
	panic(http.ErrAbortHandler)
}

// csvWriter sets the CSV headers with the first row, so that an error
// before any row can still be answered in Prometheus' JSON format.
type csvWriter struct {
	w       http.ResponseWriter
	started bool
}

func (c *csvWriter) Write(p []byte) (int, error) {
	if !c.started {
		c.started = true
		c.w.Header().Set("Content-Type", export.CSV.ContentType())
		c.w.Header().Set("Content-Disposition", `attachment; filename="query.csv"`)
	}
	return c.w.Write(p)
}

// pipeResponse is an http.ResponseWriter whose body is read from a pipe,
// with the status and headers available once the writer commits them.
// Status 0 means the writer ended (by a panic) without answering.
type pipeResponse struct {
	header      http.Header
	status      int
	headerReady chan struct{}
	once        sync.Once
	reader      *io.PipeReader
	writer      *io.PipeWriter
	// done is closed when the writer's goroutine has ended; err (a
	// recovered panic) and abortErr may be read after it.
	done     chan struct{}
	err      error
	abortErr error
}

func newPipeResponse() *pipeResponse {
	pr, pw := io.Pipe()
	return &pipeResponse{header: http.Header{}, headerReady: make(chan struct{}), done: make(chan struct{}), reader: pr, writer: pw}
}

func (p *pipeResponse) Header() http.Header { return p.header }

func (p *pipeResponse) WriteHeader(code int) {
	p.once.Do(func() {
		p.status = code
		close(p.headerReady)
	})
}

func (p *pipeResponse) Write(b []byte) (int, error) {
	p.WriteHeader(http.StatusOK)
	return p.writer.Write(b)
}

// Abort implements datasource.Aborter: the answer broke after its header,
// so the reader sees err instead of a clean end.
func (p *pipeResponse) Abort(err error) {
	p.abortErr = err
	_ = p.writer.CloseWithError(err)
}

// finish ends the body. A writer that wrote nothing still commits a status:
// 200 when it returned, 0 when it panicked (err).
func (p *pipeResponse) finish(err error) {
	p.err = err
	status := http.StatusOK
	if err != nil {
		status = 0
		_ = p.writer.CloseWithError(err)
	}
	p.WriteHeader(status)
	_ = p.writer.Close()
	close(p.done)
}

// panicked returns the writer's recovered panic, once done is closed.
func (p *pipeResponse) panicked() *panics.Error {
	var pe *panics.Error
	if errors.As(p.err, &pe) {
		return pe
	}
	return nil
}
