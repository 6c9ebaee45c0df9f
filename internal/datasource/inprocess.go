package datasource

import (
	"context"
	"net/http"
	"net/url"

	"github.com/promgate/promgate/internal/inprocess"
	"github.com/promgate/promgate/internal/promapi"
)

// InProcess is a data source answered by an http.Handler in this process:
// the embedded store's Prometheus API handlers.
type InProcess struct {
	info Info
	h    *inprocess.Handler
}

// NewInProcess returns a data source that answers through h. h sees a
// fresh request built from the canonical one, under the path /api/v1/...
func NewInProcess(info Info, h http.Handler) *InProcess {
	return &InProcess{info: info, h: inprocess.New(h)}
}

// Info implements DataSource.
func (d *InProcess) Info() Info { return d.info }

// Query implements DataSource.
func (d *InProcess) Query(ctx context.Context, req *promapi.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancel(ctx)
	hr, err := req.NewHTTPRequest(ctx, &url.URL{Path: "/"})
	if err != nil {
		cancel()
		return nil, &promapi.Error{Status: http.StatusInternalServerError, Type: promapi.ErrInternal, Msg: err.Error()}
	}
	return d.h.Do(ctx, cancel, hr)
}
