package server

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/promgate/promgate/internal/datasource"
	"github.com/promgate/promgate/internal/panics"
	"github.com/promgate/promgate/internal/promapi"
)

// relayBufSize is the write size when relaying a long answer: few chunks
// and syscalls for big ones.
const relayBufSize = 128 << 10

var relayBufs = sync.Pool{New: func() any { b := make([]byte, relayBufSize); return &b }}

// relay sends a data source's answer to the caller as it is read. An
// answer that breaks after its header ends the response as a broken
// transfer, never a clean truncated body.
func (s *Server) relay(w http.ResponseWriter, r *http.Request, resp *http.Response) {
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	bufp := relayBufs.Get().(*[]byte)
	defer relayBufs.Put(bufp)
	buf := *bufp
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return // the caller went away
			}
		}
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			s.broken(r, err)
			return
		}
	}
}

// broken ends a response whose header is out after its data source's
// answer failed with err: a panic there becomes this request's (ServeHTTP
// logs and counts it), anything else a broken transfer unless the caller
// already left.
func (s *Server) broken(r *http.Request, err error) {
	var pe *panics.Error
	if errors.As(err, &pe) {
		panic(pe)
	}
	if r.Context().Err() != nil {
		return
	}
	panic(http.ErrAbortHandler)
}

// dataSourceFailed is the one place a data source's failure to answer
// becomes the caller's answer: its own Prometheus-format error (which
// names the data source, never its secrets), a panic of code in this
// process raised again for ServeHTTP's recovery, or a 502.
func (s *Server) dataSourceFailed(w http.ResponseWriter, r *http.Request, ds datasource.DataSource, err error) {
	var pe *panics.Error
	if errors.As(err, &pe) {
		panic(pe)
	}
	var perr *promapi.Error
	if errors.As(err, &perr) {
		perr.Write(w)
		return
	}
	if r.Context().Err() != nil {
		promapi.WriteError(w, 499, promapi.ErrCanceled, "request canceled by the caller")
		return
	}
	s.opts.Logger.WarnContext(r.Context(), "data source failed", "datasource", ds.Info().Name, "id", ds.Info().ID, "err", err)
	promapi.WriteError(w, http.StatusBadGateway, promapi.ErrUnavailable, fmt.Sprintf("data source %q failed to answer", ds.Info().Name))
}
