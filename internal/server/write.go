package server

import (
	"fmt"
	"mime"
	"net/http"
	"strings"

	"github.com/klauspost/compress/snappy"
	remoteapi "github.com/prometheus/client_golang/exp/api/remote"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"

	"github.com/promgate/promgate/internal/enforce"
	"github.com/promgate/promgate/internal/promapi"
)

// maxDecodedWriteBytes bounds a remote_write body once decompressed: the
// bound of Prometheus' own receiver, checked here before anything of that
// size is allocated.
const maxDecodedWriteBytes = 32 << 20

// decideWrite decides, once, how a remote_write body is read: snappy, and
// which message it carries. That decision is used both to check the series against a label
// policy and, as a Content-Type built here, by the receiver: no two parsers
// ever read the caller's header. Prometheus' receiver splits on ";" and
// compares "proto=" literally, RFC 9110 trims spaces and ignores case; only
// a header both read the same way is accepted, anything else is refused
// (415) rather than guessed.
func decideWrite(h http.Header) (remoteapi.WriteMessageType, error) {
	refuse := func(format string, args ...any) error {
		return &promapi.Error{Status: http.StatusUnsupportedMediaType, Type: promapi.ErrBadData,
			Msg: fmt.Sprintf(format, args...) + "; send Content-Type application/x-protobuf (remote_write 1.0) or application/x-protobuf;proto=io.prometheus.write.v2.Request (2.0)"}
	}
	if enc := h.Values("Content-Encoding"); len(enc) > 1 || len(enc) == 1 && enc[0] != "" && enc[0] != "snappy" {
		return "", refuse("remote_write bodies are snappy-compressed, not %q", strings.Join(enc, ", "))
	}
	cts := h.Values("Content-Type")
	if len(cts) > 1 {
		return "", refuse("more than one Content-Type header")
	}
	if len(cts) == 0 || strings.TrimSpace(cts[0]) == "" {
		return remoteapi.WriteV1MessageType, nil // as Prometheus' receiver and the 1.0 spec's senders
	}
	ct := cts[0]
	literal, err := remoteapi.ParseProtoMsg(ct)
	if err != nil {
		return "", refuse("unsupported Content-Type %q", ct)
	}
	mediaType, params, err := mime.ParseMediaType(ct)
	if err != nil || mediaType != "application/x-protobuf" {
		return "", refuse("malformed Content-Type %q", ct)
	}
	parsed := remoteapi.WriteV1MessageType
	if p, ok := params["proto"]; ok {
		parsed = remoteapi.WriteMessageType(p)
	}
	if parsed != literal {
		return "", refuse("ambiguous Content-Type %q: its proto parameter reads as %q or %q depending on the parser", ct, literal, parsed)
	}
	return literal, nil
}

// canonicalContentType is the header the receiver is given for a decided
// message type.
func canonicalContentType(t remoteapi.WriteMessageType) string {
	return "application/x-protobuf;proto=" + string(t)
}

// checkWriteBody reads, from a snappy body's header, the length it decodes
// to and refuses it over maxDecodedWriteBytes, before anything of that size
// is allocated.
func checkWriteBody(body []byte) error {
	n, err := snappy.DecodedLen(body)
	if err != nil {
		return &promapi.Error{Status: http.StatusBadRequest, Type: promapi.ErrBadData, Msg: "remote_write body is not snappy-compressed: " + err.Error()}
	}
	if n > maxDecodedWriteBytes {
		return &promapi.Error{Status: http.StatusRequestEntityTooLarge, Type: promapi.ErrBadData,
			Msg: fmt.Sprintf("remote_write body decodes to %d bytes, more than the limit of %d (32 MiB)", n, maxDecodedWriteBytes)}
	}
	return nil
}

// seriesOutside decodes a remote_write body (checked by checkWriteBody) as
// a message of type t and counts the series the policy does not allow. A series with a label name
// twice counts as outside: which value would be checked is not defined.
func seriesOutside(t remoteapi.WriteMessageType, body []byte, policy *enforce.Policy) (int, error) {
	raw, err := snappy.Decode(nil, body)
	if err != nil {
		return 0, fmt.Errorf("remote_write body is not snappy-compressed: %w", err)
	}
	var b labels.ScratchBuilder
	outside := 0
	check := func(lbls labels.Labels) {
		if _, dup := lbls.HasDuplicateLabelNames(); dup || !policy.Allows(lbls) {
			outside++
		}
	}
	switch t {
	case remoteapi.WriteV1MessageType:
		var req prompb.WriteRequest
		if err := req.Unmarshal(raw); err != nil {
			return 0, fmt.Errorf("decode remote_write 1.0 body: %w", err)
		}
		for _, ts := range req.Timeseries {
			check(ts.ToLabels(&b, nil))
		}
	case remoteapi.WriteV2MessageType:
		var req writev2.Request
		if err := req.Unmarshal(raw); err != nil {
			return 0, fmt.Errorf("decode remote_write 2.0 body: %w", err)
		}
		for _, ts := range req.Timeseries {
			lbls, err := ts.ToLabels(&b, req.Symbols)
			if err != nil {
				return 0, fmt.Errorf("decode remote_write 2.0 labels: %w", err)
			}
			check(lbls)
		}
	default:
		return 0, fmt.Errorf("unsupported remote_write message %q", t)
	}
	return outside, nil
}
