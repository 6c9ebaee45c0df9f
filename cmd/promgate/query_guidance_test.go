package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/promgate/promgate/internal/access"
	"github.com/promgate/promgate/internal/audit"
	"github.com/promgate/promgate/internal/manage"
	"github.com/promgate/promgate/internal/promtest"
	"github.com/promgate/promgate/internal/server"
)

// withUser puts key:token into a URL's userinfo.
func withUser(t *testing.T, raw, key, token string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(key, token)
	return u.String()
}

// TestQueryErrorsSayWhatToDo: the mistakes a newcomer makes first get an
// error that names the fix, against a real promgate.
func TestQueryErrorsSayWhatToDo(t *testing.T) {
	t.Setenv("PROMGATE_KEY", "")
	t.Setenv("PROMGATE_TOKEN", "")
	t.Setenv("PROMGATE_URL", "")
	dir := t.TempDir()
	s := promtest.Start(t, promtest.WithDataDir(dir))

	// A second (remote) data source that only the global credential may use.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	backend := &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"success","data":{"resultType":"vector","result":[]}}`)
	})}}
	backend.Start()
	t.Cleanup(backend.Close)
	if out, errOut, err := adminDS(t, "", "add", "--data-dir", dir, "--name", "team-mimir", "--url", backend.URL, "--env", "prod"); err != nil {
		t.Fatalf("add data source: %v\n%s%s", err, out, errOut)
	}
	limitedCred, limitedToken, err := s.App.Manage.CreateCredential(context.Background(), audit.Actor{Name: "test"}, manage.CredentialSpec{
		Name: "only-embedded", Role: access.RoleViewer, DataSourceIDs: []int64{1}, CreatedBy: "test",
	})
	if err != nil {
		t.Fatal(err)
	}
	limitedKey := limitedCred.Key

	proxy1 := s.URL + server.ProxyPrefix + "1"
	tests := []struct {
		name     string
		cmd      func(context.Context, []string, io.Writer, io.Writer) error
		args     []string
		want     []string
		wantNot  []string
		usageErr bool
	}{
		{
			name: "base URL without the data source path",
			cmd:  runQuery,
			args: []string{"--url", s.URL, "--key", s.Key, "--token", s.Token, "up"},
			want: []string{"must end in /api-server/v1/grafana/api/datasources/proxy/<id>",
				proxy1, "team-mimir", s.URL + server.ProxyPrefix + "2"},
			wantNot: []string{"<!doctype", "<html"},
		},
		{
			name:    "base URL with a trailing slash, range query",
			cmd:     runQueryRange,
			args:    []string{"--url", withUser(t, s.URL+"/", s.Key, s.Token), "--start", "-5m", "up"},
			want:    []string{"must end in /api-server/v1/grafana/api/datasources/proxy/<id>", proxy1, "team-mimir"},
			wantNot: []string{"<!doctype", "<html"},
		},
		{
			name:    "proxy path without an id",
			cmd:     runQuery,
			args:    []string{"--url", s.URL + "/api-server/v1/grafana/api/datasources/proxy", "--key", s.Key, "--token", s.Token, "up"},
			want:    []string{"must end in /api-server/v1/grafana/api/datasources/proxy/<id>", proxy1},
			wantNot: []string{"<!doctype", "<html"},
		},
		{
			name:    "the list holds only the data sources the credential may use",
			cmd:     runQuery,
			args:    []string{"--url", s.URL, "--key", limitedKey, "--token", limitedToken, "up"},
			want:    []string{"must end in /api-server/v1/grafana/api/datasources/proxy/<id>", proxy1},
			wantNot: []string{"team-mimir", "<!doctype"},
		},
		{
			name:    "base URL and no credential",
			cmd:     runQuery,
			args:    []string{"--url", s.URL, "up"},
			want:    []string{"must end in /api-server/v1/grafana/api/datasources/proxy/<id>", "PROMGATE_KEY", "PROMGATE_TOKEN"},
			wantNot: []string{"<!doctype"},
		},
		{
			name:     "no credential for a promgate data source",
			cmd:      runQuery,
			args:     []string{"--url", proxy1, "up"},
			want:     []string{"no credential", "PROMGATE_KEY", "PROMGATE_TOKEN", "--key", "--token"},
			usageErr: true,
		},
		{
			name: "no credential, range query",
			cmd:  runQueryRange,
			args: []string{"--url", proxy1, "--start", "-5m", "up"},
			want: []string{"no credential", "PROMGATE_KEY", "PROMGATE_TOKEN", "--key", "--token"}, usageErr: true,
		},
		{
			name: "key without token",
			cmd:  runQuery,
			args: []string{"--url", proxy1, "--key", s.Key, "up"},
			want: []string{"PROMGATE_KEY", "PROMGATE_TOKEN", "--key", "--token"}, usageErr: true,
		},
		{
			name: "credential refused",
			cmd:  runQuery,
			args: []string{"--url", proxy1, "--key", s.Key, "--token", "pgt_wrong", "up"},
			want: []string{"HTTP 401", "refused", "PROMGATE_KEY", "--key"},
		},
		{
			name: "data source the credential may not use",
			cmd:  runQuery,
			args: []string{"--url", s.URL + server.ProxyPrefix + "2", "--key", limitedKey, "--token", limitedToken, "up"},
			want: []string{"HTTP 403", proxy1},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := tc.cmd(context.Background(), tc.args, &out, &errOut)
			if err == nil {
				t.Fatalf("no error; output %q", out.String())
			}
			msg := err.Error()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error lacks %q:\n%s", w, msg)
				}
			}
			for _, w := range tc.wantNot {
				if strings.Contains(strings.ToLower(msg), strings.ToLower(w)) {
					t.Errorf("error holds %q:\n%s", w, msg)
				}
			}
			if strings.Contains(msg, s.Token) || strings.Contains(msg, limitedToken) {
				t.Errorf("error holds a token:\n%s", msg)
			}
			var u usageError
			if got := errors.As(err, &u); got != tc.usageErr {
				t.Errorf("usage error (exit 2) = %v, want %v: %v", got, tc.usageErr, err)
			}
			if out.Len() != 0 {
				t.Errorf("data written on error: %q", out.String())
			}
		})
	}
}

// TestQueryJSONEndsWithNewline: --format json is one JSON document and a
// newline, like every other format, so shells print the prompt on its own line.
func TestQueryJSONEndsWithNewline(t *testing.T) {
	s := promtest.Start(t)
	first, last := queryTestLoad(t, s, 10, 15_000)
	cases := []struct {
		name string
		run  func(context.Context, []string, io.Writer, io.Writer) error
		args []string
	}{
		{"instant", runQuery, []string{"--url", s.BaseURL, "--format", "json", "ref_metric"}},
		{"range in one request", runQueryRange, []string{"--url", s.BaseURL, "--format", "json", "ref_metric",
			"--start", fmt.Sprint(first / 1000), "--end", fmt.Sprint(last / 1000), "--step", "15s"}},
		{"range in chunks", runQueryRange, []string{"--url", s.BaseURL, "--format", "json", "ref_metric", "--chunk-points", "3",
			"--start", fmt.Sprint(first / 1000), "--end", fmt.Sprint(last / 1000), "--step", "15s"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if err := tc.run(context.Background(), tc.args, &out, &errOut); err != nil {
				t.Fatalf("%v\n%s", err, errOut.String())
			}
			b := out.Bytes()
			if !bytes.HasSuffix(b, []byte("}\n")) || bytes.HasSuffix(b, []byte("\n\n")) {
				t.Fatalf("json output does not end in exactly one newline: %q", b[max(0, len(b)-20):])
			}
			var v struct{ Status string }
			if err := json.Unmarshal(b, &v); err != nil || v.Status != "success" {
				t.Fatalf("not the API's JSON: %v %q", err, b)
			}
		})
	}
}

func TestAlignRange(t *testing.T) {
	at := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	tests := []struct {
		start, end string
		step       time.Duration
		wantStart  string
		wantEnd    string
	}{
		{"2026-11-25T10:00:07Z", "2026-11-25T11:00:07Z", time.Minute, "2026-11-25T10:00:00Z", "2026-11-25T11:01:00Z"},
		{"2026-11-25T10:00:00Z", "2026-11-25T11:00:00Z", time.Minute, "2026-11-25T10:00:00Z", "2026-11-25T11:00:00Z"},
		{"2026-11-25T10:07:00Z", "2026-11-25T10:52:00.001Z", 15 * time.Minute, "2026-11-25T10:00:00Z", "2026-11-25T11:00:00Z"},
		{"2026-11-25T10:00:00.250Z", "2026-11-25T10:00:01.100Z", 500 * time.Millisecond, "2026-11-25T10:00:00Z", "2026-11-25T10:00:01.5Z"},
		{"1969-12-31T23:59:30Z", "1970-01-01T00:00:30Z", time.Minute, "1969-12-31T23:59:00Z", "1970-01-01T00:01:00Z"},
		// Steps that do not divide a day align to multiples since the epoch, as Grafana does.
		{"2026-11-25T10:03:00Z", "2026-11-25T12:00:00Z", 7 * time.Minute, "2026-11-25T10:00:00Z", "2026-11-25T12:06:00Z"},
	}
	for _, tc := range tests {
		s, e := alignRange(at(tc.start), at(tc.end), tc.step)
		if !s.Equal(at(tc.wantStart)) || !e.Equal(at(tc.wantEnd)) {
			t.Errorf("alignRange(%s, %s, %v) = %s, %s; want %s, %s", tc.start, tc.end, tc.step,
				s.UTC().Format(time.RFC3339Nano), e.UTC().Format(time.RFC3339Nano), tc.wantStart, tc.wantEnd)
		}
	}
}

// TestQueryRangeAlign: two exports of the same hour asked for at different
// seconds give the same rows with --align, and rows on multiples of the step.
func TestQueryRangeAlign(t *testing.T) {
	s := promtest.Start(t)
	_, last := queryTestLoad(t, s, 400, 15_000)
	end := last/1000 - 600 // inside the data, on a minute
	export := func(startOff, endOff int64, align bool) string {
		t.Helper()
		args := []string{"--url", s.BaseURL, "ref_metric", "--step", "1m",
			"--start", fmt.Sprint(end - 3600 + startOff), "--end", fmt.Sprint(end + endOff)}
		if align {
			args = append(args, "--align")
		}
		var out, errOut bytes.Buffer
		if err := runQueryRange(context.Background(), args, &out, &errOut); err != nil {
			t.Fatalf("%v\n%s", err, errOut.String())
		}
		return out.String()
	}
	a, b := export(7, 7, true), export(31, 31, true)
	if a != b {
		t.Fatalf("aligned exports differ:\n%s\n---\n%s", a, b)
	}
	rows := queryTestCSV(t, a)
	if len(rows) < 2 {
		t.Fatalf("no rows: %q", a)
	}
	for _, r := range rows[1:] {
		ts, err := strconv.ParseInt(r[1], 10, 64)
		if err != nil || ts%60 != 0 {
			t.Fatalf("timestamp %q is not on a minute", r[1])
		}
	}
	if got := export(7, 7, false); got == a {
		t.Fatal("without --align the export is the same: the test shows nothing")
	}
}

func TestQueryRangeChartFlags(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--format", "png", "--unit", "furlongs", "up"}, "--unit"},
		{[]string{"--format", "png", "--width", "10", "up"}, "--width and --height"},
		{[]string{"-o", "x.svg", "--height", "20000", "up"}, "--width and --height"},
	}
	for _, tc := range tests {
		var out, errOut bytes.Buffer
		err := runQueryRange(context.Background(), tc.args, &out, &errOut)
		var u usageError
		if !errors.As(err, &u) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want a usage error about %s", tc.args, err, tc.want)
		}
	}
}
