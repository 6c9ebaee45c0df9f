package server

import (
	"net/http"

	"github.com/promgate/promgate/internal/datasource"
	"github.com/promgate/promgate/internal/promapi"
)

// serveCSV answers query and query_range as CSV.
func (s *Server) serveCSV(w http.ResponseWriter, r *http.Request, ds datasource.DataSource, req *promapi.Request) {
	promapi.WriteError(w, http.StatusNotAcceptable, "not_acceptable", "CSV output is not wired yet")
}
