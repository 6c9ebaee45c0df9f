package enforce_test

import (
	"encoding/json"
	"errors"
	"net/url"
	"reflect"
	"slices"
	"testing"

	"github.com/promgate/promgate/internal/enforce"
	"github.com/promgate/promgate/internal/promapi"
)

// TestConfineHandlesEveryEndpoint: each endpoint promgate serves is
// confined on purpose; one added to promapi without a case here would be
// refused to label-limited callers, and this test names it.
func TestConfineHandlesEveryEndpoint(t *testing.T) {
	policy, err := enforce.ParsePolicy(`{env="prod"}`)
	if err != nil {
		t.Fatal(err)
	}
	for _, ep := range promapi.Endpoints() {
		req := &promapi.Request{Endpoint: ep, LabelName: "job", Params: url.Values{"query": {"up"}, "match[]": {"up"}}}
		var perr *promapi.Error
		if err := policy.Confine(req); errors.As(err, &perr) && perr.Msg == enforce.ErrEndpointNotConfined.Error() {
			t.Errorf("endpoint %q has no case in Policy.Confine", ep)
		} else if err != nil {
			t.Errorf("endpoint %q: %v", ep, err)
		}
	}
	if err := policy.Confine(&promapi.Request{Endpoint: "admin", Params: url.Values{}}); err == nil {
		t.Error("an unknown endpoint was not refused")
	}
}

func TestConfineRewrites(t *testing.T) {
	policy, err := enforce.ParsePolicy(`{env="prod"}`)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ep            promapi.Endpoint
		params, want  url.Values
		wantErrStatus int
	}{
		{promapi.EndpointQuery, url.Values{"query": {"up"}}, url.Values{"query": {`up{env="prod"}`}}, 0},
		{promapi.EndpointQueryRange, url.Values{"query": {"rate(x[5m])"}}, url.Values{"query": {`rate(x{env="prod"}[5m])`}}, 0},
		{promapi.EndpointQuery, url.Values{}, url.Values{}, 0},
		{promapi.EndpointQuery, url.Values{"query": {"up{"}}, nil, 400},
		{promapi.EndpointSeries, url.Values{}, url.Values{"match[]": {`{env="prod"}`}}, 0},
		{promapi.EndpointMetadata, url.Values{"limit": {"1"}}, url.Values{"limit": {"1"}}, 0},
	} {
		req := &promapi.Request{Endpoint: tc.ep, Params: tc.params}
		err := policy.Confine(req)
		var perr *promapi.Error
		if tc.wantErrStatus != 0 {
			if !errors.As(err, &perr) || perr.Status != tc.wantErrStatus {
				t.Errorf("%s %v: got %v, want status %d", tc.ep, tc.params, err, tc.wantErrStatus)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(req.Params, tc.want) {
			t.Errorf("%s: got %v %v, want %v", tc.ep, req.Params, err, tc.want)
		}
	}
}

func TestFilterMetadata(t *testing.T) {
	meta := map[string]json.RawMessage{"up": nil, "http_requests": nil, "latency": nil, "secret": nil, "build": nil}
	got := enforce.FilterMetadata(meta, []string{"up", "http_requests_total", "latency_bucket", "build_info"})
	var names []string
	for n := range got {
		names = append(names, n)
	}
	slices.Sort(names)
	if want := []string{"build", "http_requests", "latency", "up"}; !slices.Equal(names, want) {
		t.Fatalf("got %v, want %v", names, want)
	}
}
