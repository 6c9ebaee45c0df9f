package datasource

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/promgate/promgate/internal/promapi"
)

// WriteRequest is a remote_write body promgate has decided and checked.
type WriteRequest struct {
	// ContentType is the header promgate built from the message type it
	// decided (and checked the series in), never a copy of the caller's.
	ContentType string
	// Version is X-Prometheus-Remote-Write-Version for that message type.
	Version string
	// Body is the snappy-compressed body exactly as the caller sent it.
	Body []byte
}

// WriteAnswer is a backend's answer to a remote_write, reduced to what the
// sender may see: its status, the remote-write 2.0 counts and Retry-After
// (Header), and for an error its words (bounded, secrets blanked).
type WriteAnswer struct {
	Status int
	Header http.Header
	Msg    string
}

// Writer is a data source that takes remote_write.
type Writer interface {
	// Write sends req to the backend with the data source's credentials
	// and headers and none of the caller's. A backend answer, 2xx or not,
	// is a WriteAnswer; without one the error is a *promapi.Error (502
	// unreachable, refused promgate's credentials or redirected; 504 past
	// the timeout; 499 when ctx was canceled).
	Write(ctx context.Context, req *WriteRequest) (*WriteAnswer, error)
}

// writeAnswerHeaders are the backend response headers a sender may see:
// the remote-write 2.0 written counts, and Retry-After.
var writeAnswerHeaders = []string{
	"X-Prometheus-Remote-Write-Samples-Written",
	"X-Prometheus-Remote-Write-Histograms-Written",
	"X-Prometheus-Remote-Write-Exemplars-Written",
}

// maxWriteErrorBody bounds how much of a backend's error answer is read
// for its words; maxWriteDrain how much more is read so the connection can
// be kept.
const (
	maxWriteErrorBody = 1 << 10
	maxWriteDrain     = 64 << 10
)

// Writable reports whether rm has a remote_write URL.
func (rm *Remote) Writable() bool { return rm.writeURL != "" }

// Write implements Writer. The backend's status decides the caller's:
// 2xx only once the backend acknowledged; 429 and 5xx keep their status
// and get a Retry-After (the backend's, else 1 second) so the sender
// retries; other 4xx keep theirs so the sender drops the batch. A backend
// that refuses promgate's own credentials (401, 403, 407) or redirects is
// a 502, as for reads: the caller's credential was accepted, so the sender
// should retry once the data source is fixed, not drop its samples.
func (rm *Remote) Write(ctx context.Context, req *WriteRequest) (*WriteAnswer, error) {
	if rm.writeURL == "" {
		return nil, &promapi.Error{Status: http.StatusNotFound, Type: promapi.ErrNotFound,
			Msg: fmt.Sprintf("data source %q takes no remote_write: an OWNER can give it a remote_write URL", rm.info.Name)}
	}
	wctx, cancel := context.WithTimeout(ctx, rm.timeout)
	defer cancel()
	hr, err := http.NewRequestWithContext(wctx, http.MethodPost, rm.writeURL, bytes.NewReader(req.Body))
	if err != nil {
		return nil, &promapi.Error{Status: http.StatusInternalServerError, Type: promapi.ErrInternal, Msg: "build backend request"}
	}
	// A fresh header: nothing of the caller's. The round tripper adds the
	// data source's extra headers, then its credentials.
	hr.Header = http.Header{
		"Content-Type":                      {req.ContentType},
		"Content-Encoding":                  {"snappy"},
		"X-Prometheus-Remote-Write-Version": {req.Version},
		"User-Agent":                        {rm.fwd.userAgent},
	}
	start := time.Now()
	resp, err := rm.rt.RoundTrip(hr)
	if err != nil {
		return nil, rm.writeFailure(ctx, wctx, err, start)
	}
	defer func() { _ = resp.Body.Close() }()
	status := resp.StatusCode
	switch {
	case status >= 300 && status < 400:
		return nil, rm.unavailable("answered remote_write with a redirect (HTTP %d): check the data source's remote_write URL", status)
	case status == http.StatusUnauthorized || status == http.StatusForbidden || status == http.StatusProxyAuthRequired:
		return nil, rm.unavailable("refused promgate's credentials for remote_write (HTTP %d): check the data source's basic auth or bearer token", status)
	}
	ans := &WriteAnswer{Status: status, Header: http.Header{}}
	for _, k := range writeAnswerHeaders {
		if v := resp.Header.Get(k); v != "" && isCount(v) {
			ans.Header.Set(k, v)
		}
	}
	var head []byte
	if status/100 != 2 {
		head, err = io.ReadAll(io.LimitReader(resp.Body, maxWriteErrorBody))
		if err != nil && !errors.Is(err, io.EOF) {
			// The status is in: the backend answered. Its words are lost.
			head = nil
		}
		ans.Msg = rm.writeErrorText(status, head)
		if status == http.StatusTooManyRequests || status >= 500 {
			ans.Header.Set("Retry-After", retryAfter(resp.Header.Get("Retry-After")))
		}
	}
	// The rest is read (bounded) so the connection can carry the next
	// write; a backend that ends its answer badly after the status still
	// answered, so its status stands.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxWriteDrain))
	return ans, nil
}

// writeErrorText is a backend's error answer in words safe to pass on.
func (rm *Remote) writeErrorText(status int, body []byte) string {
	snippet := strings.Map(func(r rune) rune {
		if isControl(r) {
			return ' '
		}
		return r
	}, strings.TrimSpace(strings.ToValidUTF8(string(body), "")))
	msg := fmt.Sprintf("data source %q answered remote_write with HTTP %d", rm.info.Name, status)
	if snippet != "" {
		msg += ": " + snippet
	}
	return rm.redact.Replace(msg)
}

// writeFailure is the error of a remote_write that got no answer.
func (rm *Remote) writeFailure(ctx, wctx context.Context, err error, start time.Time) error {
	name := rm.info.Name
	switch {
	case ctx.Err() != nil:
		return &promapi.Error{Status: 499, Type: promapi.ErrCanceled, Msg: "request canceled by the caller"}
	case errors.Is(wctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded):
		rm.fwd.logger.WarnContext(ctx, "data source remote_write timed out", "datasource", name, "id", rm.info.ID, "timeout", rm.timeout)
		return &promapi.Error{Status: http.StatusGatewayTimeout, Type: promapi.ErrTimeout,
			Msg: fmt.Sprintf("data source %q did not acknowledge the remote_write within %s", name, rm.timeout)}
	}
	rm.fwd.logger.WarnContext(ctx, "data source unreachable for remote_write", "datasource", name, "id", rm.info.ID,
		"err", rm.redact.Replace(err.Error()), "took", time.Since(start))
	return &promapi.Error{Status: http.StatusBadGateway, Type: promapi.ErrUnavailable,
		Msg: rm.redact.Replace(fmt.Sprintf("data source %q unreachable for remote_write: %s", name, rm.describeNetError(err)))}
}

// retryAfter passes a backend's Retry-After when it is one (seconds or an
// HTTP date), else asks for one second.
func retryAfter(v string) string {
	v = strings.TrimSpace(v)
	if isCount(v) && len(v) <= 6 {
		return v
	}
	if _, err := http.ParseTime(v); err == nil {
		return v
	}
	return "1"
}

// isCount: a short run of decimal digits.
func isCount(v string) bool {
	if v == "" || len(v) > 20 {
		return false
	}
	_, err := strconv.ParseUint(v, 10, 64)
	return err == nil
}
