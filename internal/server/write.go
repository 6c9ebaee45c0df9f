package server

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/klauspost/compress/snappy"
	remoteapi "github.com/prometheus/client_golang/exp/api/remote"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/promgate/promgate/internal/access"
	"github.com/promgate/promgate/internal/datasource"
	"github.com/promgate/promgate/internal/enforce"
	"github.com/promgate/promgate/internal/promapi"
)

// maxDecodedWriteBytes bounds a remote_write body once decompressed: the
// bound of Prometheus' own receiver, checked here before anything of that
// size is allocated.
const maxDecodedWriteBytes = 32 << 20

// decideWrite decides, once, how a remote_write body is read: snappy, and
// which message it carries. That decision is used both to check the series against a label
// policy and, as a Content-Type built here, by the receiver: no two parsers
// ever read the caller's header. Prometheus' receiver splits on ";" and
// compares "proto=" literally, RFC 9110 trims spaces and ignores case; only
// a header both read the same way is accepted, anything else is refused
// (415) rather than guessed.
func decideWrite(h http.Header) (remoteapi.WriteMessageType, error) {
	refuse := func(format string, args ...any) error {
		return &promapi.Error{Status: http.StatusUnsupportedMediaType, Type: promapi.ErrBadData,
			Msg: fmt.Sprintf(format, args...) + "; send Content-Type application/x-protobuf (remote_write 1.0) or application/x-protobuf;proto=io.prometheus.write.v2.Request (2.0)"}
	}
	if enc := h.Values("Content-Encoding"); len(enc) > 1 || len(enc) == 1 && enc[0] != "" && enc[0] != "snappy" {
		return "", refuse("remote_write bodies are snappy-compressed, not %q", strings.Join(enc, ", "))
	}
	cts := h.Values("Content-Type")
	if len(cts) > 1 {
		return "", refuse("more than one Content-Type header")
	}
	if len(cts) == 0 || strings.TrimSpace(cts[0]) == "" {
		return remoteapi.WriteV1MessageType, nil // as Prometheus' receiver and the 1.0 spec's senders
	}
	ct := cts[0]
	literal, err := remoteapi.ParseProtoMsg(ct)
	if err != nil {
		return "", refuse("unsupported Content-Type %q", ct)
	}
	mediaType, params, err := mime.ParseMediaType(ct)
	if err != nil || mediaType != "application/x-protobuf" {
		return "", refuse("malformed Content-Type %q", ct)
	}
	parsed := remoteapi.WriteV1MessageType
	if p, ok := params["proto"]; ok {
		parsed = remoteapi.WriteMessageType(p)
	}
	if parsed != literal {
		return "", refuse("ambiguous Content-Type %q: its proto parameter reads as %q or %q depending on the parser", ct, literal, parsed)
	}
	return literal, nil
}

// canonicalContentType is the header the receiver is given for a decided
// message type.
func canonicalContentType(t remoteapi.WriteMessageType) string {
	return "application/x-protobuf;proto=" + string(t)
}

// checkWriteBody reads, from a snappy body's header, the length it decodes
// to and refuses it over maxDecodedWriteBytes, before anything of that size
// is allocated.
func checkWriteBody(body []byte) error {
	n, err := snappy.DecodedLen(body)
	if err != nil {
		return &promapi.Error{Status: http.StatusBadRequest, Type: promapi.ErrBadData, Msg: "remote_write body is not snappy-compressed: " + err.Error()}
	}
	if n > maxDecodedWriteBytes {
		return &promapi.Error{Status: http.StatusRequestEntityTooLarge, Type: promapi.ErrBadData,
			Msg: fmt.Sprintf("remote_write body decodes to %d bytes, more than the limit of %d (32 MiB)", n, maxDecodedWriteBytes)}
	}
	return nil
}

// seriesOutside reads the labels of every series of a remote_write body
// (checked by checkWriteBody) as a message of type t and counts the series
// the policy does not allow. A series with a label name twice counts as
// outside: which value would be checked is not defined.
// bufs holds decompression buffers (*[]byte) to reuse; nil: none.
func seriesOutside(t remoteapi.WriteMessageType, body []byte, policy *enforce.Policy, bufs *sync.Pool) (int, error) {
	bufp := new([]byte)
	if bufs != nil {
		if b, ok := bufs.Get().(*[]byte); ok {
			bufp = b
		}
		defer func() {
			if cap(*bufp) <= maxPooledDecode {
				bufs.Put(bufp)
			}
		}()
	}
	raw, err := snappy.Decode((*bufp)[:cap(*bufp)], body)
	if err != nil {
		return 0, fmt.Errorf("remote_write body is not snappy-compressed: %w", err)
	}
	*bufp = raw[:0] // keep the grown buffer
	outside := 0
	w := labelWalker{check: func(lbls labels.Labels) {
		if _, dup := lbls.HasDuplicateLabelNames(); dup || !policy.Allows(lbls) {
			outside++
		}
	}}
	switch t {
	case remoteapi.WriteV1MessageType:
		if err := w.walkV1(raw); err != nil {
			return 0, fmt.Errorf("decode remote_write 1.0 body: %w", err)
		}
	case remoteapi.WriteV2MessageType:
		if err := w.walkV2(raw); err != nil {
			return 0, fmt.Errorf("decode remote_write 2.0 body: %w", err)
		}
	default:
		return 0, fmt.Errorf("unsupported remote_write message %q", t)
	}
	return outside, nil
}

// maxPooledDecode: decompression buffers grown past it are left to the
// garbage collector rather than kept.
const maxPooledDecode = 4 << 20

// writeVersion is X-Prometheus-Remote-Write-Version for a message type, as
// Prometheus' senders set it.
func writeVersion(t remoteapi.WriteMessageType) string {
	if t == remoteapi.WriteV2MessageType {
		return "2.0.0"
	}
	return "0.1.0"
}

// serveWrite is POST /api/v1/write: the embedded store.
func (s *Server) serveWrite(w http.ResponseWriter, r *http.Request) {
	s.write(w, r, func() (datasource.DataSource, error) {
		return s.opts.Registry.Lookup(r.Context(), strconv.FormatInt(datasource.EmbeddedID, 10), false)
	})
}

// serveDataSourceWrite is POST ProxyPrefix{id}/api/v1/write (or
// uid/{uid}/...): any writable data source, the embedded one included,
// so one URL shape serves both.
func (s *Server) serveDataSourceWrite(w http.ResponseWriter, r *http.Request) {
	ident, byUID := r.PathValue("id"), false
	if uid := r.PathValue("uid"); uid != "" {
		ident, byUID = uid, true
	}
	s.write(w, r, func() (datasource.DataSource, error) {
		return s.opts.Registry.Lookup(r.Context(), ident, byUID)
	})
}

// write is the one remote_write path: who may write where, which message
// the body is (decided once from the Content-Type), bounds, the label
// policy, then the data source. The body's bytes are what is checked and
// what is sent; only the Content-Type promgate decided goes with them.
func (s *Server) write(w http.ResponseWriter, r *http.Request, lookup func() (datasource.DataSource, error)) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		promapi.WriteError(w, http.StatusMethodNotAllowed, promapi.ErrBadData, "remote_write takes POST")
		return
	}
	p := access.PrincipalFrom(r.Context())
	if !p.Can(access.ActionWrite) {
		promapi.WriteError(w, http.StatusForbidden, promapi.ErrForbidden, "this credential may not write: it needs the write scope and role EDITOR or OWNER")
		return
	}
	ds, err := lookup()
	if err != nil {
		if errors.Is(err, datasource.ErrNotFound) {
			promapi.WriteError(w, http.StatusNotFound, promapi.ErrNotFound, "data source not found: GET /api-server/v1/grafana/api/datasources lists the ones you may use")
			return
		}
		if !promapi.WriteServerError(w, err, "data source lookup failed") {
			s.opts.Logger.Error("data source lookup failed", "err", err)
		}
		return
	}
	info := ds.Info()
	if !p.MayUseDataSource(info.ID) {
		msg := "this credential may not use this data source"
		if info.Embedded {
			msg = "this credential may not use the embedded data source"
		}
		promapi.WriteError(w, http.StatusForbidden, promapi.ErrForbidden, msg)
		return
	}
	writer, remote := ds.(datasource.Writer)
	if !info.Embedded && (!remote || !info.Writable) {
		promapi.WriteError(w, http.StatusNotFound, promapi.ErrNotFound,
			fmt.Sprintf("data source %q takes no remote_write: an OWNER can give it a remote_write URL", info.Name))
		return
	}
	policy, err := p.Policy()
	if err != nil {
		promapi.WriteError(w, http.StatusForbidden, promapi.ErrForbidden, "credential label selector is invalid")
		return
	}
	msgType, err := decideWrite(r.Header)
	if err != nil {
		promapi.WriteRequestError(w, err)
		return
	}
	body, err := readWriteBody(r, s.opts.MaxWriteBytes)
	if err != nil {
		promapi.WriteRequestError(w, err)
		return
	}
	if err := checkWriteBody(body); err != nil {
		promapi.WriteRequestError(w, err)
		return
	}
	if policy != nil {
		outside, err := seriesOutside(msgType, body, policy, &s.decodeBufs)
		if err != nil {
			promapi.WriteError(w, http.StatusBadRequest, promapi.ErrBadData, err.Error())
			return
		}
		if outside > 0 {
			promapi.WriteError(w, http.StatusForbidden, promapi.ErrForbidden,
				fmt.Sprintf("%d series fall outside this credential's selector %s; nothing was written", outside, policy))
			return
		}
	}
	if info.Embedded {
		// Prometheus' receiver reads exactly what was decided and checked,
		// at its own path whichever path it came in on.
		er := r.Clone(r.Context())
		er.URL = &url.URL{Path: "/api/v1/write"}
		er.Header.Set("Content-Type", canonicalContentType(msgType))
		er.Header.Set("Content-Encoding", "snappy")
		er.Body = io.NopCloser(bytes.NewReader(body))
		er.ContentLength = int64(len(body))
		s.opts.Write.ServeHTTP(w, er)
		return
	}
	ans, err := writer.Write(r.Context(), &datasource.WriteRequest{
		ContentType: canonicalContentType(msgType), Version: writeVersion(msgType), Body: body,
	})
	if err != nil {
		var perr *promapi.Error
		if errors.As(err, &perr) && perr.Status >= 500 {
			w.Header().Set("Retry-After", "1") // unreachable or slow: the sender retries
		}
		s.dataSourceFailed(w, r, ds, err)
		return
	}
	for k, v := range ans.Header {
		w.Header()[k] = v
	}
	if ans.Status/100 == 2 {
		w.WriteHeader(ans.Status)
		return
	}
	promapi.WriteError(w, ans.Status, writeErrorType(ans.Status), ans.Msg)
}

// readWriteBody reads a remote_write body whole (the receivers and the
// policy check need it so), refusing it past limit bytes. A declared
// length is read into one buffer of that size.
func readWriteBody(r *http.Request, limit int64) ([]byte, error) {
	tooLarge := &promapi.Error{Status: http.StatusRequestEntityTooLarge, Type: promapi.ErrBadData,
		Msg: fmt.Sprintf("remote_write body is larger than the limit of %d bytes", limit)}
	if r.ContentLength > limit {
		return nil, tooLarge
	}
	var (
		body []byte
		err  error
	)
	if r.ContentLength > 0 {
		body = make([]byte, r.ContentLength)
		_, err = io.ReadFull(r.Body, body)
	} else {
		body, err = io.ReadAll(io.LimitReader(r.Body, limit+1))
	}
	if err != nil {
		return nil, &promapi.Error{Status: http.StatusBadRequest, Type: promapi.ErrBadData, Msg: "read remote_write body: " + err.Error()}
	}
	if int64(len(body)) > limit {
		return nil, tooLarge
	}
	return body, nil
}

// writeErrorType is the Prometheus error type of a backend's non-2xx
// remote_write status.
func writeErrorType(status int) string {
	switch {
	case status == http.StatusTooManyRequests:
		return promapi.ErrTooMany
	case status == http.StatusGatewayTimeout:
		return promapi.ErrTimeout
	case status >= 500:
		return promapi.ErrUnavailable
	case status == http.StatusNotFound:
		return promapi.ErrNotFound
	}
	return promapi.ErrBadData
}
