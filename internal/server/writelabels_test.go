package server

import (
	"errors"
	"google.golang.org/protobuf/encoding/protowire"

	"slices"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
)

// referenceLabels decodes msg with the generated decoders Prometheus'
// receiver uses and returns each series' labels.
func referenceLabels(v2 bool, msg []byte) ([]string, error) {
	var b labels.ScratchBuilder
	var out []string
	if !v2 {
		var req prompb.WriteRequest
		if err := req.Unmarshal(msg); err != nil {
			return nil, err
		}
		for _, ts := range req.Timeseries {
			out = append(out, ts.ToLabels(&b, nil).String())
		}
		return out, nil
	}
	var req writev2.Request
	if err := req.Unmarshal(msg); err != nil {
		return nil, err
	}
	for _, ts := range req.Timeseries {
		l, err := ts.ToLabels(&b, req.Symbols)
		if err != nil {
			return nil, err
		}
		out = append(out, l.String())
	}
	return out, nil
}

func walkedLabels(v2 bool, msg []byte) ([]string, error) {
	var out []string
	w := labelWalker{check: func(l labels.Labels) { out = append(out, l.String()) }}
	var err error
	if v2 {
		err = w.walkV2(msg)
	} else {
		err = w.walkV1(msg)
	}
	return out, err
}

func v1Msg(series ...[]string) []byte {
	var req prompb.WriteRequest
	for _, s := range series {
		ts := prompb.TimeSeries{Samples: []prompb.Sample{{Timestamp: 1, Value: 2}}}
		for i := 0; i+1 < len(s); i += 2 {
			ts.Labels = append(ts.Labels, prompb.Label{Name: s[i], Value: s[i+1]})
		}
		req.Timeseries = append(req.Timeseries, ts)
	}
	req.Metadata = []prompb.MetricMetadata{{MetricFamilyName: "m", Help: "h"}}
	b, _ := req.Marshal()
	return b
}

func v2Msg(series ...[]string) []byte {
	req := writev2.Request{Symbols: []string{""}}
	for _, s := range series {
		ts := writev2.TimeSeries{Samples: []writev2.Sample{{Timestamp: 1, Value: 2}}}
		for _, l := range s {
			i := slices.Index(req.Symbols, l)
			if i < 0 {
				i = len(req.Symbols)
				req.Symbols = append(req.Symbols, l)
			}
			ts.LabelsRefs = append(ts.LabelsRefs, uint32(i))
		}
		req.Timeseries = append(req.Timeseries, ts)
	}
	b, _ := req.Marshal()
	return b
}

// FuzzLabelWalker: the label walker reads the same labels as the
// generated decoders for every message those accept; it may refuse a
// message they accept only never (a refused body is a 400, never a
// forwarded one), and what they refuse it may pass on, since the receiver
// then refuses it.
//
//	go test ./internal/server -run '^$' -fuzz FuzzLabelWalker -fuzztime 2m
func FuzzLabelWalker(f *testing.F) {
	a := []string{"__name__", "up", "env", "a"}
	b := []string{"__name__", "up", "env", "b", "job", "x"}
	dup := []string{"__name__", "up", "env", "a", "env", "b"}
	for _, m := range [][]byte{
		v1Msg(a), v1Msg(a, b), v1Msg(dup), v1Msg(), append(v1Msg(a), v1Msg(b)...),
		v2Msg(a), v2Msg(a, b), v2Msg(dup), v2Msg(), append(v2Msg(a), v2Msg(b)...),
		{0x0a, 0x02, 0x0a, 0x00}, // v1: a series with an empty label
		{0x2a, 0x02, 0x08, 0x05}, // v2: an unpacked ref out of range
	} {
		f.Add(false, m)
		f.Add(true, m)
	}
	f.Fuzz(func(t *testing.T, v2 bool, msg []byte) {
		want, refErr := referenceLabels(v2, msg)
		got, err := walkedLabels(v2, msg)
		if refErr != nil {
			return
		}
		if errors.Is(err, errFieldNumber) {
			return // refused on purpose: decoders disagree on such numbers
		}
		if err != nil {
			t.Fatalf("walker refuses a message the decoder accepts: %v (decoder: %q)", err, want)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("walker read %q, decoder %q", got, want)
		}
	})
}

// TestLabelWalkerReadsAsDecoder: bodies written to slip a series past a
// walker stricter or looser than the generated decoders: each must read
// the same labels as the decoder (or be refused by both).
func TestLabelWalkerReadsAsDecoder(t *testing.T) {
	hidden := []string{"__name__", "up", "env", "prod"}
	ts := prompb.TimeSeries{Labels: []prompb.Label{{Name: "__name__", Value: "up"}, {Name: "env", Value: "prod"}}}
	series, err := ts.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	// Field number 2^32+1 truncates to 1 in the decoders' int32 conversion.
	huge := protowire.AppendVarint(nil, uint64(1<<32+1)<<3|uint64(protowire.BytesType))
	cases := []struct {
		name    string
		v2      bool
		msg     []byte
		wantErr error // refused by the walker on purpose
	}{
		{"v1 series under a field number truncating to 1", false,
			protowire.AppendBytes(huge, series), errFieldNumber},
		{"v1 group closed by another field number, then a series", false,
			append([]byte{0x43, 0x24}, v1Msg(hidden)...), nil},
		{"v1 ten-byte varint in an unknown field, then a series", false,
			append([]byte{0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, v1Msg(hidden)...), nil},
		{"v2 ordinary series (control)", true,
			v2Msg(hidden), nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want, refErr := referenceLabels(tc.v2, tc.msg)
			got, err := walkedLabels(tc.v2, tc.msg)
			if refErr != nil {
				t.Fatalf("decoder refuses the case (%v): the case is wrong", refErr)
			}
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("walker: %v (read %q), want %v", err, got, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("walker refuses what the decoder reads as %q: %v", want, err)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("walker read %q, decoder %q", got, want)
			}
		})
	}
}
