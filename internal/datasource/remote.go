package datasource

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/common/config"
	"golang.org/x/oauth2"

	"github.com/promgate/promgate/internal/promapi"
)

// peekSize is how much of a backend answer is read before anything is sent
// to the caller. An answer that fits is checked to be whole, valid JSON
// and can still be replaced by a 502; a longer one is streamed.
const peekSize = 32 << 10

// Response headers a backend may pass to the caller. Everything else
// (Set-Cookie, WWW-Authenticate, hop-by-hop headers, server banners) stays
// behind. Content-Encoding is not among them: promgate asks backends for
// identity (compressing every answer cost Prometheus more CPU than the
// proxy itself in bench/proxy, and a gate sits near its backends), decodes
// gzip from a backend that sends it anyway, and answers callers with
// identity, as the embedded data source does.
var passHeaders = []string{"Content-Type", "Cache-Control", "Expires", "Last-Modified"}

// Forwarder is what every remote data source shares: the round trippers
// built from their HTTP client settings (one per distinct settings, so
// connections to a backend are kept alive across reloads) and reusable
// peek buffers.
type Forwarder struct {
	logger    *slog.Logger
	userAgent string
	readers   sync.Pool

	mu  sync.Mutex
	rts map[[sha256.Size]byte]http.RoundTripper
}

// NewForwarder returns a Forwarder. version goes into the User-Agent.
func NewForwarder(logger *slog.Logger, version string) *Forwarder {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if version == "" {
		version = "dev"
	}
	return &Forwarder{logger: logger, userAgent: "promgate/" + version, rts: map[[sha256.Size]byte]http.RoundTripper{}}
}

// Close drops idle backend connections.
func (f *Forwarder) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, rt := range f.rts {
		closeIdle(rt)
		delete(f.rts, k)
	}
	return nil
}

func closeIdle(rt http.RoundTripper) {
	if c, ok := rt.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// rtKey identifies the round tripper of some HTTP client settings: equal
// settings share connections. It is a hash, so the map holds no secret.
func rtKey(h config.HTTPClientConfig) [sha256.Size]byte {
	// Secrets marshal as "<secret>": add them in the clear to the hash.
	b, _ := json.Marshal(h)
	s := Settings{HTTP: h}
	for _, v := range []string{string(b), s.BasicAuthPassword(), s.BearerToken(), s.OAuth2ClientSecret(), string(h.TLSConfig.Key)} {
		b = append(b, 0)
		b = append(b, v...)
	}
	return sha256.Sum256(b)
}

// roundTripper returns the shared round tripper of h, building it with
// Prometheus' client configuration on first use.
func (f *Forwarder) roundTripper(h config.HTTPClientConfig) (http.RoundTripper, [sha256.Size]byte, error) {
	key := rtKey(h)
	f.mu.Lock()
	defer f.mu.Unlock()
	if rt, ok := f.rts[key]; ok {
		return rt, key, nil
	}
	rt, err := NewRoundTripper(h)
	if err != nil {
		return nil, key, err
	}
	f.rts[key] = rt
	return rt, key, nil
}

// retain drops the round trippers not in keep (after a reload), closing
// their idle connections.
func (f *Forwarder) retain(keep map[[sha256.Size]byte]bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, rt := range f.rts {
		if !keep[k] {
			closeIdle(rt)
			delete(f.rts, k)
		}
	}
}

// NewRoundTripper is the transport of one remote data source: Prometheus'
// own (config.NewRoundTripperFromConfig: TLS, proxy, extra headers, then
// the credentials, which it sets last so nothing can replace them), with
// bounded dial and keep-alives. It asks for no compression (see
// passHeaders). Per-request time is bounded by the data source's timeout
// on the request context.
func NewRoundTripper(h config.HTTPClientConfig) (http.RoundTripper, error) {
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	rt, err := config.NewRoundTripperFromConfig(h, "promgate_datasource",
		config.WithDialContextFunc(dialer.DialContext), config.WithIdleConnTimeout(90*time.Second))
	if err != nil {
		return nil, fmt.Errorf("http client settings: %w", err)
	}
	return rt, nil
}

// Remote is a Prometheus-compatible backend reached over HTTP.
type Remote struct {
	fwd   *Forwarder
	rt    http.RoundTripper
	rtKey [sha256.Size]byte
	info  Info
	base  *url.URL
	// writeURL receives remote_write bodies; "": the data source takes none.
	writeURL string
	timeout  time.Duration
	redact   *strings.Replacer // blanks the secrets out of any text we pass on
}

// NewRemote builds the data source for s (normalized).
func (f *Forwarder) NewRemote(s Settings) (*Remote, error) {
	base, err := url.Parse(s.URL)
	if err != nil {
		return nil, fmt.Errorf("data source %q: bad url", s.Name)
	}
	rt, key, err := f.roundTripper(s.HTTP)
	if err != nil {
		return nil, fmt.Errorf("data source %q: %w", s.Name, err)
	}
	return f.newRemote(s, base, rt, key), nil
}

// Test tries s (saved or not) through a round tripper of its own, dropped
// afterwards: testing many unsaved settings leaves no connections behind.
func (f *Forwarder) Test(ctx context.Context, s Settings) (TestResult, error) {
	base, err := url.Parse(s.URL)
	if err != nil {
		return TestResult{}, fmt.Errorf("data source %q: bad url", s.Name)
	}
	rt, err := NewRoundTripper(s.HTTP)
	if err != nil {
		return TestResult{}, fmt.Errorf("data source %q: %w", s.Name, err)
	}
	defer closeIdle(rt)
	return f.newRemote(s, base, rt, [sha256.Size]byte{}).Test(ctx), nil
}

func (f *Forwarder) newRemote(s Settings, base *url.URL, rt http.RoundTripper, key [sha256.Size]byte) *Remote {
	rm := &Remote{
		fwd:      f,
		rt:       rt,
		rtKey:    key,
		info:     Info{ID: s.ID, UID: s.UID, Name: s.Name, Type: "prometheus", URL: s.URL, Env: s.Env, Site: s.Site, Writable: s.WriteURL != "", Cache: s.Cache},
		base:     base,
		writeURL: s.WriteURL,
		timeout:  s.Timeout,
	}
	if rm.timeout <= 0 {
		rm.timeout = DefaultTimeout
	}
	secretText := []string{s.BearerToken(), s.BasicAuthPassword(), s.OAuth2ClientSecret()}
	if s.HTTP.BasicAuth != nil {
		req := http.Request{Header: http.Header{}}
		req.SetBasicAuth(s.BasicAuthUser(), s.BasicAuthPassword())
		secretText = append(secretText, strings.TrimPrefix(req.Header.Get("Authorization"), "Basic "))
	}
	var pairs []string
	for _, t := range secretText {
		if len(t) >= 4 { // shorter ones would blank out ordinary words
			pairs = append(pairs, t, "[redacted]")
		}
	}
	rm.redact = strings.NewReplacer(pairs...)
	return rm
}

// Info implements DataSource.
func (rm *Remote) Info() Info { return rm.info }

// newRequest builds the backend request: the canonical one, without any
// of the caller's headers. The round tripper adds the data source's extra
// headers, then its credentials.
func (rm *Remote) newRequest(ctx context.Context, req *promapi.Request) (*http.Request, error) {
	hr, err := req.NewHTTPRequest(ctx, rm.base)
	if err != nil {
		return nil, err
	}
	rm.decorate(hr)
	return hr, nil
}

func (rm *Remote) decorate(hr *http.Request) {
	hr.Header.Set("User-Agent", rm.fwd.userAgent)
	hr.Header.Set("Accept", "application/json")
	hr.Header.Set("Accept-Encoding", "identity")
	// The credentials' round trippers keep an Authorization already there.
	hr.Header.Del("Authorization")
}

// Query implements DataSource. It returns:
//   - the backend's status and body when it looks like the Prometheus API
//     (JSON): an answer that fits in the first 32 KiB is checked to be
//     whole, valid JSON first; a longer one is streamed, and its body's
//     Read fails with a 502 (504 past the timeout) when it is cut short or
//     ends before its JSON does;
//   - a 502 unavailable error when the backend cannot be reached,
//     redirects, refuses promgate's credentials (401/403/407), or answers
//     2xx with a body that is not JSON;
//   - the backend's status with a Prometheus-format error when an error
//     answer is not JSON (an HTML error page of a load balancer);
//   - a 504 timeout error when the data source's timeout passes.
func (rm *Remote) Query(ctx context.Context, req *promapi.Request) (*http.Response, error) {
	qctx, cancel := context.WithTimeout(ctx, rm.timeout)
	hr, err := rm.newRequest(qctx, req)
	if err != nil {
		cancel()
		return nil, &promapi.Error{Status: http.StatusInternalServerError, Type: promapi.ErrInternal, Msg: "build backend request"}
	}
	start := time.Now()
	resp, err := rm.rt.RoundTrip(hr)
	if err != nil {
		cancel()
		return nil, rm.queryFailure(ctx, qctx, err, start)
	}
	out, err := rm.check(ctx, qctx, cancel, resp, start)
	if err != nil {
		_ = resp.Body.Close()
		cancel()
		return nil, err
	}
	return out, nil
}

// check turns a backend's response into the answer Query returns.
func (rm *Remote) check(ctx, qctx context.Context, cancel context.CancelFunc, resp *http.Response, start time.Time) (*http.Response, error) {
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return nil, rm.unavailable("answered with a redirect (HTTP %d): check the data source URL", resp.StatusCode)
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusProxyAuthRequired:
		// Not the caller's fault: their credential was accepted by promgate.
		return nil, rm.unavailable("refused promgate's credentials for it (HTTP %d): check the data source's basic auth or bearer token", resp.StatusCode)
	}
	var body io.Reader = resp.Body
	switch ce := strings.ToLower(resp.Header.Get("Content-Encoding")); ce {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			return nil, rm.unavailable("answered with a broken gzip body")
		}
		body = zr
	default:
		return nil, rm.unavailable("answered with Content-Encoding %q, which promgate did not ask for", ce)
	}
	ok2xx := resp.StatusCode >= 200 && resp.StatusCode < 300
	isJSON := jsonContentType(resp.Header.Get("Content-Type"))

	br := rm.fwd.reader(body)
	rb := &remoteBody{rm: rm, br: br, raw: resp.Body, ctx: ctx, qctx: qctx, cancel: cancel, start: start}
	head, perr := br.Peek(peekSize)
	complete := errors.Is(perr, io.EOF)
	if perr != nil && !complete {
		if !errors.Is(perr, bufio.ErrBufferFull) {
			return rb.fail(rm.queryFailure(ctx, qctx, perr, start))
		}
	}
	out := &http.Response{
		Status: resp.Status, StatusCode: resp.StatusCode,
		Proto: resp.Proto, ProtoMajor: resp.ProtoMajor, ProtoMinor: resp.ProtoMinor,
		Header: http.Header{}, Body: rb, ContentLength: -1, Request: resp.Request,
	}
	copyHeaders(out.Header, resp.Header)
	if complete {
		if ok2xx && (!isJSON || !json.Valid(head)) {
			return rb.fail(rm.unavailable("answered HTTP %d with a body that is not valid JSON (%s)", resp.StatusCode, describeBody(resp.Header.Get("Content-Type"), head)))
		}
		if !ok2xx && (!isJSON || !json.Valid(head)) {
			return rb.fail(rm.wrapErrorBody(resp.StatusCode, head))
		}
		out.ContentLength = int64(len(head))
		out.Header.Set("Content-Length", strconv.Itoa(len(head)))
		return out, nil
	}
	// Too long to hold: check what can be checked before committing.
	if !isJSON || firstNonSpace(head) != '{' {
		if !ok2xx {
			return rb.fail(rm.wrapErrorBody(resp.StatusCode, head))
		}
		return rb.fail(rm.unavailable("answered HTTP %d with a body that is not JSON (%s)", resp.StatusCode, describeBody(resp.Header.Get("Content-Type"), head)))
	}
	rb.stream = true
	return out, nil
}

// remoteBody is a backend answer's body as Query returns it: read through
// the pooled peek buffer, and failing with a Prometheus-format error when
// a streamed answer is cut short, so the caller never takes a truncated
// body for a whole one.
type remoteBody struct {
	rm     *Remote
	br     *bufio.Reader
	raw    io.Closer
	ctx    context.Context // the caller's
	qctx   context.Context // ctx with the data source's timeout
	cancel context.CancelFunc
	start  time.Time
	stream bool // not checked whole before Query returned: check the end
	last   byte // last non-space byte read, when streaming
	err    error
	closed bool
}

func (b *remoteBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.closed {
		return 0, errors.New("read on closed body")
	}
	n, err := b.br.Read(p)
	if b.stream && n > 0 {
		if t := bytes.TrimRight(p[:n], " \t\r\n"); len(t) > 0 {
			b.last = t[len(t)-1]
		}
	}
	if errors.Is(err, io.EOF) && b.stream && b.last != '}' {
		err = errUnfinishedJSON
	}
	if err != nil && !errors.Is(err, io.EOF) {
		err = b.rm.cutShort(b.ctx, b.qctx, err, b.start)
	}
	b.err = err
	return n, err
}

// Close implements io.Closer: the connection and the buffer go back.
func (b *remoteBody) Close() error {
	if !b.closed {
		b.release()
	}
	return nil
}

// fail releases b for an answer Query does not return.
func (b *remoteBody) fail(err error) (*http.Response, error) {
	b.release()
	return nil, err
}

func (b *remoteBody) release() {
	b.closed = true
	b.br.Reset(nil) // drop the body before pooling
	b.rm.fwd.readers.Put(b.br)
	_ = b.raw.Close()
	b.cancel()
}

// cutShort is the error of an answer that broke after its header.
func (rm *Remote) cutShort(ctx, qctx context.Context, err error, start time.Time) error {
	name := rm.info.Name
	if ctx.Err() != nil {
		return &promapi.Error{Status: 499, Type: promapi.ErrCanceled, Msg: "request canceled by the caller"}
	}
	rm.fwd.logger.WarnContext(ctx, "data source answer cut short; aborting the response",
		"datasource", name, "id", rm.info.ID, "err", rm.redact.Replace(err.Error()), "took", time.Since(start))
	if errors.Is(qctx.Err(), context.DeadlineExceeded) {
		return &promapi.Error{Status: http.StatusGatewayTimeout, Type: promapi.ErrTimeout,
			Msg: fmt.Sprintf("data source %q did not finish its answer within %s", name, rm.timeout)}
	}
	return &promapi.Error{Status: http.StatusBadGateway, Type: promapi.ErrUnavailable,
		Msg: rm.redact.Replace(fmt.Sprintf("data source %q answer cut short: %s", name, describeCut(err)))}
}

// errUnfinishedJSON: the backend ended its body cleanly in mid-JSON.
var errUnfinishedJSON = errors.New("body does not end a JSON object")

func describeCut(err error) string {
	if errors.Is(err, errUnfinishedJSON) {
		return "the body ends before its JSON does"
	}
	return describeNetError(err)
}

// wrapErrorBody is a Prometheus-format error with status quoting the
// start of a backend's non-JSON error body.
func (rm *Remote) wrapErrorBody(status int, body []byte) error {
	snippet := strings.TrimSpace(strings.ToValidUTF8(string(body[:min(len(body), 200)]), ""))
	snippet = strings.Map(func(r rune) rune {
		if isControl(r) {
			return ' '
		}
		return r
	}, snippet)
	msg := fmt.Sprintf("data source %q answered HTTP %d", rm.info.Name, status)
	if snippet != "" {
		msg += ": " + rm.redact.Replace(snippet)
	}
	return &promapi.Error{Status: status, Type: errorTypeFor(status), Msg: msg}
}

func (rm *Remote) unavailable(format string, args ...any) error {
	msg := fmt.Sprintf("data source %q ", rm.info.Name) + fmt.Sprintf(format, args...)
	return &promapi.Error{Status: http.StatusBadGateway, Type: promapi.ErrUnavailable, Msg: rm.redact.Replace(msg)}
}

// queryFailure is the error of a request that got no usable answer.
func (rm *Remote) queryFailure(ctx, qctx context.Context, err error, start time.Time) error {
	name := rm.info.Name
	switch {
	case ctx.Err() != nil:
		return &promapi.Error{Status: 499, Type: promapi.ErrCanceled, Msg: "request canceled by the caller"}
	case errors.Is(qctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded):
		rm.fwd.logger.WarnContext(ctx, "data source timed out", "datasource", name, "id", rm.info.ID, "timeout", rm.timeout)
		return &promapi.Error{Status: http.StatusGatewayTimeout, Type: promapi.ErrTimeout,
			Msg: fmt.Sprintf("data source %q did not answer within %s", name, rm.timeout)}
	}
	reason := rm.describeNetError(err)
	rm.fwd.logger.WarnContext(ctx, "data source unreachable", "datasource", name, "id", rm.info.ID,
		"err", rm.redact.Replace(err.Error()), "took", time.Since(start))
	return &promapi.Error{Status: http.StatusBadGateway, Type: promapi.ErrUnavailable,
		Msg: rm.redact.Replace(fmt.Sprintf("data source %q unreachable: %s", name, reason))}
}

// describeNetError is describeNetError with a hint for https: a backend
// that requires a client certificate may close the connection right after
// the TLS 1.3 handshake, before its alert is read.
func (rm *Remote) describeNetError(err error) string {
	reason := describeNetError(err)
	if http2NotEstablished(err) {
		reason = "connection closed by the backend before the first request"
	}
	if rm.base.Scheme == "https" && (errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) || http2NotEstablished(err)) {
		reason += " (if the backend requires a TLS client certificate, check the data source's)"
	}
	return reason
}

// http2NotEstablished reports net/http's HTTP/2 error for a connection the
// backend closed before the first request went out, which is how a TLS 1.3
// server refusing the client certificate often shows (its alert is read by
// the connection's reader, not returned). The error value is unexported,
// so its text is what can be matched.
func http2NotEstablished(err error) bool {
	for ; err != nil; err = errors.Unwrap(err) {
		if err.Error() == "http2: client conn could not be established" {
			return true
		}
	}
	return false
}

// describeNetError says why a request failed without the URL (url.Error
// and some dial errors would quote it).
func describeNetError(err error) string {
	var (
		dnsErr  *net.DNSError
		opErr   *net.OpError
		certErr *tls.CertificateVerificationError
		recErr  tls.RecordHeaderError
		oauth   *oauth2.RetrieveError
	)
	switch {
	case errors.As(err, &oauth):
		// Its message quotes the token endpoint's answer: leave that out.
		status := 0
		if oauth.Response != nil {
			status = oauth.Response.StatusCode
		}
		return fmt.Sprintf("OAuth2 token request refused (HTTP %d): check the data source's client id, secret and token URL", status)
	case errors.As(err, &dnsErr):
		if dnsErr.IsNotFound {
			return "host not found"
		}
		return "cannot resolve host"
	case errors.As(err, &certErr):
		return "TLS certificate not trusted"
	case errors.As(err, &opErr) && opErr.Op == "remote error" && opErr.Err != nil:
		// The backend's TLS alert: most often a client certificate it
		// wants (mutual TLS) and did not get, or does not trust.
		return fmt.Sprintf("TLS handshake refused by the backend (%s): check the data source's TLS client certificate", opErr.Err)
	case errors.As(err, &recErr):
		return "TLS handshake failed (is the URL https but the server plain http?)"
	case errors.As(err, &opErr):
		if opErr.Err != nil {
			return opErr.Op + ": " + innermost(opErr.Err).Error()
		}
		return opErr.Op + " failed"
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed by the backend"
	}
	return "request failed"
}

func innermost(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}

func errorTypeFor(status int) string {
	switch status {
	case http.StatusBadRequest:
		return promapi.ErrBadData
	case http.StatusNotFound:
		return promapi.ErrNotFound
	case http.StatusUnprocessableEntity:
		return promapi.ErrExecution
	case http.StatusTooManyRequests:
		return promapi.ErrTooMany
	case http.StatusServiceUnavailable:
		return promapi.ErrUnavailable
	case http.StatusGatewayTimeout:
		return promapi.ErrTimeout
	case 499:
		return promapi.ErrCanceled
	}
	if status >= 500 {
		return promapi.ErrUnavailable
	}
	return promapi.ErrBadData
}

func jsonContentType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

func describeBody(ct string, body []byte) string {
	if ct == "" {
		ct = "no Content-Type"
	}
	return fmt.Sprintf("%s, %d bytes", ct, len(body))
}

func firstNonSpace(b []byte) byte {
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) == 0 {
		return 0
	}
	return b[0]
}

func copyHeaders(dst, src http.Header) {
	for _, k := range passHeaders {
		if v := src.Values(k); len(v) > 0 {
			dst[k] = v // the backend's header is not used again
		}
	}
	dst.Set("X-Content-Type-Options", "nosniff")
}

func (f *Forwarder) reader(body io.Reader) *bufio.Reader {
	if br, ok := f.readers.Get().(*bufio.Reader); ok {
		br.Reset(body)
		return br
	}
	return bufio.NewReaderSize(body, peekSize)
}
