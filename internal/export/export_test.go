package export

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"image/png"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	jsoniter "github.com/json-iterator/go"
	"github.com/prometheus/prometheus/util/jsonutil"
)

// fakeSeries is one series of the fake API: a value at t (ms), or absent.
type fakeSeries struct {
	metric map[string]string
	value  func(t int64) (string, bool)
}

// fakeAPI serves /api/v1/query and /api/v1/query_range from fake series with
// Prometheus' JSON shape and its 11,000-point limit, answering in random order.
type fakeAPI struct {
	series   []fakeSeries
	mu       sync.Mutex
	requests []Chunk
	user     string
	pass     string
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f.user != "" {
		u, p, ok := r.BasicAuth()
		if !ok || u != f.user || p != f.pass {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprintln(w, "unauthorized")
			return
		}
	}
	sec := func(name string) int64 {
		v, _ := strconv.ParseFloat(r.FormValue(name), 64)
		return int64(math.Round(v * 1000))
	}
	var start, end, step int64
	switch r.URL.Path {
	case "/api/v1/query":
		start, end, step = sec("time"), sec("time"), 1
	case "/api/v1/query_range":
		start, end, step = sec("start"), sec("end"), sec("step")
		if step <= 0 || (end-start)/step > 11000 {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"status":"error","errorType":"bad_data","error":"exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"}`)
			return
		}
		f.mu.Lock()
		f.requests = append(f.requests, Chunk{start, end})
		f.mu.Unlock()
	default:
		http.NotFound(w, r)
		return
	}
	time.Sleep(time.Duration(rand.IntN(3)) * time.Millisecond)
	var b bytes.Buffer
	rt := "matrix"
	if r.URL.Path == "/api/v1/query" {
		rt = "vector"
	}
	fmt.Fprintf(&b, `{"status":"success","data":{"resultType":%q,"result":[`, rt)
	n := 0
	for _, s := range f.series {
		var pts []string
		for t := start; t <= end; t += step {
			if v, ok := s.value(t); ok {
				pts = append(pts, fmt.Sprintf("[%s,%q]", appendAPITimestamp(nil, t), v))
			}
		}
		if len(pts) == 0 {
			continue
		}
		if n > 0 {
			b.WriteByte(',')
		}
		n++
		m, _ := json.Marshal(s.metric)
		if rt == "vector" {
			fmt.Fprintf(&b, `{"metric":%s,"value":%s}`, m, pts[0])
		} else {
			fmt.Fprintf(&b, `{"metric":%s,"values":[%s]}`, m, strings.Join(pts, ","))
		}
	}
	b.WriteString("]}}")
	w.Header().Set("Content-Type", "application/json")
	w.Write(b.Bytes())
}

func (f *fakeAPI) requestCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.requests)
}

func constant(v string) func(int64) (string, bool) {
	return func(int64) (string, bool) { return v, true }
}

func startFake(t *testing.T, f *fakeAPI) *Client {
	t.Helper()
	srv := httptest.NewServer(f) // listens on 127.0.0.1
	t.Cleanup(srv.Close)
	c, err := NewClient(srv.URL, "", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func readCSV(t *testing.T, s string) [][]string {
	t.Helper()
	r := csv.NewReader(strings.NewReader(s))
	r.FieldsPerRecord = -1
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatalf("output is not valid CSV: %v\n%s", err, s)
	}
	return recs
}

func TestCSVEscaping(t *testing.T) {
	tests := []struct {
		name        string
		value       string
		spreadsheet bool
		wantCell    string // as written
	}{
		{"plain", "api", false, "api"},
		{"comma", "a,b", false, `"a,b"`},
		{"quote", `say "hi"`, false, `"say ""hi"""`},
		{"newline", "line1\nline2", false, "\"line1\nline2\""},
		{"carriage return", "a\rb", false, "\"a\rb\""},
		{"leading space kept bare", " x", false, " x"},
		{"formula without flag", "=1+1", false, "=1+1"},
		{"formula with flag", "=1+1", true, "'=1+1"},
		{"at with flag", "@SUM(A1)", true, "'@SUM(A1)"},
		{"minus with flag and comma", "-2,3", true, `"'-2,3"`},
		{"unicode", "héllo ✓", false, "héllo ✓"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeAPI{series: []fakeSeries{{
				metric: map[string]string{"__name__": "m", "job": tc.value},
				value:  constant("-1"),
			}}}
			ex := &Exporter{Client: startFake(t, f), Options: Options{Format: CSV, Spreadsheet: tc.spreadsheet}}
			var out bytes.Buffer
			if err := ex.Instant(context.Background(), &out, "m", time.UnixMilli(1681837357000)); err != nil {
				t.Fatal(err)
			}
			want := "name,timestamp,value,job\nm,1681837357,-1," + tc.wantCell + "\n"
			if out.String() != want {
				t.Fatalf("got  %q\nwant %q", out.String(), want)
			}
			recs := readCSV(t, out.String())
			got := recs[1][3]
			if tc.spreadsheet && formulaLike(tc.value) {
				got = strings.TrimPrefix(got, "'")
			}
			if got != tc.value {
				t.Fatalf("label read back as %q, want %q", got, tc.value)
			}
			if recs[1][2] != "-1" {
				t.Fatalf("a number must never be escaped, got %q", recs[1][2])
			}
		})
	}
}

func TestTSVEscaping(t *testing.T) {
	f := &fakeAPI{series: []fakeSeries{{
		metric: map[string]string{"__name__": "m", "a": "x\ty", "b": `c:\dir` + "\n"},
		value:  constant("NaN"),
	}}}
	ex := &Exporter{Client: startFake(t, f), Options: Options{Format: TSV}}
	var out bytes.Buffer
	if err := ex.Instant(context.Background(), &out, "m", time.UnixMilli(1000)); err != nil {
		t.Fatal(err)
	}
	want := "name\ttimestamp\tvalue\ta\tb\nm\t1\tNaN\tx\\ty\tc:\\\\dir\\n\n"
	if out.String() != want {
		t.Fatalf("got %q, want %q", out.String(), want)
	}
}

func TestSpecialValues(t *testing.T) {
	tests := []struct{ value, want string }{
		{"NaN", "NaN"}, {"+Inf", "+Inf"}, {"-Inf", "-Inf"}, {"1e-07", "1e-07"},
		{"0.1", "0.1"}, {"-0", "-0"}, {"123456789012345680000", "123456789012345680000"},
	}
	for _, tc := range tests {
		t.Run(tc.value, func(t *testing.T) {
			f := &fakeAPI{series: []fakeSeries{{metric: map[string]string{"__name__": "m"}, value: constant(tc.value)}}}
			ex := &Exporter{Client: startFake(t, f)}
			var out bytes.Buffer
			if err := ex.Instant(context.Background(), &out, "m", time.UnixMilli(1500)); err != nil {
				t.Fatal(err)
			}
			if want := "name,timestamp,value\nm,1.5," + tc.want + "\n"; out.String() != want {
				t.Fatalf("got %q, want %q", out.String(), want)
			}
		})
	}
}

func TestTimestampFormatting(t *testing.T) {
	tests := []struct {
		raw  string // as the API may send it
		ms   int64
		want string // Python's str(json.loads(raw))
	}{
		{"1681837357", 1681837357000, "1681837357"},
		{"1681837357.5", 1681837357500, "1681837357.5"},
		{"1681837357.500", 1681837357500, "1681837357.5"},
		{"1681837357.123", 1681837357123, "1681837357.123"},
		{"1681837357.05", 1681837357050, "1681837357.05"},
		{"0.001", 1, "0.001"},
		{"-1.5", -1500, "-1.5"},
		{"0", 0, "0"},
	}
	for _, tc := range tests {
		t.Run(tc.raw, func(t *testing.T) {
			if got := string(appendCanonTimestamp(nil, []byte(tc.raw))); got != tc.want {
				t.Errorf("canon(%s) = %s, want %s", tc.raw, got, tc.want)
			}
			if got := string(appendTimestamp(nil, tc.ms)); got != tc.want {
				t.Errorf("appendTimestamp(%d) = %s, want %s", tc.ms, got, tc.want)
			}
			if ms, err := parseTimestampMs([]byte(tc.raw)); err != nil || ms != tc.ms {
				t.Errorf("parseTimestampMs(%s) = %d, %v; want %d", tc.raw, ms, err, tc.ms)
			}
		})
	}
	// Python's float repr for non-timestamp-like numbers.
	for raw, want := range map[string]string{"1e16": "1e+16", "1.0": "1.0", "0.00001": "1e-05", "1234.5e2": "123450.0"} {
		if got := string(appendCanonTimestamp(nil, []byte(raw))); got != want {
			t.Errorf("canon(%s) = %s, want %s", raw, got, want)
		}
	}
}

func TestPromFloatMatchesPrometheus(t *testing.T) {
	vals := []float64{0, 1, -1, 0.1, 1e-6, 9.99e-7, 1e21, 9.9e20, 123.456, math.NaN(), math.Inf(1), math.Inf(-1), math.Copysign(0, -1), math.MaxFloat64, math.SmallestNonzeroFloat64}
	for range 1000 {
		vals = append(vals, math.Float64frombits(rand.Uint64()))
	}
	stream := jsoniter.NewStream(jsoniter.ConfigCompatibleWithStandardLibrary, nil, 64)
	for _, v := range vals {
		stream.SetBuffer(nil)
		jsonutil.MarshalFloat(v, stream)
		want := strings.Trim(string(stream.Buffer()), `"`)
		if got := string(appendPromFloat(nil, v)); got != want {
			t.Fatalf("appendPromFloat(%v) = %s, Prometheus writes %s", v, got, want)
		}
	}
	for _, ms := range []int64{0, 1, 999, 1000, 1681837357500, -1500, -1} {
		stream.SetBuffer(nil)
		jsonutil.MarshalTimestamp(ms, stream)
		if got := string(appendAPITimestamp(nil, ms)); got != string(stream.Buffer()) {
			t.Fatalf("appendAPITimestamp(%d) = %s, Prometheus writes %s", ms, got, stream.Buffer())
		}
	}
}

func TestPlanChunks(t *testing.T) {
	tests := []struct {
		name               string
		start, end, step   int64
		points, wantChunks int
	}{
		{"one point", 0, 0, 1000, 1000, 1},
		{"exact fit", 0, 999_000, 1000, 1000, 1},
		{"one over", 0, 1_000_000, 1000, 1000, 2},
		{"unaligned end", 0, 10_500, 1000, 3, 4},
		{"prometheus max", 0, 100_000_000, 1000, 20000, 10},
		{"odd step", 7, 7 + 12345*1500, 1500, 777, 16},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			chunks, err := PlanChunks(tc.start, tc.end, tc.step, tc.points)
			if err != nil {
				t.Fatal(err)
			}
			if len(chunks) != tc.wantChunks {
				t.Fatalf("%d chunks, want %d: %v", len(chunks), tc.wantChunks, chunks)
			}
			next := tc.start
			for _, c := range chunks {
				if c.Start != next {
					t.Fatalf("chunk %v starts at %d, want %d (gap or overlap)", c, c.Start, next)
				}
				if (c.End-c.Start)/tc.step >= PrometheusMaxPoints || (c.End-c.Start)%tc.step != 0 {
					t.Fatalf("chunk %v is not accepted by Prometheus or not aligned", c)
				}
				next = c.End + tc.step
			}
			if last := chunks[len(chunks)-1].End; last > tc.end || last+tc.step <= tc.end {
				t.Fatalf("last point %d does not end the range at %d", last, tc.end)
			}
		})
	}
	if _, err := PlanChunks(10, 0, 1, 10); err == nil {
		t.Fatal("end before start accepted")
	}
	if _, err := PlanChunks(0, 10, 0, 10); err == nil {
		t.Fatal("zero step accepted")
	}
}

func TestRangeChunkBoundaries(t *testing.T) {
	const step = 15_000
	start := int64(1_700_000_000_000)
	// A series with a point at every step, one only at even steps, one that
	// starts in the middle: each point must appear exactly once.
	f := &fakeAPI{series: []fakeSeries{
		{metric: map[string]string{"__name__": "a", "i": "1"}, value: func(t int64) (string, bool) { return strconv.FormatInt(t, 10), true }},
		{metric: map[string]string{"__name__": "b", "i": "2"}, value: func(t int64) (string, bool) {
			return strconv.FormatInt(t, 10), ((t-start)/step)%2 == 0
		}},
		{metric: map[string]string{"__name__": "c", "i": "3"}, value: func(t int64) (string, bool) {
			return strconv.FormatInt(t, 10), t >= start+500*step
		}},
	}}
	client := startFake(t, f)
	tests := []struct {
		name        string
		points      int
		conc        int
		totalPoints int64
	}{
		{"single request", 2000, 4, 1000},
		{"split by 7", 7, 4, 1000},
		{"split by 100 sequential", 100, 1, 1001},
		{"one point chunks", 1, 3, 50},
		{"prometheus limit", 11000, 2, 25000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f.mu.Lock()
			f.requests = nil
			f.mu.Unlock()
			end := start + (tc.totalPoints-1)*step
			ex := &Exporter{Client: client, ChunkPoints: tc.points, Concurrency: tc.conc}
			var out bytes.Buffer
			if err := ex.Range(context.Background(), &out, "q", time.UnixMilli(start), time.UnixMilli(end), step*time.Millisecond); err != nil {
				t.Fatal(err)
			}
			recs := readCSV(t, out.String())
			if strings.Join(recs[0], ",") != "name,timestamp,value,i" {
				t.Fatalf("header %v", recs[0])
			}
			seen := map[string]bool{}
			count := map[string]int64{}
			last := map[string]float64{}
			for _, r := range recs[1:] {
				key := r[0] + "@" + r[1]
				if seen[key] {
					t.Fatalf("duplicate sample %s", key)
				}
				seen[key] = true
				count[r[0]]++
				ts, _ := strconv.ParseFloat(r[1], 64)
				if ts <= last[r[0]] {
					t.Fatalf("series %s out of time order at %s", r[0], r[1])
				}
				last[r[0]] = ts
				if want := strconv.FormatInt(int64(ts*1000), 10); r[2] != want {
					t.Fatalf("sample %s has value %s, want %s", key, r[2], want)
				}
			}
			wantB := (tc.totalPoints + 1) / 2
			wantC := max(0, tc.totalPoints-500)
			if count["a"] != tc.totalPoints || count["b"] != wantB || count["c"] != wantC {
				t.Fatalf("counts a=%d b=%d c=%d, want %d %d %d", count["a"], count["b"], count["c"], tc.totalPoints, wantB, wantC)
			}
			wantReq := int((tc.totalPoints + int64(tc.points) - 1) / int64(tc.points))
			if n := f.requestCount(); n != wantReq {
				t.Fatalf("%d requests, want %d", n, wantReq)
			}
		})
	}
}

func TestEmptyResult(t *testing.T) {
	client := startFake(t, &fakeAPI{})
	tests := []struct {
		format Format
		want   string
	}{
		{CSV, "name,timestamp,value\n"},
		{TSV, "name\ttimestamp\tvalue\n"},
		{Table, "NAME  TIME  VALUE\n"},
		{Wide, "timestamp\n"},
		{JSON, `{"status":"success","data":{"resultType":"matrix","result":[]}}` + "\n"},
	}
	for _, tc := range tests {
		t.Run(string(tc.format), func(t *testing.T) {
			ex := &Exporter{Client: client, Options: Options{Format: tc.format}}
			var out bytes.Buffer
			if err := ex.Range(context.Background(), &out, "q", time.Unix(0, 0), time.Unix(100, 0), time.Second); err != nil {
				t.Fatal(err)
			}
			if out.String() != tc.want {
				t.Fatalf("got %q, want %q", out.String(), tc.want)
			}
		})
	}
}

func TestNewLabelInLaterChunk(t *testing.T) {
	f := &fakeAPI{series: []fakeSeries{
		{metric: map[string]string{"__name__": "a", "job": "x"}, value: constant("1")},
		{metric: map[string]string{"__name__": "a", "job": "x", "pod": "p"}, value: func(t int64) (string, bool) { return "2", t >= 50_000 }},
	}}
	client := startFake(t, f)
	ex := &Exporter{Client: client, ChunkPoints: 10}
	var out bytes.Buffer
	err := ex.Range(context.Background(), &out, "a", time.Unix(0, 0), time.Unix(99, 0), time.Second)
	var he *HeaderError
	if !errors.As(err, &he) || he.Label != "pod" || !strings.Contains(err.Error(), "--labels job,pod") {
		t.Fatalf("want a HeaderError naming pod and the fix, got %v", err)
	}
	// With the columns fixed up front the export succeeds.
	out.Reset()
	ex.Options.Labels = []string{"job", "pod"}
	if err := ex.Range(context.Background(), &out, "a", time.Unix(0, 0), time.Unix(99, 0), time.Second); err != nil {
		t.Fatal(err)
	}
	if recs := readCSV(t, out.String()); len(recs) != 1+100+50 {
		t.Fatalf("%d rows", len(recs))
	}
}

func TestCharts(t *testing.T) {
	f := &fakeAPI{series: []fakeSeries{
		{metric: map[string]string{"__name__": "sin", "k": "1"}, value: func(t int64) (string, bool) {
			return strconv.FormatFloat(math.Sin(float64(t)/1e5), 'f', -1, 64), true
		}},
		{metric: map[string]string{"__name__": "gappy"}, value: func(t int64) (string, bool) {
			if t/1000%50 == 7 {
				return "NaN", true
			}
			return "1", t/1000%100 < 60
		}},
	}}
	client := startFake(t, f)
	for _, format := range []Format{PNG, SVG} {
		t.Run(string(format), func(t *testing.T) {
			ex := &Exporter{Client: client, ChunkPoints: 100, Options: Options{Format: format, Title: "test"}}
			var out bytes.Buffer
			if err := ex.Range(context.Background(), &out, "q", time.Unix(0, 0), time.Unix(999, 0), time.Second); err != nil {
				t.Fatal(err)
			}
			if format == PNG {
				img, err := png.Decode(&out)
				if err != nil {
					t.Fatalf("not a PNG: %v", err)
				}
				if b := img.Bounds(); b.Dx() != 1200 || b.Dy() != 600 {
					t.Fatalf("size %v", b)
				}
				return
			}
			d := xml.NewDecoder(&out)
			root := ""
			for {
				tok, err := d.Token()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("SVG is not XML: %v", err)
				}
				if se, ok := tok.(xml.StartElement); ok && root == "" {
					root = se.Name.Local
				}
			}
			if root != "svg" {
				t.Fatalf("root element %q", root)
			}
		})
	}
	ex := &Exporter{Client: client, Options: Options{Format: PNG}}
	if err := ex.Instant(context.Background(), io.Discard, "q", time.Time{}); !errors.Is(err, ErrChartNeedsRange) {
		t.Fatalf("chart of an instant query: %v", err)
	}
}

func TestServerErrors(t *testing.T) {
	f := &fakeAPI{user: "key", pass: "token"}
	srv := httptest.NewServer(f)
	defer srv.Close()
	tests := []struct {
		name    string
		url     string
		step    time.Duration
		points  int
		wantSub []string
	}{
		{"bad auth", strings.Replace(srv.URL, "http://", "http://key:wrong@", 1), time.Second, 100, []string{"HTTP 401 Unauthorized", "unauthorized"}},
		{"too many points", strings.Replace(srv.URL, "http://", "http://key:token@", 1), time.Millisecond, PrometheusMaxPoints + 5000, []string{"HTTP 400 Bad Request", "bad_data", "exceeded maximum resolution"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewClient(tc.url, "", "", nil)
			if err != nil {
				t.Fatal(err)
			}
			// Bypass the planner's clamp to provoke the server's own limit.
			body, err := c.QueryRange(context.Background(), "q", 0, int64(tc.points)*tc.step.Milliseconds(), tc.step.Milliseconds())
			if err == nil {
				body.Close()
				t.Fatal("no error")
			}
			var ae *APIError
			if !errors.As(err, &ae) {
				t.Fatalf("not an APIError: %v", err)
			}
			for _, s := range tc.wantSub {
				if !strings.Contains(err.Error(), s) {
					t.Fatalf("error %q does not contain %q", err, s)
				}
			}
		})
	}
	// key/token flags win over userinfo.
	c, _ := NewClient(strings.Replace(srv.URL, "http://", "http://key:wrong@", 1), "key", "token", nil)
	if err := (&Exporter{Client: c}).Instant(context.Background(), io.Discard, "q", time.Time{}); err != nil {
		t.Fatalf("explicit key/token: %v", err)
	}
}

func TestDecoderShapes(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"pretty printed, metric last", `{
		  "status": "success",
		  "warnings": ["w1"],
		  "data": {"resultType": "matrix", "result": [
		     {"values": [[1, "1"], [2.5, "2"]], "metric": {"job": "j\u00e9\ud83d\ude00", "__name__": "m"}}
		  ]}}`, "name,timestamp,value,job\nm,1,1,jé😀\nm,2.5,2,jé😀\n"},
		{"data before status", `{"data":{"resultType":"vector","result":[{"metric":{},"value":[3,"4"]}]},"status":"success"}`,
			"name,timestamp,value\n,3,4\n"},
		{"scalar", `{"status":"success","data":{"resultType":"scalar","result":[1681837357.5,"0.0000001"]}}`,
			"name,timestamp,value\n,1681837357.5,0.0000001\n"},
		{"string", `{"status":"success","data":{"resultType":"string","result":[1,"a,b"]}}`,
			"name,timestamp,value\n,1,\"a,b\"\n"},
		{"histogram", `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"h"},"histogram":[1,{"count":"3","sum":"4","buckets":[[0,"0.5","1","2"]]}]}]}}`,
			"name,timestamp,value\nh,1,\"{\"\"count\"\":\"\"3\"\",\"\"sum\"\":\"\"4\"\",\"\"buckets\"\":[[0,\"\"0.5\"\",\"\"1\"\",\"\"2\"\"]]}\"\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, tc.body) }))
			defer srv.Close()
			c, _ := NewClient(srv.URL, "", "", nil)
			var warns []string
			ex := &Exporter{Client: c, Warn: func(k, m string) { warns = append(warns, k+":"+m) }}
			var out bytes.Buffer
			if err := ex.Instant(context.Background(), &out, "q", time.Time{}); err != nil {
				t.Fatal(err)
			}
			if out.String() != tc.want {
				t.Fatalf("got  %q\nwant %q", out.String(), tc.want)
			}
			if strings.Contains(tc.body, "w1") && (len(warns) != 1 || warns[0] != "warning:w1") {
				t.Fatalf("warnings %v", warns)
			}
		})
	}
	// Truncated and error bodies fail.
	for _, body := range []string{`{"status":"success","data":{"resultType":"vector","result":[{"metric":{}`, `{"status":"error","errorType":"execution","error":"boom"}`} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) }))
		c, _ := NewClient(srv.URL, "", "", nil)
		err := (&Exporter{Client: c}).Instant(context.Background(), io.Discard, "q", time.Time{})
		srv.Close()
		if err == nil {
			t.Fatalf("no error for %s", body)
		}
	}
}

type failWriter struct{ n int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.n -= len(p); f.n < 0 {
		return 0, io.ErrClosedPipe
	}
	return len(p), nil
}

func TestWriteErrorStopsExport(t *testing.T) {
	f := &fakeAPI{series: []fakeSeries{{metric: map[string]string{"__name__": "a"}, value: constant("1")}}}
	ex := &Exporter{Client: startFake(t, f), ChunkPoints: 10, Concurrency: 4}
	err := ex.Range(context.Background(), &failWriter{n: 1000}, "a", time.Unix(0, 0), time.Unix(100_000, 0), time.Second)
	if !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("got %v", err)
	}
	if n := f.requestCount(); n > 20 {
		t.Fatalf("%d requests after the writer failed: the export did not stop", n)
	}
}

func TestWholeResultBound(t *testing.T) {
	f := &fakeAPI{series: []fakeSeries{{metric: map[string]string{"__name__": "a"}, value: constant("1")}}}
	ex := &Exporter{Client: startFake(t, f), ChunkPoints: 10, Options: Options{Format: Wide, MaxSamples: 50}}
	err := ex.Range(context.Background(), io.Discard, "a", time.Unix(0, 0), time.Unix(100, 0), time.Second)
	var tm *TooManySamplesError
	if !errors.As(err, &tm) || tm.Format != Wide {
		t.Fatalf("got %v", err)
	}
}

func TestWideAndTable(t *testing.T) {
	f := &fakeAPI{series: []fakeSeries{
		{metric: map[string]string{"__name__": "a", "job": "=cmd"}, value: constant("1")},
		{metric: map[string]string{"__name__": "b"}, value: func(t int64) (string, bool) { return "-2", t >= 1000 }},
	}}
	client := startFake(t, f)
	ex := &Exporter{Client: client, Options: Options{Format: Wide}}
	var out bytes.Buffer
	if err := ex.Range(context.Background(), &out, "q", time.Unix(0, 0), time.Unix(1, 0), time.Second); err != nil {
		t.Fatal(err)
	}
	want := "timestamp,\"a{job=\"\"=cmd\"\"}\",b{}\n0,1,\n1,1,-2\n"
	if out.String() != want {
		t.Fatalf("wide: got %q, want %q", out.String(), want)
	}
	out.Reset()
	ex.Options.Format = Table
	if err := ex.Range(context.Background(), &out, "q", time.Unix(0, 0), time.Unix(1, 0), time.Second); err != nil {
		t.Fatal(err)
	}
	want = "NAME  TIME                  VALUE  JOB\n" // tabwriter pads; check loosely below
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "NAME  TIME") || !strings.Contains(lines[1], "1970-01-01T00:00:00Z  1") {
		t.Fatalf("table:\n%s(want like %q)", out.String(), want)
	}
}

func TestJSONMergedAcrossChunks(t *testing.T) {
	f := &fakeAPI{series: []fakeSeries{
		{metric: map[string]string{"__name__": "a", "job": "x"}, value: func(t int64) (string, bool) { return strconv.FormatInt(t%7, 10), true }},
		{metric: map[string]string{"__name__": "b"}, value: func(t int64) (string, bool) { return "NaN", t%3000 != 0 }},
	}}
	client := startFake(t, f)
	decode := func(points int) any {
		ex := &Exporter{Client: client, ChunkPoints: points, Options: Options{Format: JSON}}
		var out bytes.Buffer
		if err := ex.Range(context.Background(), &out, "q", time.UnixMilli(500), time.UnixMilli(500+99_000), time.Second); err != nil {
			t.Fatal(err)
		}
		var v any
		if err := json.Unmarshal(out.Bytes(), &v); err != nil {
			t.Fatalf("invalid JSON: %v\n%s", err, out.String())
		}
		return v
	}
	one, merged := decode(1000), decode(7)
	a, _ := json.Marshal(one)
	b, _ := json.Marshal(merged)
	if !bytes.Equal(a, b) {
		t.Fatalf("merged chunks differ from one request:\n%s\n%s", a, b)
	}
}

func TestProgressBar(t *testing.T) {
	var out bytes.Buffer
	b := NewBar(&out)
	b.Update(5, 10, 123)
	b.Update(6, 10, 150) // throttled
	b.Update(10, 10, 300)
	b.Finish()
	s := out.String()
	if !strings.Contains(s, " 50%") || !strings.Contains(s, "100%") || strings.Contains(s, " 60%") || !strings.HasSuffix(s, "\r\033[K") {
		t.Fatalf("bar output %q", s)
	}
	if IsTerminal(&out) {
		t.Fatal("a buffer is not a terminal")
	}
}

func TestHeaderFromFirstNonEmptyChunk(t *testing.T) {
	// Data starts in the fourth chunk: the header must come from there, once.
	f := &fakeAPI{series: []fakeSeries{
		{metric: map[string]string{"__name__": "a", "job": "x"}, value: func(t int64) (string, bool) { return "1", t >= 35_000 }},
		{metric: map[string]string{"__name__": "a", "pod": "p"}, value: func(t int64) (string, bool) { return "2", t >= 38_000 }},
	}}
	client := startFake(t, f)
	for _, conc := range []int{1, 4} {
		ex := &Exporter{Client: client, ChunkPoints: 10, Concurrency: conc}
		var out bytes.Buffer
		if err := ex.Range(context.Background(), &out, "a", time.Unix(0, 0), time.Unix(99, 0), time.Second); err != nil {
			t.Fatal(err)
		}
		recs := readCSV(t, out.String())
		if strings.Join(recs[0], ",") != "name,timestamp,value,job,pod" || len(recs) != 1+65+62 {
			t.Fatalf("concurrency %d: header %v, %d records", conc, recs[0], len(recs))
		}
	}
	// Fixed labels: header written once by chunk 0 even when it is empty.
	ex := &Exporter{Client: client, ChunkPoints: 10, Options: Options{Labels: []string{"pod"}}}
	var out bytes.Buffer
	if err := ex.Range(context.Background(), &out, "a", time.Unix(0, 0), time.Unix(99, 0), time.Second); err != nil {
		t.Fatal(err)
	}
	if recs := readCSV(t, out.String()); strings.Join(recs[0], ",") != "name,timestamp,value,pod" || len(recs) != 1+65+62 {
		t.Fatalf("fixed labels: header %v, %d records", recs[0], len(recs))
	}
}
