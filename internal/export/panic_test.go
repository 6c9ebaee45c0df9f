package export

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/promgate/promgate/internal/panics"
)

// panicReader is a response body whose reader has a bug: it panics after
// part of a valid answer.
type panicReader struct{ r io.Reader }

func (p *panicReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if err == io.EOF {
		panic("reader bug")
	}
	return n, err
}

func (p *panicReader) Close() error { return nil }

// TestConvertPanicIsAnError: a panic in one of the converter's goroutines
// comes back as Convert's error (the server runs it for requests, where an
// unrecovered panic would stop the process). Formats that decode in the
// caller's goroutine (table) let a panic reach the caller as one.
func TestConvertPanicIsAnError(t *testing.T) {
	const part = `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"m"},"value":[1,"1"]}`
	for _, f := range []Format{CSV, TSV} {
		t.Run(string(f), func(t *testing.T) {
			exp := Exporter{Options: Options{Format: f}}
			err := exp.Convert(context.Background(), io.Discard, &panicReader{r: strings.NewReader(part)}, false)
			var pe *panics.Error
			if !errors.As(err, &pe) || pe.Value != "reader bug" || !strings.Contains(string(pe.Stack), "panic_test.go") {
				t.Fatalf("err = %v, want the recovered panic", err)
			}
		})
	}
}
