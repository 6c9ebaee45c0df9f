// Package querycache is promgate's query frontend: a results cache in front
// of every data source. A range query is aligned to its step (unless the
// data source turns that off), cut at fixed intervals into parts that run
// in parallel, and each part's matrix is cached by (data source and its
// settings generation, the query as sent after the label policy, step,
// interval); a later request asks the backend only for the steps no
// entry holds, and the parts are merged into one Prometheus answer. What
// may still change (the newest steps, within the freshness window) and
// answers with warnings or partial results are never stored.
package querycache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"time"

	jsoniter "github.com/json-iterator/go"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/promgate/promgate/internal/datasource"
	"github.com/promgate/promgate/internal/panics"
	"github.com/promgate/promgate/internal/promapi"
)

// Defaults of Config.
const (
	DefaultSplitInterval = 24 * time.Hour
	DefaultFreshness     = 10 * time.Minute
	DefaultMaxParallel   = 4
	DefaultMaxBytes      = 256 << 20
	// DefaultMaxAnswerBytes bounds one backend answer read into memory
	// (decoded); a larger one makes the request go to the backend whole,
	// streamed and uncached.
	DefaultMaxAnswerBytes = 64 << 20
)

// maxParts bounds the parts of one request: a long range at a long step
// gets longer intervals (a multiple of the configured one) instead.
const maxParts = 64

// Header tells the caller how much of the answer came from the cache:
// "hit=3 miss=1 fetched=21/2881" counts the parts answered from the cache
// alone, those that asked the backend, and for a range query the steps
// asked of the backend out of all the answer's steps; "bypass" says the
// cache was not used.
const Header = "X-Promgate-Cache"

// Config configures a Frontend.
type Config struct {
	// Store keeps the entries; nil: an in-memory LRU of DefaultMaxBytes.
	Store Store
	// SplitInterval cuts range queries (0: DefaultSplitInterval).
	SplitInterval time.Duration
	// Freshness is how recent data must be older than to be cached (0:
	// DefaultFreshness), as Mimir's max_cache_freshness.
	Freshness time.Duration
	// MaxParallel bounds the backend requests of one query at once (0:
	// DefaultMaxParallel).
	MaxParallel int
	// MaxAnswerBytes bounds one backend answer read into memory (0:
	// DefaultMaxAnswerBytes).
	MaxAnswerBytes int
	Registerer     prometheus.Registerer
	Logger         *slog.Logger
	// Now is the clock (tests); nil: time.Now.
	Now func() time.Time
}

// Frontend caches query answers of any data source. A nil *Frontend
// caches nothing.
type Frontend struct {
	cfg     Config
	store   Store
	metrics *metrics
}

// New returns a Frontend.
func New(cfg Config) (*Frontend, error) {
	if cfg.SplitInterval == 0 {
		cfg.SplitInterval = DefaultSplitInterval
	}
	if cfg.Freshness == 0 {
		cfg.Freshness = DefaultFreshness
	}
	if cfg.MaxParallel == 0 {
		cfg.MaxParallel = DefaultMaxParallel
	}
	if cfg.MaxAnswerBytes == 0 {
		cfg.MaxAnswerBytes = DefaultMaxAnswerBytes
	}
	switch {
	case cfg.SplitInterval < time.Minute || cfg.SplitInterval%time.Millisecond != 0:
		return nil, fmt.Errorf("query cache split interval must be at least 1m, got %s", cfg.SplitInterval)
	case cfg.Freshness < 0:
		return nil, fmt.Errorf("query cache freshness must not be negative, got %s", cfg.Freshness)
	case cfg.MaxParallel < 1:
		return nil, fmt.Errorf("query cache parallelism must be at least 1, got %d", cfg.MaxParallel)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	st := cfg.Store
	if st == nil {
		m, err := NewMemory(DefaultMaxBytes)
		if err != nil {
			return nil, err
		}
		st = m
	}
	return &Frontend{cfg: cfg, store: st, metrics: newMetrics(cfg.Registerer, st)}, nil
}

// Close releases the store.
func (f *Frontend) Close() error {
	if f == nil {
		return nil
	}
	if err := f.store.Close(); err != nil {
		return fmt.Errorf("close query cache: %w", err)
	}
	return nil
}

// Wrap returns ds answering through the cache for one caller's request:
// callerHeader's `Cache-Control: no-store` sends it to ds as it is.
func (f *Frontend) Wrap(ds datasource.DataSource, callerHeader http.Header) datasource.DataSource {
	if f == nil {
		return ds
	}
	return &cached{f: f, ds: ds, noStore: noStore(callerHeader)}
}

func noStore(h http.Header) bool {
	for _, v := range h.Values("Cache-Control") {
		for d := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(d), "no-store") {
				return true
			}
		}
	}
	return false
}

// cached is a data source seen through the cache.
type cached struct {
	f       *Frontend
	ds      datasource.DataSource
	noStore bool
}

func (c *cached) Info() datasource.Info { return c.ds.Info() }

// Query implements datasource.DataSource.
func (c *cached) Query(ctx context.Context, req *promapi.Request) (*http.Response, error) {
	info := c.ds.Info()
	if c.noStore || info.Cache.Disabled {
		return c.bypass(ctx, req)
	}
	switch req.Endpoint {
	case promapi.EndpointQueryRange:
		return c.queryRange(ctx, req, info)
	case promapi.EndpointQuery:
		return c.instant(ctx, req, info)
	}
	return c.ds.Query(ctx, req)
}

// bypass sends req as it is.
func (c *cached) bypass(ctx context.Context, req *promapi.Request) (*http.Response, error) {
	switch req.Endpoint {
	case promapi.EndpointQueryRange, promapi.EndpointQuery:
	default:
		return c.ds.Query(ctx, req)
	}
	info := c.ds.Info()
	c.f.metrics.request(info.ID, req.Endpoint, "bypass")
	c.f.metrics.backend(info.ID)
	resp, err := c.ds.Query(ctx, req)
	if err == nil {
		resp.Header.Set(Header, "bypass")
	}
	return resp, err
}

// keyOf digests the parts of a key: entries of different data sources,
// settings, queries or parameters never share one.
func keyOf(parts ...string) string {
	h := sha256.New()
	var n [8]byte
	for _, p := range parts {
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		h.Write(n[:])
		h.Write([]byte(p))
	}
	return "pgqc1:" + hex.EncodeToString(h.Sum(nil))
}

func dsKey(info datasource.Info) string {
	return strconv.FormatInt(info.ID, 10) + "/" + info.Generation
}

// instant caches a /query answer whole when its time is older than the
// freshness window (and the data it may read too).
func (c *cached) instant(ctx context.Context, req *promapi.Request, info datasource.Info) (*http.Response, error) {
	p := req.Params
	ts := p.Get("time")
	if ts == "" || p.Get("stats") != "" {
		return c.bypass(ctx, req)
	}
	t, err := parseTimeMs(ts)
	if err != nil {
		return c.bypass(ctx, req)
	}
	a, err := analyze(p.Get("query"), t, t)
	if err != nil || a.latestRead(t) > c.f.cfg.Now().Add(-c.f.cfg.Freshness).UnixMilli() {
		return c.bypass(ctx, req)
	}
	key := keyOf(dsKey(info), "instant", p.Get("query"), strconv.FormatInt(t, 10), p.Get("lookback_delta"), p.Get("limit"))
	got, err := c.f.store.GetMulti(ctx, []string{key})
	c.f.metrics.storeErr("get", err, c.f.cfg.Logger)
	if body, ok := got[key]; ok {
		c.f.metrics.parts(1, 0)
		c.f.metrics.request(info.ID, req.Endpoint, "hit")
		return jsonResponse(http.StatusOK, body, "hit=1 miss=0"), nil
	}
	c.f.metrics.parts(0, 1)
	c.f.metrics.request(info.ID, req.Endpoint, "miss")
	c.f.metrics.backend(info.ID)
	resp, err := c.ds.Query(ctx, req)
	if err != nil {
		return nil, err
	}
	resp.Header.Set(Header, "hit=0 miss=1")
	if resp.StatusCode != http.StatusOK {
		return resp, nil
	}
	body, err := readBounded(resp.Body, c.f.cfg.MaxAnswerBytes)
	if errors.Is(err, errTooLarge) {
		// Too large to keep: stream the rest as it comes.
		resp.Body = readCloser{io.MultiReader(bytes.NewReader(body), resp.Body), resp.Body}
		return resp, nil
	}
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	if cacheableInstant(body) {
		c.f.set(ctx, key, body)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	return resp, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

// cacheableInstant: a success answer without warnings or partial results.
func cacheableInstant(body []byte) bool {
	it := jsoniter.ConfigFastest.BorrowIterator(body)
	defer jsoniter.ConfigFastest.ReturnIterator(it)
	success := false
	for field := it.ReadObject(); field != ""; field = it.ReadObject() {
		switch field {
		case "status":
			success = it.ReadString() == "success"
		case "warnings", "isPartial":
			if it.WhatIsNext() != jsoniter.NilValue && !(it.WhatIsNext() == jsoniter.BoolValue && !it.ReadBool()) {
				if n := len(readStrings(it, nil)); field == "warnings" && n == 0 {
					continue
				}
				return false
			}
			it.Skip()
		default:
			it.Skip()
		}
	}
	return success && it.Error == nil
}

func (f *Frontend) set(ctx context.Context, key string, value []byte) {
	f.metrics.storeErr("set", f.store.Set(ctx, key, value), f.cfg.Logger)
}

func jsonResponse(status int, body []byte, cacheHeader string) *http.Response {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set(Header, cacheHeader)
	return &http.Response{
		StatusCode: status, Status: fmt.Sprintf("%d %s", status, http.StatusText(status)),
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)),
	}
}

// rangeQuery is a range request as the frontend follows it.
type rangeQuery struct {
	start, end, step int64 // ms, start and end aligned if asked
	interval         int64 // split interval (ms)
	a                analysis
	keyBase          []string
}

// queryRange answers a /query_range from cached parts and backend
// requests for what is missing.
func (c *cached) queryRange(ctx context.Context, req *promapi.Request, info datasource.Info) (*http.Response, error) {
	q, ok := c.f.follow(req, info)
	if !ok {
		return c.bypass(ctx, req)
	}
	parts := splitRange(q.start, q.end, q.step, q.interval)
	keys := make([]string, len(parts))
	for i, pt := range parts {
		keys[i] = keyOf(append(q.keyBase, strconv.FormatInt(pt.interval, 10))...)
	}
	got, err := c.f.store.GetMulti(ctx, keys)
	c.f.metrics.storeErr("get", err, c.f.cfg.Logger)

	// Steps whose data is older than this may be cached.
	cacheLimit := c.f.cfg.Now().Add(-c.f.cfg.Freshness).UnixMilli() - q.a.lookahead
	if q.a.hasAt && q.a.atMax > c.f.cfg.Now().Add(-c.f.cfg.Freshness).UnixMilli() {
		cacheLimit = q.start - 1 // nothing
	}
	gridLimit := q.start + floorDiv(cacheLimit-q.start, q.step)*q.step

	results := make([]*answer, len(parts))
	failed := make([]*http.Response, len(parts)) // a backend's error answer, by part
	hits, misses, backendCalls := 0, 0, 0
	fetchedSteps, allSteps := int64(0), (q.end-q.start)/q.step+1
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.f.cfg.MaxParallel)
	for i, pt := range parts {
		ext := decodeExtent(got[keys[i]])
		fetches := missing(ext, pt, q.step)
		if len(fetches) == 0 {
			hits++
		} else {
			misses++
			backendCalls += len(fetches)
		}
		for _, rg := range fetches {
			fetchedSteps += (rg[1]-rg[0])/q.step + 1
		}
		g.Go(func() (err error) {
			// A panic here is the request's, answered by its handler, not
			// the process's end.
			defer panics.Capture(&err)
			fetched := make([]*answer, len(fetches))
			for j, rg := range fetches {
				if err := gctx.Err(); err != nil {
					return err // another part failed
				}
				a, fail, err := c.fetch(gctx, req, q.a.query, rg[0], rg[1])
				if err != nil {
					return err
				}
				if fail != nil {
					failed[i] = fail
					return errPartFailed
				}
				fetched[j] = a
			}
			results[i] = c.f.assemble(gctx, keys[i], ext, fetches, fetched, pt, gridLimit)
			return nil
		})
	}
	err = g.Wait()
	c.f.metrics.parts(hits, misses)
	for range backendCalls {
		c.f.metrics.backend(info.ID)
	}
	switch {
	case errors.Is(err, errPartFailed):
		c.f.metrics.request(info.ID, req.Endpoint, "error")
		// The backend's own error answer (of the earliest part), as sent.
		for _, fail := range failed {
			if fail != nil {
				fail.Header.Set(Header, fmt.Sprintf("hit=%d miss=%d fetched=%d/%d", hits, misses, fetchedSteps, allSteps))
				return fail, nil
			}
		}
	case errors.Is(err, errTooLarge):
		// Too much to hold: the backend answers the whole request, streamed.
		c.f.cfg.Logger.DebugContext(ctx, "range query answer too large to cache", "datasource", info.ID)
		return c.bypass(ctx, req)
	}
	if err != nil {
		return nil, err
	}
	outcome := "miss"
	switch {
	case misses == 0:
		outcome = "hit"
	case hits > 0:
		outcome = "partial"
	}
	c.f.metrics.request(info.ID, req.Endpoint, outcome)
	return jsonResponse(http.StatusOK, merge(results).encode(), fmt.Sprintf("hit=%d miss=%d fetched=%d/%d", hits, misses, fetchedSteps, allSteps)), nil
}

var errPartFailed = errors.New("a part's backend request failed")

// follow reads the parameters of a range request the frontend can split
// and cache; ok is false for one it passes on as it is (a limit or stats
// asked for, parameters that do not parse, a range the backend refuses).
func (f *Frontend) follow(req *promapi.Request, info datasource.Info) (rangeQuery, bool) {
	p := req.Params
	if p.Get("stats") != "" || p.Get("limit") != "" && p.Get("limit") != "0" {
		return rangeQuery{}, false
	}
	start, err1 := parseTimeMs(p.Get("start"))
	end, err2 := parseTimeMs(p.Get("end"))
	step, err3 := parseStepMs(p.Get("step"))
	if err1 != nil || err2 != nil || err3 != nil || step <= 0 || end < start || (end-start)/step > maxPoints {
		return rangeQuery{}, false
	}
	lookback := ""
	if lb := p.Get("lookback_delta"); lb != "" {
		ms, err := parseStepMs(lb)
		if err != nil {
			return rangeQuery{}, false
		}
		lookback = strconv.FormatInt(ms, 10)
	}
	if !info.Cache.NoStepAlign {
		// As Grafana and Mimir do: every refresh then asks for the same
		// steps, so earlier answers can be reused.
		start, end = floorTo(start, step), floorTo(end, step)
	}
	a, err := analyze(p.Get("query"), start, end)
	if err != nil {
		return rangeQuery{}, false
	}
	interval := f.cfg.SplitInterval.Milliseconds()
	if n := (end-start)/interval + 2; n > maxParts {
		interval *= (n + maxParts - 1) / maxParts
	}
	return rangeQuery{
		start: start, end: end, step: step, interval: interval, a: a,
		keyBase: []string{dsKey(info), "range", a.query, strconv.FormatInt(step, 10), lookback,
			strconv.FormatInt(interval, 10), strconv.FormatInt(start-floorTo(start, step), 10)},
	}, true
}

// missing is what a part needs from the backend given the cached extent:
// the steps before and after it, or the whole part.
func missing(ext *extent, pt part, step int64) [][2]int64 {
	if ext == nil || ext.end < pt.first || ext.start > pt.last {
		return [][2]int64{{pt.first, pt.last}}
	}
	var out [][2]int64
	if pt.first < ext.start {
		out = append(out, [2]int64{pt.first, ext.start - step})
	}
	if pt.last > ext.end {
		out = append(out, [2]int64{ext.end + step, pt.last})
	}
	return out
}

// assemble builds a part's answer from the cached extent and the fetched
// ranges, and stores the grown extent (up to gridLimit) when nothing
// fetched had warnings or partial results.
func (f *Frontend) assemble(ctx context.Context, key string, ext *extent, fetches [][2]int64, fetched []*answer, pt part, gridLimit int64) *answer {
	var pieces []*answer
	lo, hi := pt.first, pt.last
	if ext != nil && ext.end >= pt.first && ext.start <= pt.last {
		var before, after *answer
		for j, rg := range fetches {
			if rg[1] < ext.start {
				before = fetched[j]
			} else {
				after = fetched[j]
			}
		}
		pieces = []*answer{before, ext.a, after}
		lo, hi = min(lo, ext.start), max(hi, ext.end)
	} else {
		pieces = fetched
	}
	whole := merge(pieces)
	out := whole.cut(pt.first, pt.last)
	if len(fetches) == 0 || whole.partial || len(whole.warnings) > 0 {
		return out
	}
	if hi > gridLimit {
		hi = gridLimit
	}
	if hi < lo || ext != nil && lo >= ext.start && hi <= ext.end {
		return out // nothing to keep, or nothing new
	}
	f.set(ctx, key, encodeExtent(lo, hi, whole.cut(lo, hi)))
	return out
}

// fetch asks the backend for steps from..to of req with query q. A backend
// error answer comes back as fail, read whole (bounded), for the caller.
func (c *cached) fetch(ctx context.Context, req *promapi.Request, q string, from, to int64) (a *answer, fail *http.Response, err error) {
	preq := &promapi.Request{Endpoint: req.Endpoint, Params: maps.Clone(req.Params)}
	preq.Params.Set("query", q)
	preq.Params.Set("start", formatMs(from))
	preq.Params.Set("end", formatMs(to))
	resp, err := c.ds.Query(ctx, preq)
	if err != nil {
		return nil, nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := readBounded(resp.Body, c.f.cfg.MaxAnswerBytes)
	if err != nil {
		return nil, nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body = io.NopCloser(bytes.NewReader(body))
		resp.ContentLength = int64(len(body))
		return nil, resp, nil
	}
	a, err = parseAnswer(body)
	if err != nil {
		name := c.ds.Info().Name
		return nil, nil, &promapi.Error{Status: http.StatusBadGateway, Type: promapi.ErrUnavailable,
			Msg: fmt.Sprintf("data source %q answered a range query with something other than a Prometheus matrix", name)}
	}
	return a, nil, nil
}

// extent is a cached run of steps of one interval: every step from start
// to end (ms) of the query's grid.
type extent struct {
	start, end int64
	a          *answer
}

// encodeExtent: a header line with the steps held, then the answer in
// Prometheus' format.
func encodeExtent(start, end int64, a *answer) []byte {
	head := fmt.Sprintf("pgqc1 %d %d\n", start, end)
	return append([]byte(head), a.encode()...)
}

func decodeExtent(b []byte) *extent {
	if b == nil {
		return nil
	}
	head, body, ok := bytes.Cut(b, []byte("\n"))
	if !ok {
		return nil
	}
	var e extent
	if n, err := fmt.Sscanf(string(head), "pgqc1 %d %d", &e.start, &e.end); err != nil || n != 2 || e.end < e.start {
		return nil
	}
	a, err := parseAnswer(body)
	if err != nil {
		return nil // unreadable: as if missing, and overwritten
	}
	e.a = a
	return &e
}

// errTooLarge: an answer larger than the frontend holds in memory.
var errTooLarge = errors.New("answer larger than the query cache holds in memory")

// readBounded reads r whole, failing with errTooLarge (and what was read)
// past limit bytes.
func readBounded(r io.Reader, limit int) ([]byte, error) {
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, err
	}
	if n > int64(limit) {
		return buf.Bytes(), errTooLarge
	}
	return buf.Bytes(), nil
}
