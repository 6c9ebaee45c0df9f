package datasource_test

import (
	"github.com/promgate/promgate/internal/mgmtapi"
	"github.com/promgate/promgate/internal/server"
)

const (
	proxyPath = server.ProxyPrefix
	dsAPI     = mgmtapi.DataSourcesPrefix
)
