package server_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang/snappy"

	"github.com/promgate/promgate/internal/promtest"
)

// TestCSVColumnsBounded: one remote_write plants 20,000 series that each
// carry a different label name. As CSV every row would repeat all 20,000
// columns (a 1 MB answer became 400 MB in 147 s); the converter refuses
// past 1,000 label columns with a 422 execution error before any row,
// at once and in a few hundred bytes.
func TestCSVColumnsBounded(t *testing.T) {
	s := promtest.Start(t)
	const n = 20000
	now := time.Now().Add(-time.Minute).Truncate(time.Second)
	var ss []series
	for i := range n {
		ss = append(ss, series{labels: []string{"__name__", "wide_metric", "job", "w", fmt.Sprintf("l%05d", i), "v"}, t: now.UnixMilli(), v: float64(i)})
	}
	status, msg, err := postWrite(ctx(t), s.URL+"/api/v1/write", s.Key, s.Token, snappy.Encode(nil, v1Body(ss...)))
	if err != nil || status != http.StatusNoContent {
		t.Fatalf("remote_write: %d %s %v", status, msg, err)
	}
	sec := strconv.FormatInt(now.Unix(), 10)
	tests := []struct {
		name, path, accept string
		wantStatus         int
	}{
		{"instant format=csv", "query?" + url.Values{"query": {"wide_metric"}, "time": {sec}, "format": {"csv"}}.Encode(), "", 422},
		{"range Accept text/csv", "query_range?" + url.Values{"query": {"wide_metric"}, "start": {strconv.FormatInt(now.Unix()-600, 10)}, "end": {sec}, "step": {"1"}}.Encode(), "text/csv", 422},
		// Under the bound the same data is served as before.
		{"a few of them", "query?" + url.Values{"query": {`wide_metric{l00001="v"} or wide_metric{l00002="v"}`}, "time": {sec}, "format": {"csv"}}.Encode(), "", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(ctx(t), "GET", s.BaseURL+"/api/v1/"+tt.path, nil)
			if tt.accept != "" {
				req.Header.Set("Accept", tt.accept)
			}
			began := time.Now()
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			// Read at most 1 MiB: unbounded, the answer would be hundreds of MB.
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			took := time.Since(began)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d after %v, %d bytes: %.300s", resp.StatusCode, took, len(b), b)
			}
			if took > 10*time.Second {
				t.Errorf("took %v", took)
			}
			if tt.wantStatus == 200 {
				want := "name,timestamp,value,job,l00001,l00002\nwide_metric," + sec + ",1,w,v,\nwide_metric," + sec + ",2,w,,v\n"
				if string(b) != want {
					t.Fatalf("got\n%s\nwant\n%s", b, want)
				}
				return
			}
			if len(b) > 4096 {
				t.Fatalf("error answer of %d bytes", len(b))
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q", ct)
			}
			var e struct{ Status, ErrorType, Error string }
			if err := json.Unmarshal(b, &e); err != nil {
				t.Fatalf("not Prometheus' error format: %v: %s", err, b)
			}
			if e.Status != "error" || e.ErrorType != "execution" ||
				!strings.Contains(e.Error, "more than 1000 distinct label names") ||
				!strings.Contains(e.Error, "sum by") {
				t.Fatalf("error %+v", e)
			}
			t.Logf("refused in %v: %s", took, e.Error)
		})
	}
}
