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
	"github.com/promgate/promgate/internal/promapi"
)

// serveCSV answers query and query_range as CSV, for any data source: the
// data source's JSON answer is streamed through a pipe into the same
// converter the CLI uses, so both produce identical bytes and the result is
// never held whole.
func (s *Server) serveCSV(w http.ResponseWriter, r *http.Request, ds datasource.DataSource, req *promapi.Request) {
	ctx, cancel := context.WithCancel(r.Context())
	pw := newPipeResponse()
	served := make(chan struct{})
	go func() {
		defer close(served)
		defer pw.finish()
		ds.Serve(pw, r.WithContext(ctx), req)
	}()
	// Return only once the data source is done: the caller's query slot is
	// given back when this returns, and a caller that hangs up must not get
	// it back while the query still runs (the embedded engine does not stop
	// at once). Closing the reader first makes a writer blocked on the pipe
	// return.
	defer func() {
		cancel()
		_ = pw.reader.Close()
		<-served
	}()
	select {
	case <-pw.headerReady:
	case <-ctx.Done():
		return
	}
	body := io.ReadCloser(pw.reader)
	defer body.Close()
	if pw.status != http.StatusOK {
		// Errors stay in Prometheus' JSON format.
		for _, k := range []string{"Content-Type", "Content-Encoding"} {
			if v := pw.header.Get(k); v != "" {
				w.Header().Set(k, v)
			}
		}
		w.WriteHeader(pw.status)
		_, _ = io.Copy(w, body)
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
	w.Header().Set("Content-Type", export.CSV.ContentType())
	w.Header().Set("Content-Disposition", `attachment; filename="query.csv"`)
	exp := export.Exporter{Options: export.Options{Format: export.CSV}}
	err := exp.Convert(ctx, w, body, req.Endpoint == promapi.EndpointQueryRange)
	if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, syscall.EPIPE) {
		// Rows may already be out: the status is sent, so say it in the log.
		s.opts.Logger.Warn("CSV conversion failed", "data_source", ds.Info().Name, "err", err)
	}
}

// pipeResponse is an http.ResponseWriter whose body is read from a pipe,
// with the status and headers available once the writer commits them.
type pipeResponse struct {
	header      http.Header
	status      int
	headerReady chan struct{}
	once        sync.Once
	reader      *io.PipeReader
	writer      *io.PipeWriter
}

func newPipeResponse() *pipeResponse {
	pr, pw := io.Pipe()
	return &pipeResponse{header: http.Header{}, headerReady: make(chan struct{}), reader: pr, writer: pw}
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

// finish ends the body; a writer that wrote nothing still commits a status.
func (p *pipeResponse) finish() {
	p.WriteHeader(http.StatusOK)
	_ = p.writer.Close()
}
