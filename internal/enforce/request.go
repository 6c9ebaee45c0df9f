package enforce

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/promgate/promgate/internal/promapi"
)

// ErrEndpointNotConfined is the answer for an endpoint Confine does not
// know how to confine: it is refused rather than passed on.
var ErrEndpointNotConfined = errors.New("endpoint not available to label-limited credentials")

// Confine rewrites the canonical request req so that it can only read
// series inside p: the PromQL of query, query_range and query_exemplars,
// the match[] of series, labels and label values. The error is a
// *promapi.Error for the caller.
func (p *Policy) Confine(req *promapi.Request) error {
	switch req.Endpoint {
	case promapi.EndpointQuery, promapi.EndpointQueryRange, promapi.EndpointQueryExemplars:
		q := req.Params.Get("query")
		if q == "" {
			return nil // the backend answers the missing parameter itself
		}
		rewritten, err := p.RewriteQuery(q)
		if err != nil {
			return &promapi.Error{Status: http.StatusBadRequest, Type: promapi.ErrBadData, Msg: err.Error()}
		}
		req.Params.Set("query", rewritten)
	case promapi.EndpointSeries, promapi.EndpointLabels, promapi.EndpointLabelValues:
		matches, err := p.RewriteMatchers(req.Params["match[]"])
		if err != nil {
			return &promapi.Error{Status: http.StatusBadRequest, Type: promapi.ErrBadData, Msg: err.Error()}
		}
		req.Params["match[]"] = matches
	case promapi.EndpointMetadata, promapi.EndpointFormatQuery, promapi.EndpointBuildInfo:
		// No series are read: metadata is filtered by the caller
		// (MetricNamesRequest, FilterMetadata), the others return no data.
	default:
		return &promapi.Error{Status: http.StatusNotFound, Type: promapi.ErrNotFound, Msg: ErrEndpointNotConfined.Error()}
	}
	return nil
}

// MetricNamesRequest asks a data source for the metric names whose series
// p lets the caller see, to filter /metadata with: metadata has no labels,
// so the family names themselves would otherwise leak.
func (p *Policy) MetricNamesRequest() (*promapi.Request, error) {
	matches, err := p.RewriteMatchers(nil)
	if err != nil {
		return nil, err
	}
	return &promapi.Request{Endpoint: promapi.EndpointLabelValues, LabelName: "__name__", Params: map[string][]string{"match[]": matches}}, nil
}

// FilterMetadata keeps the metric families of meta (the data of a
// /metadata answer) whose name, or the name a histogram's or summary's
// series derive from it, is among names.
func FilterMetadata(meta map[string]json.RawMessage, names []string) map[string]json.RawMessage {
	visible := map[string]bool{}
	for _, n := range names {
		visible[n] = true
		for _, suffix := range []string{"_bucket", "_count", "_sum", "_total", "_created", "_info"} {
			if base, ok := strings.CutSuffix(n, suffix); ok {
				visible[base] = true
			}
		}
	}
	out := map[string]json.RawMessage{}
	for name, entries := range meta {
		if visible[name] {
			out[name] = entries
		}
	}
	return out
}
