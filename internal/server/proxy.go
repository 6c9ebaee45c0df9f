package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/promgate/promgate/internal/access"
	"github.com/promgate/promgate/internal/datasource"
	"github.com/promgate/promgate/internal/enforce"
	"github.com/promgate/promgate/internal/panics"
	"github.com/promgate/promgate/internal/promapi"
)

func (s *Server) serveProxy(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, ProxyPrefix)
	uid, byUID := strings.CutPrefix(rest, "uid/")
	if byUID {
		rest = uid
	}
	ident, apiPath, ok := strings.Cut(rest, "/")
	if !ok || ident == "" {
		promapi.WriteError(w, http.StatusNotFound, promapi.ErrNotFound, "no data source in path")
		return
	}
	endpoint, labelName, ok := promapi.ParsePath(apiPath)
	if !ok {
		promapi.WriteError(w, http.StatusNotFound, promapi.ErrNotFound, "not a proxied Prometheus API path: promgate passes on api/v1/query, query_range, series, labels, label/NAME/values, metadata, query_exemplars, format_query and status/buildinfo")
		return
	}
	p := access.PrincipalFrom(r.Context())
	if !p.Can(access.ActionQuery) {
		promapi.WriteError(w, http.StatusForbidden, promapi.ErrForbidden, "this credential may not read metrics")
		return
	}
	ds, err := s.opts.Registry.Lookup(r.Context(), ident, byUID)
	if err != nil {
		if errors.Is(err, datasource.ErrNotFound) {
			promapi.WriteError(w, http.StatusNotFound, promapi.ErrNotFound, "data source not found: GET /api-server/v1/grafana/api/datasources lists the ones you may use")
			return
		}
		if !promapi.WriteServerError(w, err, "data source lookup failed") {
			s.opts.Logger.Error("data source lookup failed", "ident", ident, "err", err)
		}
		return
	}
	if !p.MayUseDataSource(ds.Info().ID) {
		promapi.WriteError(w, http.StatusForbidden, promapi.ErrForbidden, "this credential may not use this data source")
		return
	}
	req, err := promapi.ParseRequest(r, endpoint, labelName)
	if err != nil {
		promapi.WriteRequestError(w, err)
		return
	}
	policy, err := p.Policy()
	if err != nil {
		// Selectors are validated when credentials are made; a bad one here
		// means the row was tampered with: fail closed.
		s.opts.Logger.Error("stored label selector does not parse", "principal", principalName(p), "err", err)
		promapi.WriteError(w, http.StatusForbidden, promapi.ErrForbidden, "credential label selector is invalid")
		return
	}
	done, ok := s.admitQuery(w, r, p)
	if !ok {
		return
	}
	defer done()
	if policy != nil {
		if err := policy.Confine(req); err != nil {
			promapi.WriteRequestError(w, err)
			return
		}
		if req.Endpoint == promapi.EndpointMetadata {
			s.serveConfinedMetadata(w, r, ds, req, policy)
			return
		}
	}
	// From here the request is the one the backend sees, after the label
	// policy: the query cache keys its entries by it.
	ds = s.opts.QueryCache.Wrap(ds, r.Header)
	if req.CSV {
		s.serveCSV(w, r, ds, req)
		return
	}
	resp, err := ds.Query(r.Context(), req)
	if err != nil {
		s.dataSourceFailed(w, r, ds, err)
		return
	}
	defer func() { _ = resp.Body.Close() }()
	s.relay(w, r, resp)
}

// serveConfinedMetadata answers /metadata with only the metric families
// whose series the policy lets the caller see: metadata has no labels, so
// the family names themselves would otherwise leak.
func (s *Server) serveConfinedMetadata(w http.ResponseWriter, r *http.Request, ds datasource.DataSource, req *promapi.Request, policy *enforce.Policy) {
	namesReq, err := policy.MetricNamesRequest()
	if err != nil {
		promapi.WriteError(w, http.StatusInternalServerError, promapi.ErrInternal, "build metadata filter")
		return
	}
	var names struct {
		Data []string `json:"data"`
	}
	if !s.fetchJSON(w, r, ds, namesReq, &names) {
		return
	}
	var meta struct {
		Data map[string]json.RawMessage `json:"data"`
	}
	if !s.fetchJSON(w, r, ds, req, &meta) {
		return
	}
	out := enforce.FilterMetadata(meta.Data, names.Data)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": out})
}

// fetchJSON runs req against ds and decodes a success answer into v; on
// failure it answers w and returns false.
func (s *Server) fetchJSON(w http.ResponseWriter, r *http.Request, ds datasource.DataSource, req *promapi.Request, v any) bool {
	resp, err := ds.Query(r.Context(), req)
	if err != nil {
		s.dataSourceFailed(w, r, ds, err)
		return false
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		s.relay(w, r, resp)
		return false
	}
	body, err := readBounded(resp.Body, maxBufferedAnswer)
	if errors.Is(err, errTooLarge) {
		promapi.WriteError(w, http.StatusBadGateway, promapi.ErrUnavailable, fmt.Sprintf(
			"data source %q sent a %s answer of more than %d MiB (decoded), the most promgate filters in memory for a label-limited credential",
			ds.Info().Name, req.Endpoint, maxBufferedAnswer>>20))
		return false
	}
	if err != nil {
		var perr *promapi.Error
		if !errors.As(err, &perr) && !errors.As(err, new(*panics.Error)) {
			err = &promapi.Error{Status: http.StatusBadGateway, Type: promapi.ErrUnavailable, Msg: fmt.Sprintf("data source %q answer cut short", ds.Info().Name)}
		}
		s.dataSourceFailed(w, r, ds, err)
		return false
	}
	if err := json.Unmarshal(body, v); err != nil {
		promapi.WriteError(w, http.StatusBadGateway, promapi.ErrUnavailable, fmt.Sprintf("data source %q answered with invalid JSON", ds.Info().Name))
		return false
	}
	return true
}

// maxBufferedAnswer bounds a data source answer held in memory (decoded:
// a backend's gzip answer can expand a thousandfold).
const maxBufferedAnswer = 64 << 20

// errTooLarge: an answer longer than promgate holds in memory.
var errTooLarge = errors.New("answer larger than promgate holds in memory")

// readBounded reads r whole, failing with errTooLarge past limit bytes.
// It doubles its buffer but never reserves past limit, so a huge answer
// costs at most about twice the limit in allocations (io.ReadAll's smaller
// steps would cost several times it).
func readBounded(r io.Reader, limit int) ([]byte, error) {
	buf := make([]byte, 0, 4096)
	for {
		if len(buf) == cap(buf) {
			if len(buf) > limit {
				return nil, errTooLarge
			}
			grown := make([]byte, len(buf), min(2*cap(buf), limit+1))
			copy(grown, buf)
			buf = grown
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if len(buf) > limit {
			return nil, errTooLarge
		}
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// grafanaDataSource is the shape of Grafana's GET /api/datasources items.
type grafanaDataSource struct {
	ID        int64          `json:"id"`
	UID       string         `json:"uid"`
	OrgID     int64          `json:"orgId"`
	Name      string         `json:"name"`
	Type      string         `json:"type"`
	TypeName  string         `json:"typeName"`
	Access    string         `json:"access"`
	URL       string         `json:"url"`
	BasicAuth bool           `json:"basicAuth"`
	IsDefault bool           `json:"isDefault"`
	ReadOnly  bool           `json:"readOnly"`
	JSONData  map[string]any `json:"jsonData"`
}

func (s *Server) serveDataSourceList(w http.ResponseWriter, r *http.Request) {
	p := access.PrincipalFrom(r.Context())
	if !p.Can(access.ActionQuery) {
		promapi.WriteError(w, http.StatusForbidden, promapi.ErrForbidden, "this credential may not read metrics")
		return
	}
	infos, err := s.opts.Registry.List(r.Context(), p.MayUseDataSource)
	if err != nil {
		if !promapi.WriteServerError(w, err, "list data sources failed") {
			s.opts.Logger.Error("list data sources", "err", err)
		}
		return
	}
	out := []grafanaDataSource{}
	for _, in := range infos {
		out = append(out, grafanaDataSource{
			ID: in.ID, UID: in.UID, OrgID: 1, Name: in.Name, Type: "prometheus", TypeName: "Prometheus",
			Access: "proxy", URL: fmt.Sprintf("%s%d", ProxyPrefix, in.ID), IsDefault: in.Embedded, ReadOnly: true,
			JSONData: map[string]any{"env": in.Env, "site": in.Site, "httpMethod": "POST"},
		})
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}
