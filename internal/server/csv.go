package server

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"syscall"

	"github.com/promgate/promgate/internal/datasource"
	"github.com/promgate/promgate/internal/export"
	"github.com/promgate/promgate/internal/panics"
	"github.com/promgate/promgate/internal/promapi"
)

// serveCSV answers query and query_range as CSV, for any data source: the
// data source's JSON answer is read as it comes into the same converter
// the CLI uses, so both produce identical bytes and the result is never
// held whole. An answer that fails before any row is out becomes a
// Prometheus error, after that a broken transfer.
func (s *Server) serveCSV(w http.ResponseWriter, r *http.Request, ds datasource.DataSource, req *promapi.Request) {
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	resp, err := ds.Query(ctx, req)
	if err != nil {
		s.dataSourceFailed(w, r, ds, err)
		return
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		s.relay(w, r, resp) // errors stay in Prometheus' JSON format
		return
	}
	src := &readErr{r: resp.Body}
	body := io.ReadCloser(struct {
		io.Reader
		io.Closer
	}{src, resp.Body})
	if resp.Header.Get("Content-Encoding") == "gzip" {
		gz, err := gzip.NewReader(src)
		if err != nil {
			promapi.WriteError(w, http.StatusBadGateway, promapi.ErrUnavailable, fmt.Sprintf("data source %q sent a bad gzip body", ds.Info().Name))
			return
		}
		body = struct {
			io.Reader
			io.Closer
		}{gz, resp.Body}
	}
	out := &csvWriter{w: w}
	// Label columns are bounded (export.DefaultMaxColumns): every row
	// repeats them all, so one writer's label names must not multiply
	// every reader's CSV.
	exp := export.Exporter{Options: export.Options{Format: export.CSV, MaxColumns: export.DefaultMaxColumns}}
	err = exp.Convert(ctx, out, body, req.Endpoint == promapi.EndpointQueryRange)
	if err == nil || r.Context().Err() != nil || errors.Is(err, syscall.EPIPE) {
		return // done, or the caller went away
	}
	var pe *panics.Error
	if errors.As(err, &pe) || errors.As(src.err, &pe) {
		panic(pe) // the converter or the data source panicked: ServeHTTP answers and reports it
	}
	var ce *export.ColumnsError
	if errors.As(err, &ce) && !out.started {
		// The answer is fine, only its CSV shape is not: 422 execution, as
		// Prometheus answers a query whose result is too large to serve.
		promapi.WriteError(w, http.StatusUnprocessableEntity, promapi.ErrExecution,
			ce.Error()+"; aggregate the labels away (sum by (...)) or ask for JSON")
		return
	}
	if !out.started {
		var perr *promapi.Error
		if errors.As(src.err, &perr) {
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

// readErr keeps the first error reading a data source's answer other than
// its end, to report what the data source said went wrong.
type readErr struct {
	r   io.Reader
	err error
}

func (e *readErr) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) && e.err == nil {
		e.err = err
	}
	return n, err
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
