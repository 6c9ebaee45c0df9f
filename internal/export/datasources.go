package export

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"time"
)

// DataSourcePathHint is how a promgate data source's base URL ends.
const DataSourcePathHint = "/api-server/v1/grafana/api/datasources/proxy/<id>"

const (
	apiServerPath      = "/api-server/"
	dataSourceListPath = "/api-server/v1/grafana/api/datasources"
)

// dataSourcePath matches the end of a data source base path, by id or uid.
var dataSourcePath = regexp.MustCompile(`/api-server/v1/grafana/api/datasources/proxy/(\d+|uid/[^/]+)$`)

// IsDataSourceURL reports whether the base URL ends in a promgate data
// source path (/proxy/<id> or /proxy/uid/<uid>).
func (c *Client) IsDataSourceURL() bool { return dataSourcePath.MatchString(c.base.Path) }

// DataSource is one data source a credential may use, from promgate's
// Grafana-style list.
type DataSource struct {
	ID   int64
	UID  string
	Name string
	Env  string
	Site string
	// URL is the base URL to give --url (no credentials in it).
	URL string
}

// DataSources asks the promgate at the client's host which data sources
// the client's credential may use (GET /api-server/v1/grafana/api/datasources).
// The list is looked for beside /api-server/ when the base URL holds it, else
// under the base URL's path, then at the host's root.
func (c *Client) DataSources(ctx context.Context) ([]DataSource, error) {
	prefix := c.base.Path
	if i := strings.Index(prefix, apiServerPath); i >= 0 {
		prefix = prefix[:i]
	}
	prefix = strings.TrimRight(prefix, "/")
	out, err := c.dataSources(ctx, prefix)
	if err != nil && prefix != "" {
		if root, rootErr := c.dataSources(ctx, ""); rootErr == nil {
			return root, nil
		}
	}
	return out, err
}

func (c *Client) dataSources(ctx context.Context, prefix string) ([]DataSource, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	u := *c.base
	u.Path, u.RawQuery = prefix+dataSourceListPath, ""
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("building request: %w", err)
	}
	if c.hasAuth {
		req.SetBasicAuth(c.user, c.pass)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "promgate-cli")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("listing data sources: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 || isHTML(resp.Header.Get("Content-Type")) {
		return nil, fmt.Errorf("listing data sources: %w", readAPIError(resp))
	}
	var items []struct {
		ID       int64  `json:"id"`
		UID      string `json:"uid"`
		Name     string `json:"name"`
		URL      string `json:"url"`
		JSONData struct {
			Env  string `json:"env"`
			Site string `json:"site"`
		} `json:"jsonData"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(&items); err != nil {
		return nil, fmt.Errorf("listing data sources: not promgate's data source list: %w", err)
	}
	out := make([]DataSource, 0, len(items))
	for _, it := range items {
		ds := DataSource{ID: it.ID, UID: it.UID, Name: it.Name, Env: it.JSONData.Env, Site: it.JSONData.Site}
		base := u
		base.Path = fmt.Sprintf("%s%s/proxy/%d", prefix, dataSourceListPath, it.ID)
		if strings.HasPrefix(it.URL, apiServerPath) {
			base.Path = prefix + it.URL
		}
		ds.URL = base.String()
		out = append(out, ds)
	}
	return out, nil
}
