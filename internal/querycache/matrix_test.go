package querycache

import (
	"bytes"
	"testing"
)

// FuzzParseAnswer: whatever a backend (or a Memcached entry) holds, reading
// it never panics or hangs, and an answer that reads re-encodes to one
// that reads the same.
func FuzzParseAnswer(f *testing.F) {
	for _, seed := range []string{
		`{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"__name__":"up","job":"a"},"values":[[1700000000,"1"],[1700000030.5,"NaN"]]}]}}`,
		`{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"histograms":[[1,{"count":"1","sum":"2","buckets":[[0,"0","1","1"]]}]]}]},"warnings":["w"],"infos":["i"]}`,
		`{"status":"success","data":{"resultType":"matrix","result":[]},"isPartial":true}`,
		`{"status":"error","errorType":"bad_data","error":"x"}`,
		`{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"a":"b"},"values":[[1,"1","2"]]}]}}`,
		`{"status":"success","data":{"resultType":"matrix","result":[{"values":[[1,"1"]]}]}}`,
		`{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"a":1}}]}}`,
		`[`, ``, `null`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		a, err := parseAnswer(body)
		if err != nil {
			return
		}
		enc := merge([]*answer{a}).encode()
		b, err := parseAnswer(enc)
		if err != nil {
			t.Fatalf("re-encoded answer does not read: %v\n%s", err, enc)
		}
		if again := merge([]*answer{b}).encode(); !bytes.Equal(again, enc) {
			t.Fatalf("encoding is not stable:\n%s\n%s", enc, again)
		}
	})
}
