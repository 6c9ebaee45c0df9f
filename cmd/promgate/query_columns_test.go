package main

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/promgate/promgate/internal/promtest"
)

// TestQueryColumnsBound: series that each carry their own label name would
// make every CSV row that many columns wide; promgate query refuses past
// --max-columns and says how to pick columns with --labels.
func TestQueryColumnsBound(t *testing.T) {
	s := promtest.Start(t)
	at := time.Now().Add(-time.Minute).Truncate(time.Second)
	for i := range 1001 { // one past the default --max-columns
		s.Append(t, labels.FromStrings("__name__", "wide_metric", "job", "w", fmt.Sprintf("l%04d", i), "v"), []int64{at.UnixMilli()}, []float64{float64(i)})
	}
	sec := strconv.FormatInt(at.Unix(), 10)
	tests := []struct {
		name    string
		cmd     func(context.Context, []string, *bytes.Buffer, *bytes.Buffer) error
		args    []string
		wantErr []string
		wantOut string
	}{
		{"default bound", queryFn, []string{"--time", sec, "wide_metric"},
			[]string{"more than 1000 distinct label names", "--labels", "--max-columns"}, ""},
		{"range, lower bound", rangeFn, []string{"--start", sec, "--end", sec, "--step", "1s", "--max-columns", "10", "wide_metric"},
			[]string{"more than 10 distinct label names", "--labels"}, ""},
		{"table", queryFn, []string{"--time", sec, "--format", "table", "wide_metric"},
			[]string{"more than 1000 distinct label names"}, ""},
		{"--labels picks the columns", queryFn, []string{"--time", sec, "--labels", "job,l0001", `wide_metric{l0001="v"} or wide_metric{l0002="v"}`},
			nil, "name,timestamp,value,job,l0001\nwide_metric," + sec + ",1,w,v\nwide_metric," + sec + ",2,w,\n"},
		{"too many --labels", queryFn, []string{"--time", sec, "--labels", "a,b,c", "--max-columns", "2", "wide_metric"},
			[]string{"more than 2 label columns asked for", "fewer --labels"}, ""},
		{"bad --max-columns", queryFn, []string{"--max-columns", "0", "wide_metric"},
			[]string{"--max-columns must be at least 1"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			began := time.Now()
			err := tt.cmd(context.Background(), append([]string{"--url", s.BaseURL}, tt.args...), &out, &errOut)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("%v\n%s", err, errOut.String())
				}
				if out.String() != tt.wantOut {
					t.Fatalf("got\n%s\nwant\n%s", out.String(), tt.wantOut)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error; %d bytes of output", out.Len())
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if out.Len() != 0 {
				t.Errorf("%d bytes written before the error", out.Len())
			}
			if d := time.Since(began); d > 10*time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
}

func queryFn(ctx context.Context, args []string, out, errOut *bytes.Buffer) error {
	return runQuery(ctx, args, out, errOut)
}

func rangeFn(ctx context.Context, args []string, out, errOut *bytes.Buffer) error {
	return runQueryRange(ctx, args, out, errOut)
}
