package querycache

import (
	"testing"
)

// TestSplitRange: every evaluation timestamp lands in exactly one part,
// in order, and no part crosses an interval boundary.
func TestSplitRange(t *testing.T) {
	cases := []struct{ start, end, step, interval int64 }{
		{0, 3600_000, 60_000, 3600_000},
		{1234, 7 * 3600_000, 7 * 60_000, 3600_000},
		{-5000, 5000, 1000, 3000},
		{1700000000123, 1700000000123 + 86400_000, 77_000, 3600_000},
		{10, 10, 5, 100},
		{0, 10 * 3600_000, 2 * 3600_000, 3600_000},
	}
	for _, c := range cases {
		parts := splitRange(c.start, c.end, c.step, c.interval)
		var got []int64
		for _, p := range parts {
			if floorTo(p.first, c.interval) != p.interval || floorTo(p.last, c.interval) != p.interval || p.last < p.first {
				t.Fatalf("%+v: part %+v crosses its interval", c, p)
			}
			for ts := p.first; ts <= p.last; ts += c.step {
				got = append(got, ts)
			}
		}
		var want []int64
		for ts := c.start; ts <= c.end; ts += c.step {
			want = append(want, ts)
		}
		if len(got) != len(want) {
			t.Fatalf("%+v: %d timestamps over the parts, want %d", c, len(got), len(want))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%+v: timestamp %d is %d, want %d", c, i, got[i], want[i])
			}
		}
	}
}

// TestTimeParsing: parameters read as Prometheus reads them, sample
// timestamps written as it writes them.
func TestTimeParsing(t *testing.T) {
	for in, want := range map[string]int64{
		"1700000000": 1700000000000, "1700000000.5": 1700000000500, "1700000000.001": 1700000000001,
		"2023-11-14T22:13:20.25Z": 1700000000250, "-1.5": -1500,
	} {
		got, err := parseTimeMs(in)
		if err != nil || got != want {
			t.Errorf("parseTimeMs(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for in, want := range map[string]int64{"30": 30000, "1m": 60000, "1m30s": 90000, "0.5": 500, "2h": 7200000} {
		got, err := parseStepMs(in)
		if err != nil || got != want {
			t.Errorf("parseStepMs(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "x", "NaN", "1e300", "0.0001"} {
		if _, err := parseStepMs(bad); err == nil && bad != "" {
			t.Errorf("parseStepMs(%q) accepted", bad)
		}
	}
	for ms, want := range map[int64]string{1700000000000: "1700000000", 1700000000500: "1700000000.500", 1700000000005: "1700000000.005", -1500: "-1.500"} {
		if got := formatMs(ms); got != want {
			t.Errorf("formatMs(%d) = %q, want %q", ms, got, want)
		}
		if back, ok := parseSampleTime(want); !ok || back != ms {
			t.Errorf("parseSampleTime(%q) = %d, %v", want, back, ok)
		}
	}
}
