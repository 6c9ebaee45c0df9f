package embedded_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	remoteapi "github.com/prometheus/client_golang/exp/api/remote"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/prompb"

	"github.com/promgate/promgate/internal/embedded"
	"github.com/promgate/promgate/internal/promtest"
)

// mountTmpfs mounts a tmpfs of the given size (mount's size= syntax) on a
// fresh directory: a small disk that a test can fill. Mounting needs root;
// without it the test skips, except under CI, where it must run.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size+",mode=0750"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("mount a tmpfs on %s: %v (CI runs as root and must run this test)", dir, err)
		}
		t.Skipf("cannot mount a tmpfs here (%v); run as root to test a full disk", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// fillDisk writes a file until the file system holding dir is full and
// returns its path.
func fillDisk(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for range 1 << 16 { // at most 4 GiB: a bound, never reached on a small tmpfs
		if _, err := f.Write(buf); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return path
			}
			t.Fatalf("fill disk: %v", err)
		}
	}
	t.Fatal("fill disk: the disk never filled")
	return ""
}

// freeBytes is what the file system holding dir has left.
func freeBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * st.Bsize
}

const (
	seriesPerBatch  = 100
	samplesPerSerie = 10
	samplesPerBatch = seriesPerBatch * samplesPerSerie
)

// sender writes numbered batches with Prometheus' remote-write client, one
// attempt each, and remembers which batches were acknowledged (2xx).
type sender struct {
	t      *testing.T
	api    *remoteapi.API
	rt     *recordingTransport
	base   int64 // first sample timestamp, ms
	next   int
	acked  map[int]bool
	failed int
}

type recordingTransport struct {
	mu   sync.Mutex
	last *http.Response
	body string
}

func (r *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(strings.NewReader(string(b)))
	r.mu.Lock()
	r.last, r.body = resp, string(b)
	r.mu.Unlock()
	return resp, nil
}

func newSender(t *testing.T, s *promtest.Server) *sender {
	t.Helper()
	u, _ := url.Parse(s.URL)
	u.User = url.UserPassword(s.Key, s.Token)
	rt := &recordingTransport{}
	api, err := remoteapi.NewAPI(u.String(), remoteapi.WithAPIPath("/api/v1/write"),
		remoteapi.WithAPIHTTPClient(&http.Client{Transport: rt, Timeout: 30 * time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	return &sender{t: t, api: api, rt: rt, base: time.Now().Add(-10 * time.Minute).UnixMilli(), acked: map[int]bool{}}
}

// send writes the next batch once (no retries) and returns the answer's
// status and headers.
func (sn *sender) send() (status int, header http.Header, body string) {
	sn.t.Helper()
	b := sn.next
	sn.next++
	req := &prompb.WriteRequest{Timeseries: make([]prompb.TimeSeries, 0, seriesPerBatch)}
	for i := range seriesPerBatch {
		ts := prompb.TimeSeries{Labels: []prompb.Label{
			{Name: "__name__", Value: "diskfull_test"},
			{Name: "batch", Value: strconv.Itoa(b)},
			{Name: "series", Value: strconv.Itoa(i)},
			// Long enough that the WAL grows by megabytes in a few batches.
			{Name: "pad", Value: strings.Repeat("p", 200)},
		}}
		for j := range samplesPerSerie {
			ts.Samples = append(ts.Samples, prompb.Sample{Timestamp: sn.base + int64(j)*1000, Value: float64(b)})
		}
		req.Timeseries = append(req.Timeseries, ts)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// One attempt: cancelling in the retry callback ends Write at once.
	_, err := sn.api.Write(ctx, remoteapi.WriteV1MessageType, req, remoteapi.WithWriteRetryCallback(func(error) { cancel() }))
	sn.rt.mu.Lock()
	last, lastBody := sn.rt.last, sn.rt.body
	sn.rt.last = nil
	sn.rt.mu.Unlock()
	if last == nil {
		sn.t.Fatalf("batch %d: no answer: %v", b, err)
	}
	if err == nil {
		sn.acked[b] = true
	} else {
		sn.failed++
	}
	return last.StatusCode, last.Header, lastBody
}

// checkRefusal: a refused write says so in Prometheus' format with a 503
// and Retry-After, so senders retry it later.
func checkRefusal(t *testing.T, status int, header http.Header, body string) {
	t.Helper()
	var e struct{ Status, ErrorType, Error string }
	if status != http.StatusServiceUnavailable || header.Get("Retry-After") == "" ||
		json.Unmarshal([]byte(body), &e) != nil || e.Status != "error" || e.ErrorType != "unavailable" {
		t.Errorf("refused write: status %d, Retry-After %q, body %q; want 503, a Retry-After and a Prometheus error of type unavailable",
			status, header.Get("Retry-After"), body)
	}
}

func readyStatus(t *testing.T, s *promtest.Server) int {
	t.Helper()
	resp, err := http.Get(s.URL + "/-/ready")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// countStored returns the number of samples stored per batch.
func countStored(t *testing.T, s *promtest.Server) map[int]int {
	t.Helper()
	c, err := promapi.NewClient(promapi.Config{Address: s.BaseURL})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	v, _, _, err := v1.NewAPI(c).Query(ctx, `sum by (batch) (count_over_time(diskfull_test[1h]))`, time.Now())
	if err != nil {
		t.Fatalf("count stored samples: %v", err)
	}
	out := map[int]int{}
	for _, smpl := range v.(model.Vector) {
		b, _ := strconv.Atoi(string(smpl.Metric["batch"]))
		out[b] = int(smpl.Value)
	}
	return out
}

// checkNoneMissing: every acknowledged batch is stored whole.
func checkNoneMissing(t *testing.T, sn *sender, stored map[int]int) {
	t.Helper()
	missing, short := 0, 0
	for b := range sn.acked {
		if got := stored[b]; got < samplesPerBatch {
			missing += samplesPerBatch - got
			short++
		}
	}
	t.Logf("%d batches acknowledged (%d samples), %d refused; after the restart %d acknowledged samples missing in %d batches",
		len(sn.acked), len(sn.acked)*samplesPerBatch, sn.failed, missing, short)
	if missing > 0 {
		t.Errorf("%d acknowledged samples lost", missing)
	}
}

// writeUntilRefused keeps writing until the store has refused n writes,
// checking that each refusal is a proper 503 and that /-/ready says so.
func writeUntilRefused(t *testing.T, s *promtest.Server, sn *sender, n int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	refused := 0
	for refused < n {
		if time.Now().After(deadline) {
			t.Fatalf("a full disk refused %d of %d writes in a minute", refused, n)
		}
		status, header, body := sn.send()
		if status/100 == 2 {
			continue // fitted into space the file system still had
		}
		refused++
		if refused == 1 {
			t.Logf("first refusal: %d %s", status, strings.TrimSpace(body))
		}
		checkRefusal(t, status, header, body)
		if code := readyStatus(t, s); code != http.StatusServiceUnavailable {
			t.Errorf("/-/ready answers %d while writes are refused, want 503", code)
		}
	}
}

// TestFullDiskLosesNoAcknowledgedSample fills the data dir's disk under
// remote_write, frees it, keeps writing and restarts: every sample that was
// acknowledged must be there after the restart.
func TestFullDiskLosesNoAcknowledgedSample(t *testing.T) {
	dir := mountTmpfs(t, "64m")
	s := promtest.Start(t, promtest.WithDataDir(dir))
	sn := newSender(t, s)
	for range 20 {
		if status, _, body := sn.send(); status/100 != 2 {
			t.Fatalf("write before the disk is full: %d %s", status, body)
		}
	}

	filler := fillDisk(t, dir)
	writeUntilRefused(t, s, sn, 30)
	// 30 refusals in well under 10 s: each kind of failure is logged once.
	for _, l := range []struct {
		what string
		subs []string
		max  int
	}{
		{"refused-write request lines", []string{"level=WARN", `msg="http request"`, "path=/api/v1/write"}, 1},
		{"not-ready lines", []string{"level=WARN", `msg="http request"`, "path=/-/ready"}, 1},
		{"error lines", []string{"level=ERROR"}, 3},
	} {
		if n := countLines(s.Logs(), l.subs...); n > l.max {
			t.Errorf("%d %s for 30 refused writes, want at most %d", n, l.what, l.max)
		}
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	// The store comes back by itself once there is room: writes are
	// refused until then and acknowledged after.
	before := len(sn.acked)
	deadline := time.Now().Add(time.Minute)
	for len(sn.acked) < before+20 {
		if time.Now().After(deadline) {
			t.Fatalf("after space came back only %d writes were acknowledged in a minute", len(sn.acked)-before)
		}
		if status, header, body := sn.send(); status/100 != 2 {
			checkRefusal(t, status, header, body)
			time.Sleep(100 * time.Millisecond)
		}
	}
	if code := readyStatus(t, s); code != http.StatusOK {
		t.Errorf("/-/ready answers %d after writes are acknowledged again, want 200", code)
	}

	s.Stop()
	s2 := promtest.Start(t, promtest.WithDataDir(dir))
	checkNoneMissing(t, sn, countStored(t, s2))
	if t.Failed() {
		t.Logf("server log before the restart:\n%s", s.Logs())
	}
}

// TestFullDiskRepairWithoutRoom frees less space than the WAL repair
// needs: the store keeps refusing writes, a start fails with a message
// that says what to do (and touches nothing: a repair that ran out of room
// half-way used to drop the rest of the WAL at the next start), and once
// there is room nothing acknowledged is missing.
func TestFullDiskRepairWithoutRoom(t *testing.T) {
	dir := mountTmpfs(t, "64m")
	s := promtest.Start(t, promtest.WithDataDir(dir))
	sn := newSender(t, s)
	for range 60 {
		if status, _, body := sn.send(); status/100 != 2 {
			t.Fatalf("write before the disk is full: %d %s", status, body)
		}
	}
	walSize := dirSize(t, filepath.Join(dir, "tsdb", "wal"))

	filler := fillDisk(t, dir)
	writeUntilRefused(t, s, sn, 1)
	scraper := s.App.TSDB.NewScraper(embedded.ScrapeOptions{URL: s.URL + "/metrics", Job: "promgate", Instance: s.Addr})
	if err := scraper.ScrapeOnce(context.Background()); err == nil {
		t.Error("a self-scrape succeeded while the store refuses writes")
	}

	// Free a little: far less than the WAL the repair rewrites.
	fi, err := os.Stat(filler)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(filler, fi.Size()-256<<10); err != nil {
		t.Fatal(err)
	}
	t.Logf("WAL %d bytes, %d bytes free", walSize, freeBytes(t, dir))
	for range 20 {
		if status, header, body := sn.send(); status/100 != 2 {
			checkRefusal(t, status, header, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.Stop()

	// A start without room for the repair fails with a clear message, and
	// again on a second try.
	for try := range 2 {
		store, err := embedded.Open(context.Background(), embedded.Options{Dir: filepath.Join(dir, "tsdb")})
		if err == nil {
			store.Close()
			t.Errorf("try %d: the store opened with %d bytes free, less than its WAL repair needs", try, freeBytes(t, dir))
			continue
		}
		t.Logf("try %d: %v", try, err)
		if !strings.Contains(err.Error(), "free space") {
			t.Errorf("start without room: %q does not tell what to do", err)
		}
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	s2 := promtest.Start(t, promtest.WithDataDir(dir))
	checkNoneMissing(t, sn, countStored(t, s2))
}

// TestFullDiskSelfScrape: the self-scrape is the first to hit the full
// disk. It stops writes like any other failed write, and they resume once
// there is room, with nothing acknowledged lost.
func TestFullDiskSelfScrape(t *testing.T) {
	dir := mountTmpfs(t, "64m")
	s := promtest.Start(t, promtest.WithDataDir(dir))
	sn := newSender(t, s)
	for range 10 {
		if status, _, body := sn.send(); status/100 != 2 {
			t.Fatalf("write before the disk is full: %d %s", status, body)
		}
	}
	filler := fillDisk(t, dir)
	scraper := s.App.TSDB.NewScraper(embedded.ScrapeOptions{URL: s.URL + "/metrics", Job: "promgate", Instance: s.Addr})
	for i := 0; s.App.TSDB.Health() == nil && i < 100; i++ {
		_ = scraper.ScrapeOnce(context.Background())
	}
	if s.App.TSDB.Health() == nil {
		t.Fatal("100 self-scrapes on a full disk, and the store still takes writes")
	}
	status, header, body := sn.send()
	checkRefusal(t, status, header, body)
	if code := readyStatus(t, s); code != http.StatusServiceUnavailable {
		t.Errorf("/-/ready answers %d after a failed self-scrape, want 503", code)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	before := len(sn.acked)
	deadline := time.Now().Add(time.Minute)
	for len(sn.acked) < before+10 {
		if time.Now().After(deadline) {
			t.Fatalf("after space came back only %d writes were acknowledged in a minute", len(sn.acked)-before)
		}
		if status, _, _ := sn.send(); status/100 != 2 {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if err := scraper.ScrapeOnce(context.Background()); err != nil {
		t.Errorf("self-scrape after recovery: %v", err)
	}
	s.Stop()
	s2 := promtest.Start(t, promtest.WithDataDir(dir))
	checkNoneMissing(t, sn, countStored(t, s2))
}

// countLines counts the log lines that contain every one of subs.
func countLines(logs string, subs ...string) int {
	n := 0
	for line := range strings.SplitSeq(logs, "\n") {
		all := true
		for _, sub := range subs {
			all = all && strings.Contains(line, sub)
		}
		if all {
			n++
		}
	}
	return n
}

func dirSize(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			n += fi.Size()
		}
		return nil
	})
	if err != nil {
		t.Fatal(fmt.Errorf("size of %s: %w", dir, err))
	}
	return n
}
