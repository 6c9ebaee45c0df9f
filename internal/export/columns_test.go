package export

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

// wideBody is a query answer of n series, each with its own label name.
func wideBody(n int, matrix bool) string {
	var b strings.Builder
	rt := "vector"
	if matrix {
		rt = "matrix"
	}
	fmt.Fprintf(&b, `{"status":"success","data":{"resultType":%q,"result":[`, rt)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		if matrix {
			fmt.Fprintf(&b, `{"metric":{"__name__":"m","l%d":"v"},"values":[[1,"1"],[2,"1"]]}`, i)
		} else {
			fmt.Fprintf(&b, `{"metric":{"__name__":"m","l%d":"v"},"value":[1,"1"]}`, i)
		}
	}
	b.WriteString("]}}")
	return b.String()
}

// TestColumnsBound: csv, tsv and table refuse a result with more distinct
// label names than MaxColumns, writing nothing; at the bound they write it.
func TestColumnsBound(t *testing.T) {
	tests := []struct {
		name    string
		opt     Options
		series  int
		matrix  bool
		wantErr bool
		fixed   bool
	}{
		{"csv at the bound", Options{Format: CSV, MaxColumns: 5}, 5, false, false, false},
		{"csv over the bound", Options{Format: CSV, MaxColumns: 5}, 6, false, true, false},
		{"tsv range over the bound", Options{Format: TSV, MaxColumns: 5}, 6, true, true, false},
		{"table over the bound", Options{Format: Table, MaxColumns: 5}, 6, true, true, false},
		{"default bound", Options{Format: CSV}, DefaultMaxColumns + 1, false, true, false},
		{"default bound reached", Options{Format: CSV}, DefaultMaxColumns, false, false, false},
		{"labels pick columns", Options{Format: CSV, MaxColumns: 5, Labels: []string{"l1", "l2"}}, 100, false, false, false},
		{"too many labels asked for", Options{Format: CSV, MaxColumns: 1, Labels: []string{"l1", "l2"}}, 2, false, true, true},
		{"wide is not bounded by labels", Options{Format: Wide, MaxColumns: 5}, 6, true, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ex := &Exporter{Options: tt.opt}
			var out bytes.Buffer
			body := io.NopCloser(strings.NewReader(wideBody(tt.series, tt.matrix)))
			err := ex.Convert(context.Background(), &out, body, tt.matrix)
			if !tt.wantErr {
				if err != nil {
					t.Fatal(err)
				}
				if out.Len() == 0 {
					t.Fatal("no output")
				}
				return
			}
			var ce *ColumnsError
			if !errors.As(err, &ce) || ce.Fixed != tt.fixed || ce.Max != tt.opt.maxColumns() {
				t.Fatalf("want a ColumnsError (fixed %v), got %v", tt.fixed, err)
			}
			if out.Len() != 0 {
				t.Fatalf("%d bytes written before the error: %.200s", out.Len(), out.String())
			}
		})
	}
}

// TestColumnsBoundRange: a chunked range export is refused at the first
// chunk, before the header, and the rest of the chunks are not written.
func TestColumnsBoundRange(t *testing.T) {
	f := &fakeAPI{}
	for i := range 50 {
		f.series = append(f.series, fakeSeries{metric: map[string]string{"__name__": "a", fmt.Sprintf("l%d", i): "v"}, value: constant("1")})
	}
	ex := &Exporter{Client: startFake(t, f), ChunkPoints: 10, Concurrency: 1, Options: Options{MaxColumns: 10}}
	var out bytes.Buffer
	err := ex.Range(context.Background(), &out, "a", time.Unix(0, 0), time.Unix(999, 0), time.Second)
	var ce *ColumnsError
	if !errors.As(err, &ce) || ce.Max != 10 {
		t.Fatalf("got %v", err)
	}
	if out.Len() != 0 {
		t.Fatalf("%d bytes written", out.Len())
	}
	if n := f.requestCount(); n > 3 {
		t.Fatalf("%d of 100 chunks fetched after the refusal", n)
	}
}
