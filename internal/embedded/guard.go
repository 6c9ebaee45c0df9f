package embedded

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"

	"github.com/promgate/promgate/internal/promapi"
)

// A write to the TSDB's write-ahead log that fails (a full disk) can leave
// a torn record in it. The TSDB keeps appending after it, and the next
// start's WAL repair cuts the log at the tear: every sample acknowledged
// after the failure would be lost (prometheus/prometheus#13027). So after
// the first failed WAL write the store acknowledges nothing more, waits
// until there is room, and closes and reopens the TSDB: the reopen's
// repair cuts only what was never acknowledged, and writes resume.

// errUnavailable marks a request the store refuses for now; it is
// answered 503 with Retry-After so that senders retry it.
var errUnavailable = errors.New("the embedded store is unavailable")

const (
	// retryAfter is what refused requests are told to wait, in seconds.
	retryAfter = "5"
	// recoveryInterval is how often an unwritable store checks for room to
	// reopen the TSDB.
	recoveryInterval = time.Second
)

// handle is one opening of the TSDB. Queriers and appenders hold a
// reference, so that a reopen closes it only once nothing reads its
// memory-mapped chunks any more.
type handle struct {
	db   *tsdb.DB
	refs sync.WaitGroup
}

// acquire returns the open TSDB with a reference the caller must release.
// Writes are refused while the store is unwritable.
func (s *Store) acquire(write bool) (*handle, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if write && s.unwritable != nil {
		return nil, s.unwritable
	}
	if s.cur == nil {
		return nil, fmt.Errorf("%w: its TSDB is being reopened", errUnavailable)
	}
	s.cur.refs.Add(1)
	return s.cur, nil
}

// Health is nil while the store takes writes, and otherwise says why it
// refuses them.
func (s *Store) Health() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.unwritable
}

// Ready reports whether the store serves queries.
func (s *Store) Ready() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur != nil
}

// finishWrite runs after every Commit and Rollback. If a WAL write failed
// since the TSDB was opened, in this transaction or another, this one's
// records may lie behind a torn one: it must not be acknowledged, and the
// store stops taking writes.
func (s *Store) finishWrite(err error) error {
	failed := s.reg.failedWrites()
	if failed == 0 && (err == nil || errors.Is(err, tsdb.ErrAppenderClosed)) {
		return err
	}
	cause := err
	if cause == nil {
		cause = fmt.Errorf("%.0f WAL writes failed", failed)
	}
	return s.markUnwritable(cause)
}

func (s *Store) markUnwritable(cause error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.unwritable == nil {
		s.unwritable = fmt.Errorf("%w: it takes no writes until its WAL is consistent again after a failed write (%v)", errUnavailable, cause)
		s.logger.Error("a write to the TSDB's WAL failed: refusing writes until there is room to reopen the TSDB", "err", cause)
		select {
		case s.wakec <- struct{}{}:
		default:
		}
	}
	return s.unwritable
}

// recoverLoop reopens the TSDB whenever the store turned unwritable. A
// reopen that fails (it replays the whole WAL) is tried again less and
// less often, up to once a minute.
func (s *Store) recoverLoop() {
	defer close(s.donec)
	for {
		select {
		case <-s.stopc:
			return
		case <-s.wakec:
		}
		wait := recoveryInterval
		for s.Health() != nil {
			reopened, tried := s.tryReopen()
			if reopened {
				break
			}
			if tried {
				wait = min(2*wait, time.Minute)
			}
			select {
			case <-s.stopc:
				return
			case <-time.After(wait):
			}
		}
	}
}

// tryReopen closes the TSDB and opens it again once the disk has room for
// that, so that the WAL repair cuts the torn record. It reports whether
// the store takes writes again, and whether it tried to reopen.
func (s *Store) tryReopen() (reopened, tried bool) {
	if err := checkRoom(s.dir); err != nil {
		s.logger.Warn("waiting to reopen the TSDB; writes are refused meanwhile", "dir", s.dir, "err", err)
		return false, false
	}
	s.mu.Lock()
	old := s.cur
	s.cur = nil
	s.mu.Unlock()
	if old != nil {
		old.refs.Wait()
		if err := old.db.Close(); err != nil {
			s.logger.Warn("closing the TSDB before reopening it", "err", err)
		}
	}
	h, err := s.openTSDB()
	if err != nil {
		s.logger.Error("reopening the TSDB failed; queries and writes are refused until it succeeds", "err", err)
		return false, true
	}
	s.mu.Lock()
	s.cur, s.unwritable = h, nil
	s.mu.Unlock()
	s.logger.Info("reopened the TSDB after a failed WAL write: writes are taken again")
	return true, true
}

// writeUnavailable answers a refused request in Prometheus' format.
func writeUnavailable(w http.ResponseWriter, err error) {
	w.Header().Set("Retry-After", retryAfter)
	promapi.WriteError(w, http.StatusServiceUnavailable, promapi.ErrUnavailable, err.Error())
}

// Querier implements storage.Queryable over the current TSDB.
func (s *Store) Querier(mint, maxt int64) (storage.Querier, error) {
	h, err := s.acquire(false)
	if err != nil {
		return nil, err
	}
	q, err := h.db.Querier(mint, maxt)
	if err != nil {
		h.refs.Done()
		return nil, err
	}
	return &heldQuerier{Querier: q, release: sync.OnceFunc(h.refs.Done)}, nil
}

// ChunkQuerier implements storage.ChunkQueryable over the current TSDB.
func (s *Store) ChunkQuerier(mint, maxt int64) (storage.ChunkQuerier, error) {
	h, err := s.acquire(false)
	if err != nil {
		return nil, err
	}
	q, err := h.db.ChunkQuerier(mint, maxt)
	if err != nil {
		h.refs.Done()
		return nil, err
	}
	return &heldChunkQuerier{ChunkQuerier: q, release: sync.OnceFunc(h.refs.Done)}, nil
}

// ExemplarQuerier implements storage.ExemplarQueryable. Exemplars live in
// plain memory, not in memory-mapped files, so the querier needs no
// reference after it is made.
func (s *Store) ExemplarQuerier(ctx context.Context) (storage.ExemplarQuerier, error) {
	h, err := s.acquire(false)
	if err != nil {
		return nil, err
	}
	defer h.refs.Done()
	return h.db.ExemplarQuerier(ctx)
}

type heldQuerier struct {
	storage.Querier
	release func()
}

func (q *heldQuerier) Close() error {
	defer q.release()
	return q.Querier.Close()
}

type heldChunkQuerier struct {
	storage.ChunkQuerier
	release func()
}

func (q *heldChunkQuerier) Close() error {
	defer q.release()
	return q.ChunkQuerier.Close()
}

// Appender appends samples directly (the self-scraper uses it).
func (s *Store) Appender(ctx context.Context) storage.Appender {
	h, err := s.acquire(true)
	if err != nil {
		return refusedAppender{err}
	}
	return &heldAppender{Appender: h.db.Appender(ctx), tx: &txn{s: s, h: h}}
}

// AppenderV2 implements storage.AppendableV2 for the remote-write receiver.
func (s *Store) AppenderV2(ctx context.Context) storage.AppenderV2 {
	h, err := s.acquire(true)
	if err != nil {
		return refusedAppenderV2{err}
	}
	return &heldAppenderV2{AppenderV2: h.db.AppenderV2(ctx), tx: &txn{s: s, h: h}}
}

// txn ties an appender to its TSDB reference.
type txn struct {
	s    *Store
	h    *handle
	once sync.Once
}

func (t *txn) finish(err error) error {
	err = t.s.finishWrite(err)
	t.once.Do(t.h.refs.Done)
	return err
}

type heldAppender struct {
	storage.Appender
	tx *txn
}

func (a *heldAppender) Commit() error   { return a.tx.finish(a.Appender.Commit()) }
func (a *heldAppender) Rollback() error { return a.tx.finish(a.Appender.Rollback()) }

type heldAppenderV2 struct {
	storage.AppenderV2
	tx *txn
}

func (a *heldAppenderV2) Commit() error   { return a.tx.finish(a.AppenderV2.Commit()) }
func (a *heldAppenderV2) Rollback() error { return a.tx.finish(a.AppenderV2.Rollback()) }

// AppendExemplars passes exemplars through; the remote_write 1.0 receiver
// needs an appender that takes them.
func (a *heldAppenderV2) AppendExemplars(ref storage.SeriesRef, ls labels.Labels, es []exemplar.Exemplar) (storage.SeriesRef, error) {
	ea, ok := a.AppenderV2.(storage.ExemplarAppenderV2)
	if !ok {
		return ref, fmt.Errorf("storage appender %T takes no exemplars", a.AppenderV2)
	}
	return ea.AppendExemplars(ref, ls, es)
}

// refusedAppender is handed out while the store takes no writes.
type refusedAppender struct{ err error }

var _ storage.Appender = refusedAppender{}

func (a refusedAppender) Append(storage.SeriesRef, labels.Labels, int64, float64) (storage.SeriesRef, error) {
	return 0, a.err
}
func (refusedAppender) SetOptions(*storage.AppendOptions) {}
func (a refusedAppender) AppendExemplar(storage.SeriesRef, labels.Labels, exemplar.Exemplar) (storage.SeriesRef, error) {
	return 0, a.err
}
func (a refusedAppender) AppendHistogram(storage.SeriesRef, labels.Labels, int64, *histogram.Histogram, *histogram.FloatHistogram) (storage.SeriesRef, error) {
	return 0, a.err
}
func (a refusedAppender) AppendHistogramSTZeroSample(storage.SeriesRef, labels.Labels, int64, int64, *histogram.Histogram, *histogram.FloatHistogram) (storage.SeriesRef, error) {
	return 0, a.err
}
func (a refusedAppender) UpdateMetadata(storage.SeriesRef, labels.Labels, metadata.Metadata) (storage.SeriesRef, error) {
	return 0, a.err
}
func (a refusedAppender) AppendSTZeroSample(storage.SeriesRef, labels.Labels, int64, int64) (storage.SeriesRef, error) {
	return 0, a.err
}
func (a refusedAppender) Commit() error { return a.err }
func (refusedAppender) Rollback() error { return nil }

// refusedAppenderV2 is handed out while the store takes no writes.
type refusedAppenderV2 struct{ err error }

var _ storage.ExemplarAppenderV2 = refusedAppenderV2{}

func (a refusedAppenderV2) Append(storage.SeriesRef, labels.Labels, int64, int64, float64, *histogram.Histogram, *histogram.FloatHistogram, storage.AppendV2Options) (storage.SeriesRef, error) {
	return 0, a.err
}
func (a refusedAppenderV2) AppendExemplars(storage.SeriesRef, labels.Labels, []exemplar.Exemplar) (storage.SeriesRef, error) {
	return 0, a.err
}
func (a refusedAppenderV2) Commit() error { return a.err }
func (refusedAppenderV2) Rollback() error { return nil }
