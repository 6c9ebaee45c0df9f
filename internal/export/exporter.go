package export

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/promgate/promgate/internal/panics"
)

// PrometheusMaxPoints is the most points per series Prometheus computes in one
// range query: it refuses (end-start)/step > 11,000.
const PrometheusMaxPoints = 11000

// Defaults for range exports.
const (
	// DefaultChunkPoints keeps a chunk of 1,000 series near 1M samples, so the
	// server's own buffering per request stays moderate.
	DefaultChunkPoints = 1000
	DefaultConcurrency = 4
)

// Chunk is one range request: points Start, Start+step, ..., End (milliseconds).
type Chunk struct{ Start, End int64 }

// PlanChunks splits [start, end] at step into chunks of at most points points.
// Chunk k covers [s_k, s_k+(points-1)*step] and chunk k+1 starts one step
// later, so every point of the range is asked for exactly once.
func PlanChunks(startMs, endMs, stepMs int64, points int) ([]Chunk, error) {
	p, err := newPlan(startMs, endMs, stepMs, points)
	if err != nil {
		return nil, err
	}
	out := make([]Chunk, p.n)
	for k := range out {
		out[k] = p.chunk(k)
	}
	return out, nil
}

type plan struct {
	start, end, step int64
	per              int64 // points per chunk
	total            int64 // points in the range
	n                int
}

func newPlan(start, end, step int64, points int) (plan, error) {
	switch {
	case step <= 0:
		return plan{}, fmt.Errorf("step must be positive")
	case end < start:
		return plan{}, fmt.Errorf("end is before start")
	case points <= 0:
		points = DefaultChunkPoints
	}
	// Stay below the server's limit: (end-start)/step of a chunk is points-1.
	points = min(points, PrometheusMaxPoints)
	total := (end-start)/step + 1
	per := int64(points)
	return plan{start: start, end: end, step: step, per: per, total: total, n: int((total + per - 1) / per)}, nil
}

func (p plan) chunk(k int) Chunk {
	s := p.start + int64(k)*p.per*p.step
	e := min(s+(p.per-1)*p.step, p.start+(p.total-1)*p.step)
	return Chunk{Start: s, End: e}
}

func (p plan) points(k int) int64 {
	c := p.chunk(k)
	return (c.End-c.Start)/p.step + 1
}

// Exporter runs queries through a Client and writes their results.
type Exporter struct {
	Client  *Client
	Options Options
	// ChunkPoints is the most points per series in one range request
	// (default DefaultChunkPoints, at most PrometheusMaxPoints).
	ChunkPoints int
	// Concurrency is the most requests in flight (default DefaultConcurrency).
	Concurrency int
	// Progress, if set, is told about each chunk written.
	Progress Progress
	// Warn, if set, receives the API's warnings and infos (each once).
	Warn func(kind, msg string)
}

// Instant runs an instant query at t (zero: the server's now) and writes it to w.
func (e *Exporter) Instant(ctx context.Context, w io.Writer, query string, t time.Time) error {
	fetch := func(ctx context.Context, _ int) (io.ReadCloser, error) {
		return e.Client.Query(ctx, query, t)
	}
	return e.run(ctx, w, e.Options, 1, fetch, nil, false)
}

// Range runs a range query in chunks and writes the merged result to w.
func (e *Exporter) Range(ctx context.Context, w io.Writer, query string, start, end time.Time, step time.Duration) error {
	p, err := newPlan(start.UnixMilli(), end.UnixMilli(), step.Milliseconds(), e.ChunkPoints)
	if err != nil {
		return err
	}
	fetch := func(ctx context.Context, k int) (io.ReadCloser, error) {
		c := p.chunk(k)
		body, err := e.Client.QueryRange(ctx, query, c.Start, c.End, p.step)
		if err != nil && p.n > 1 {
			err = fmt.Errorf("chunk %d/%d (%s to %s): %w", k+1, p.n, humanTime(c.Start), humanTime(c.End), err)
		}
		return body, err
	}
	opt := e.Options
	// A chart's x axis is the range asked for, not just where data is.
	opt.Start, opt.End = start, end
	return e.run(ctx, w, opt, p.n, fetch, &p, true)
}

type job struct {
	k       int
	blocks  chan []byte   // streamed formats: rendered output, in order
	body    io.ReadCloser // whole-result formats: the response, decoded by the writer
	ready   chan struct{} // closed once body or err is set (whole-result formats)
	err     error
	samples int64
}

// header is the CSV column list. Unless fixed by Options.Labels, it is the
// label union of the first chunk that has any series: chunks take turns in
// order; an empty chunk passes the turn on, the first non-empty one (or the
// last chunk, if all are empty) decides and writes the header line. Later
// chunks render against it.
type header struct {
	mu      sync.Mutex
	decided bool
	labels  []string
	turn    int           // the chunk whose turn it is to decide
	changed chan struct{} // closed and replaced whenever turn or decided changes
}

func newHeader(fixed []string) *header {
	return &header{decided: fixed != nil, labels: fixed, changed: make(chan struct{})}
}

// await blocks until the header is decided or it is chunk k's turn to decide.
func (h *header) await(ctx context.Context, k int) (labels []string, decided bool, err error) {
	for {
		h.mu.Lock()
		if h.decided || h.turn == k {
			labels, decided = h.labels, h.decided
			h.mu.Unlock()
			return labels, decided, nil
		}
		ch := h.changed
		h.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, false, context.Cause(ctx)
		}
	}
}

func (h *header) update(f func()) {
	h.mu.Lock()
	f()
	close(h.changed)
	h.changed = make(chan struct{})
	h.mu.Unlock()
}

type fetchFunc func(ctx context.Context, k int) (io.ReadCloser, error)

func (e *Exporter) run(ctx context.Context, w io.Writer, opt Options, n int, fetch fetchFunc, p *plan, isRange bool) error {
	if opt.Format == "" {
		opt.Format = CSV
	}
	warn := e.onceWarn()
	if opt.Format == JSON && n == 1 {
		// One response is already the API's body: copy it through untouched.
		body, err := fetch(ctx, 0)
		if err != nil {
			return err
		}
		defer body.Close()
		lw := &lastByteWriter{w: w}
		if _, err := io.Copy(lw, body); err != nil {
			return err
		}
		if lw.last != '\n' {
			// End the document with a newline like every other format does.
			_, err = w.Write([]byte{'\n'})
		}
		return err
	}
	if (opt.Format == PNG || opt.Format == SVG) && !isRange {
		return ErrChartNeedsRange
	}
	if opt.Labels != nil && len(opt.Labels) > opt.maxColumns() && (opt.Format.streams() || opt.Format == Table) {
		return &ColumnsError{Max: opt.maxColumns(), Fixed: true}
	}

	conc := e.Concurrency
	if conc <= 0 {
		conc = DefaultConcurrency
	}
	ctx, cancel := context.WithCancelCause(ctx)
	var wg sync.WaitGroup
	sem := make(chan struct{}, conc)
	queue := make(chan *job, conc)
	defer func() {
		// On an early return: stop everyone, release what was fetched, wait.
		cancel(nil)
		for j := range queue {
			if j.blocks != nil {
				for range j.blocks {
				}
			} else {
				<-j.ready
				if j.body != nil {
					j.body.Close()
				}
			}
		}
		wg.Wait()
	}()
	hdr := newHeader(opt.Labels)
	pool := &sync.Pool{New: func() any { return make([]byte, 0, rowBufSize) }}
	streaming := opt.Format.streams()

	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(queue)
		// A panic in any goroutine here becomes run's error: the server
		// runs this for requests, where it must not stop the process.
		var err error
		defer func() {
			if err != nil {
				cancel(err)
			}
		}()
		defer panics.Capture(&err)
		for k := 0; k < n; k++ {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			j := &job{k: k}
			if streaming {
				j.blocks = make(chan []byte, 16)
			} else {
				j.ready = make(chan struct{})
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if streaming {
					e.streamJob(ctx, j, fetch, hdr, opt, n, pool, warn)
				} else {
					fetchJob(ctx, j, fetch)
				}
			}()
			queue <- j // capacity conc and sem held: never blocks for long
		}
	}()

	var result *Result
	if !streaming {
		result = newResult(opt.maxSamples())
	}
	var done, samples, total int64 = 0, 0, 1
	if p != nil {
		total = p.total
	}
	finished := 0
	for j := range queue {
		if streaming {
			var werr error
			for b := range j.blocks {
				if werr == nil {
					if _, werr = w.Write(b); werr != nil {
						cancel(werr)
					}
				}
				pool.Put(b[:0]) //nolint:staticcheck // a slice header per 64 KiB block is fine
			}
			if werr != nil {
				return werr
			}
			samples += j.samples
		} else {
			select {
			case <-j.ready:
			case <-ctx.Done():
				return context.Cause(ctx)
			}
			if j.err == nil {
				before := result.Samples()
				j.err = decodeResponse(j.body, result, decodeOptions{warn: warn})
				j.body.Close()
				samples += int64(result.Samples() - before)
				var tm *TooManySamplesError
				if errors.As(j.err, &tm) {
					tm.Format = opt.Format
				}
			}
		}
		if j.err != nil {
			cancel(j.err)
			return j.err
		}
		finished++
		if p != nil {
			done += p.points(j.k)
		} else {
			done = 1
		}
		if e.Progress != nil && isRange {
			e.Progress.Update(done, total, samples)
		}
		<-sem
	}
	if finished < n {
		if err := context.Cause(ctx); err != nil {
			return err
		}
		return fmt.Errorf("export stopped after %d of %d chunks", finished, n)
	}
	if e.Progress != nil && isRange {
		e.Progress.Finish()
	}
	if !streaming {
		return WriteResult(w, opt, result)
	}
	return nil
}

// streamJob fetches one chunk and renders its rows into j.blocks. While the
// header is undecided the chunk whose turn it is spools its body, reads the
// label names, and decides (see header); the other chunks fetch meanwhile.
func (e *Exporter) streamJob(ctx context.Context, j *job, fetch fetchFunc, hdr *header, opt Options, n int, pool *sync.Pool, warn func(kind, msg string)) {
	defer close(j.blocks)
	defer panics.Capture(&j.err) // before the close: the reader sees the error
	body, err := fetch(ctx, j.k)
	if err != nil {
		j.err = err
		return
	}
	defer body.Close()
	labels, decided, err := hdr.await(ctx, j.k)
	if err != nil {
		j.err = err
		return
	}
	var src io.Reader = body
	writeHeader := false
	if !decided {
		sp := newSpool(1 << 20)
		defer sp.Close()
		if _, err := io.Copy(sp, body); err != nil {
			j.err = fmt.Errorf("reading response: %w", err)
			return
		}
		r, err := sp.reader()
		if err != nil {
			j.err = err
			return
		}
		u := newLabelUnion(opt.maxColumns())
		if err := decodeResponse(r, u, decodeOptions{labelsOnly: true}); err != nil {
			j.err = err
			return
		}
		if u.nSeries == 0 && j.k < n-1 {
			// Nothing here to write: let the next chunk decide.
			hdr.update(func() { hdr.turn = j.k + 1 })
			return
		}
		labels = u.sorted()
		hdr.update(func() { hdr.labels, hdr.decided = labels, true })
		writeHeader = true
		if src, err = sp.reader(); err != nil {
			j.err = err
			return
		}
	}
	flush := func(b []byte) ([]byte, error) {
		select {
		case j.blocks <- b:
		case <-ctx.Done():
			return b[:0], context.Cause(ctx)
		}
		return pool.Get().([]byte)[:0], nil
	}
	// Only a header guessed from part of the result makes unknown labels an error.
	strict := opt.Labels == nil && !writeHeader
	rw := newRowWriter(opt.Format, opt, labels, strict, flush)
	rw.buf = pool.Get().([]byte)[:0]
	if writeHeader || (opt.Labels != nil && j.k == 0) {
		if err := rw.header(); err != nil {
			j.err = err
			return
		}
	}
	err = decodeResponse(src, rw, decodeOptions{warn: warn})
	if err == nil {
		err = rw.Close()
	}
	j.samples, j.err = rw.samples, err
}

// fetchJob fetches one chunk whole.
func fetchJob(ctx context.Context, j *job, fetch fetchFunc) {
	defer close(j.ready)
	defer panics.Capture(&j.err)
	j.body, j.err = fetch(ctx, j.k)
}

func (e *Exporter) onceWarn() func(kind, msg string) {
	if e.Warn == nil {
		return nil
	}
	var mu sync.Mutex
	seen := map[string]bool{}
	return func(kind, msg string) {
		mu.Lock()
		defer mu.Unlock()
		if !seen[kind+"\x00"+msg] {
			seen[kind+"\x00"+msg] = true
			e.Warn(kind, msg)
		}
	}
}

// Convert writes one query or query_range response body, as the API sent
// it, in e.Options' format, streaming where the format allows. The server
// uses it to answer format=csv from any data source, embedded or remote.
func (e *Exporter) Convert(ctx context.Context, w io.Writer, body io.ReadCloser, isRange bool) error {
	fetch := func(context.Context, int) (io.ReadCloser, error) { return body, nil }
	return e.run(ctx, w, e.Options, 1, fetch, nil, isRange)
}

// lastByteWriter remembers the last byte written through it.
type lastByteWriter struct {
	w    io.Writer
	last byte
}

func (l *lastByteWriter) Write(p []byte) (int, error) {
	n, err := l.w.Write(p)
	if n > 0 {
		l.last = p[n-1]
	}
	return n, err
}
