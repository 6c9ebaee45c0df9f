package server

import (
	"fmt"
	"mime"
	"strings"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"

	"github.com/promgate/promgate/internal/enforce"
)

// seriesOutside decodes a remote_write body (1.0 or 2.0, snappy) and counts
// the series whose labels the policy does not allow.
func seriesOutside(contentType string, body []byte, policy *enforce.Policy) (int, error) {
	raw, err := snappy.Decode(nil, body)
	if err != nil {
		return 0, fmt.Errorf("remote_write body is not snappy-compressed: %w", err)
	}
	proto := "prometheus.WriteRequest"
	if _, params, err := mime.ParseMediaType(contentType); err == nil && params["proto"] != "" {
		proto = params["proto"]
	}
	var b labels.ScratchBuilder
	outside := 0
	switch strings.TrimSpace(proto) {
	case "prometheus.WriteRequest":
		var req prompb.WriteRequest
		if err := req.Unmarshal(raw); err != nil {
			return 0, fmt.Errorf("decode remote_write 1.0 body: %w", err)
		}
		for _, ts := range req.Timeseries {
			if !policy.Allows(ts.ToLabels(&b, nil)) {
				outside++
			}
		}
	case "io.prometheus.write.v2.Request":
		var req writev2.Request
		if err := req.Unmarshal(raw); err != nil {
			return 0, fmt.Errorf("decode remote_write 2.0 body: %w", err)
		}
		for _, ts := range req.Timeseries {
			lbls, err := ts.ToLabels(&b, req.Symbols)
			if err != nil {
				return 0, fmt.Errorf("decode remote_write 2.0 labels: %w", err)
			}
			if !policy.Allows(lbls) {
				outside++
			}
		}
	default:
		return 0, fmt.Errorf("unsupported remote_write message %q", proto)
	}
	return outside, nil
}
