package export

import (
	"bytes"
	"fmt"
	"testing"
)

// countSink counts what the decoder hands out, so the benchmark measures
// the decoder alone.
type countSink struct{ nSeries, samples int }

func (c *countSink) begin(string) error          { return nil }
func (c *countSink) series(Metric) error         { c.nSeries++; return nil }
func (c *countSink) sample(_, _ []byte) error    { c.samples++; return nil }
func (c *countSink) histogram(_, _ []byte) error { c.samples++; return nil }
func (c *countSink) end() error                  { return nil }

// BenchmarkDecode decodes a query_range answer of 1,000 series x 100
// samples (about 4 MB) into a sink that only counts.
func BenchmarkDecode(b *testing.B) {
	var buf bytes.Buffer
	buf.WriteString(`{"status":"success","data":{"resultType":"matrix","result":[`)
	for i := range 1000 {
		if i > 0 {
			buf.WriteByte(',')
		}
		fmt.Fprintf(&buf, `{"metric":{"__name__":"bench_metric","instance":"host-%d:9100","job":"bench"},"values":[`, i)
		for k := range 100 {
			if k > 0 {
				buf.WriteByte(',')
			}
			fmt.Fprintf(&buf, `[%d.5,"%d.25"]`, 1700000000+15*k, i*k)
		}
		buf.WriteString("]}")
	}
	buf.WriteString(`]}}`)
	raw := buf.Bytes()
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		var s countSink
		if err := decodeResponse(bytes.NewReader(raw), &s, decodeOptions{}); err != nil {
			b.Fatal(err)
		}
		if s.nSeries != 1000 || s.samples != 100000 {
			b.Fatalf("decoded %d series, %d samples", s.nSeries, s.samples)
		}
	}
}
