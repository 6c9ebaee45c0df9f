// Command export benchmarks `promgate query-range` CSV export against a
// Python requests+csv script doing the same chunked export, on one in-process
// promgate over 127.0.0.1, and reports the CLI's peak RSS at 1M and 10M samples.
//
//	go run ./bench/export [-series 1000] [-points 10000]
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"

	"github.com/promgate/promgate/bench/internal/benchkit"
	"github.com/promgate/promgate/internal/access"
	"github.com/promgate/promgate/internal/app"
	"github.com/promgate/promgate/internal/audit"
	"github.com/promgate/promgate/internal/manage"
	"github.com/promgate/promgate/internal/server"
)

func main() { benchkit.Main("export", run) }

type config struct {
	series, points, chunk, conc int
	python                      string
	skipPython                  bool
}

func run() error {
	var c config
	flag.IntVar(&c.series, "series", 1000, "series to load")
	flag.IntVar(&c.points, "points", 10000, "points per series (1 s apart)")
	flag.IntVar(&c.chunk, "chunk-points", 1000, "points per request, for both exporters")
	flag.IntVar(&c.conc, "concurrency", 4, "promgate's requests in flight")
	flag.StringVar(&c.python, "python", "/usr/bin/python3", "Python with requests")
	flag.BoolVar(&c.skipPython, "skip-python", false, "time only the CLI")
	flag.Parse()
	ctx := context.Background()

	fmt.Printf("machine: %d CPUs, %s\n", runtime.NumCPU(), runtime.Version())
	t := time.Now()
	tmp, bin, cleanup, err := benchkit.Setup(ctx, "export")
	if err != nil {
		return fmt.Errorf("building the CLI (run from the repository root): %w", err)
	}
	defer cleanup()
	fmt.Printf("built CLI in %s\n", time.Since(t).Round(time.Second))

	base, stop, err := startServer(ctx, filepath.Join(tmp, "data"))
	if err != nil {
		return err
	}
	defer stop()
	a := base.app
	t = time.Now()
	end, err := load(ctx, a, c.series, c.points)
	if err != nil {
		return err
	}
	fmt.Printf("loaded %d series x %d points in %s\n", c.series, c.points, time.Since(t).Round(time.Millisecond))
	const query = `{__name__="bench_metric"}`
	startAt := end - int64(c.points-1)

	type cliRun struct {
		label   string
		points  int
		elapsed time.Duration
		rssKiB  int64
		rows    int64
	}
	var runs []cliRun
	for _, pts := range []int{min(1_000_000/c.series, c.points), c.points} {
		out := filepath.Join(tmp, fmt.Sprintf("cli-%d.csv", pts))
		el, rss, err := timeCLI(bin, base.url, query, end-int64(pts-1), end, c, out)
		if err != nil {
			return err
		}
		rows, err := countLines(out)
		if err != nil {
			return err
		}
		runs = append(runs, cliRun{fmt.Sprintf("%dM samples", c.series*pts/1_000_000), pts, el, rss, rows - 1})
		fmt.Printf("CLI     %-12s %8s  %10d rows  peak RSS %5.1f MiB  (%.2f M samples/s)\n",
			runs[len(runs)-1].label, el.Round(time.Millisecond), rows-1, float64(rss)/1024, float64(rows-1)/el.Seconds()/1e6)
		if want := int64(c.series * pts); rows-1 != want {
			return fmt.Errorf("CLI wrote %d rows, want %d", rows-1, want)
		}
	}
	if c.skipPython {
		return nil
	}
	script, err := filepath.Abs("bench/export/range_export.py")
	if err != nil {
		return err
	}
	out := filepath.Join(tmp, "python.csv")
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	py := exec.Command(c.python, script, base.url, query, strconv.FormatInt(startAt, 10), strconv.FormatInt(end, 10), "1", strconv.Itoa(c.chunk))
	py.Stdout, py.Stderr = f, os.Stderr
	t = time.Now()
	err = py.Run()
	pyElapsed := time.Since(t)
	f.Close()
	if err != nil {
		return fmt.Errorf("python export: %w", err)
	}
	rows, err := countLines(out)
	if err != nil {
		return err
	}
	fmt.Printf("Python  %-12s %8s  %10d rows  (%.2f M samples/s)\n",
		runs[1].label, pyElapsed.Round(time.Millisecond), rows-1, float64(rows-1)/pyElapsed.Seconds()/1e6)
	if rows-1 != runs[1].rows {
		return fmt.Errorf("python wrote %d rows, the CLI %d", rows-1, runs[1].rows)
	}
	if err := sameHeader(out, filepath.Join(tmp, fmt.Sprintf("cli-%d.csv", c.points))); err != nil {
		return err
	}
	fmt.Printf("speed: CLI is %.1fx faster than Python (target >= 5x); CLI peak RSS %.1f MiB at %s, %.1f MiB at %s (target < 64 MiB)\n",
		pyElapsed.Seconds()/runs[1].elapsed.Seconds(), float64(runs[0].rssKiB)/1024, runs[0].label, float64(runs[1].rssKiB)/1024, runs[1].label)
	return nil
}

type benchServer struct {
	app *app.App
	url string
}

// startServer runs promgate in this process on 127.0.0.1 with a global read credential.
func startServer(ctx context.Context, dir string) (*benchServer, func(), error) {
	a, err := app.New(ctx, app.Config{
		DataDir:        dir,
		ScrapeInterval: time.Hour,
		OwnerPassword:  "bench-owner-password",
		Version:        "bench",
		Logger:         slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return nil, nil, fmt.Errorf("starting promgate: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		a.Close()
		return nil, nil, err
	}
	srv := &http.Server{Handler: a.Handler, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	cred, token, err := a.Manage.CreateCredential(ctx, audit.Actor{Name: "bench"}, manage.CredentialSpec{
		Name: "bench", Role: access.RoleViewer, Scope: access.ScopeRead, CreatedBy: "bench",
	})
	if err != nil {
		srv.Close()
		a.Close()
		return nil, nil, fmt.Errorf("creating credential: %w", err)
	}
	u, _ := url.Parse("http://" + ln.Addr().String() + server.ProxyPrefix + "1")
	u.User = url.UserPassword(cred.Key, token)
	stop := func() {
		srv.Close()
		a.Close()
	}
	return &benchServer{app: a, url: u.String()}, stop, nil
}

// load appends series x points samples one second apart ending now (so the
// head never spans enough to be compacted during the run); returns the last
// timestamp in seconds.
func load(ctx context.Context, a *app.App, series, points int) (int64, error) {
	end := time.Now().Unix()
	start := end - int64(points-1)
	lbls := make([]labels.Labels, series)
	for i := range lbls {
		lbls[i] = labels.FromStrings("__name__", "bench_metric", "job", "bench", "instance", fmt.Sprintf("10.0.%d.%d:9100", i/256, i%256), "series", strconv.Itoa(i))
	}
	refs := make([]storage.SeriesRef, series)
	for t0 := start; t0 <= end; t0 += 100 {
		ap := a.TSDB.Appender(ctx)
		for ts := t0; ts < min(t0+100, end+1); ts++ {
			for i := range lbls {
				ref, err := ap.Append(refs[i], lbls[i], ts*1000, float64(ts%1000)+float64(i)/8)
				if err != nil {
					_ = ap.Rollback()
					return 0, fmt.Errorf("append: %w", err)
				}
				refs[i] = ref
			}
		}
		if err := ap.Commit(); err != nil {
			return 0, fmt.Errorf("commit: %w", err)
		}
	}
	return end, nil
}

func timeCLI(bin, base, query string, start, end int64, c config, out string) (time.Duration, int64, error) {
	args := []string{"query-range", query, "--url", base,
		"--start", strconv.FormatInt(start, 10), "--end", strconv.FormatInt(end, 10), "--step", "1s",
		"--chunk-points", strconv.Itoa(c.chunk), "--concurrency", strconv.Itoa(c.conc), "--output", out}
	// Go starts children with vfork, so wait4's Maxrss of a direct child can
	// report this (large) process's RSS; GNU time forks from a small process.
	rssFile := out + ".rss"
	cmd := exec.Command("/usr/bin/time", append([]string{"-f", "%M", "-o", rssFile, bin}, args...)...)
	cmd.Stderr = os.Stderr
	t := time.Now()
	if err := cmd.Run(); err != nil {
		return 0, 0, fmt.Errorf("CLI export (needs /usr/bin/time, Debian package time): %w", err)
	}
	el := time.Since(t)
	b, err := os.ReadFile(rssFile)
	if err != nil {
		return 0, 0, err
	}
	rss, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64) // KiB
	if err != nil {
		return 0, 0, fmt.Errorf("reading peak RSS: %w", err)
	}
	return el, rss, nil
}

func countLines(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var n int64
	buf := make([]byte, 1<<20)
	for {
		k, err := f.Read(buf)
		n += int64(strings.Count(string(buf[:k]), "\n"))
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return 0, err
		}
	}
}

// sameHeader checks both exports have the same columns (line ends aside).
func sameHeader(a, b string) error {
	first := func(p string) (string, error) {
		f, err := os.Open(p)
		if err != nil {
			return "", err
		}
		defer f.Close()
		line, err := bufio.NewReader(f).ReadString('\n')
		return strings.TrimRight(line, "\r\n"), err
	}
	ha, err := first(a)
	if err != nil {
		return err
	}
	hb, err := first(b)
	if err != nil {
		return err
	}
	if ha != hb {
		return fmt.Errorf("headers differ: python %q, CLI %q", ha, hb)
	}
	return nil
}
