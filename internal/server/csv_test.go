package server_test

import (
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/promgate/promgate/internal/promtest"
)

func TestQueryAnswersCSV(t *testing.T) {
	s := promtest.Start(t)
	at := time.Now().Add(-24 * time.Hour).Truncate(time.Hour)
	sec := func(d time.Duration) string { return strconv.FormatInt(at.Add(d).Unix(), 10) }
	s.Append(t, labels.FromStrings("__name__", "csv_metric", "job", "a,b", "note", `say "hi"`), []int64{at.UnixMilli() - 15000, at.UnixMilli()}, []float64{1.5, 2})
	s.Append(t, labels.FromStrings("__name__", "csv_metric", "job", "plain"), []int64{at.UnixMilli()}, []float64{3})

	tests := []struct {
		name, path string
		accept     string
		wantStatus int
		want       string
	}{
		{"instant format=csv", "query?" + url.Values{"query": {"csv_metric"}, "time": {sec(0)}, "format": {"csv"}}.Encode(), "", 200,
			"name,timestamp,value,job,note\ncsv_metric," + sec(0) + ",2,\"a,b\",\"say \"\"hi\"\"\"\ncsv_metric," + sec(0) + ",3,plain,\n"},
		{"range with Accept", "query_range?" + url.Values{"query": {`csv_metric{note!=""}`}, "start": {sec(-15 * time.Second)}, "end": {sec(0)}, "step": {"15"}}.Encode(), "text/csv", 200,
			"name,timestamp,value,job,note\ncsv_metric," + sec(-15*time.Second) + ",1.5,\"a,b\",\"say \"\"hi\"\"\"\ncsv_metric," + sec(0) + ",2,\"a,b\",\"say \"\"hi\"\"\"\n"},
		{"empty result", "query?" + url.Values{"query": {"nothing_here"}, "format": {"csv"}}.Encode(), "", 200, "name,timestamp,value\n"},
		{"errors stay JSON", "query?" + url.Values{"query": {"sum("}, "format": {"csv"}}.Encode(), "", 400, `"errorType":"bad_data"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(ctx(t), "GET", s.BaseURL+"/api/v1/"+tt.path, nil)
			if tt.accept != "" {
				req.Header.Set("Accept", tt.accept)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d: %s", resp.StatusCode, b)
			}
			if tt.wantStatus == 200 {
				if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
					t.Errorf("Content-Type %q", ct)
				}
				if string(b) != tt.want {
					t.Fatalf("got\n%s\nwant\n%s", b, tt.want)
				}
			} else if !strings.Contains(string(b), tt.want) {
				t.Fatalf("got %s, want it to contain %s", b, tt.want)
			}
		})
	}
}
