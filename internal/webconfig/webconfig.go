// Package webconfig serves promgate's listener the way Prometheus' own
// components do: a --web.config.file read by
// github.com/prometheus/exporter-toolkit/web turns on TLS, client
// certificates, HTTP/2 and extra response headers, and is re-read on every
// new connection, so renewed certificates apply without a restart.
package webconfig

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"

	"github.com/prometheus/exporter-toolkit/web"
	"go.yaml.in/yaml/v2"
)

// Config is a checked web config file.
type Config struct {
	// File is the web config file; empty serves plain HTTP.
	File string
	// TLS reports whether the file turns TLS on (tls_server_config).
	TLS bool
	// ClientAuth is the file's client_auth_type, e.g.
	// RequireAndVerifyClientCert; empty when client certificates are off.
	ClientAuth string
}

// Load reads and checks file as exporter-toolkit will when serving
// (certificates load, the client CA parses, only allowed headers), so a
// mistake stops start-up before anything is opened. It refuses
// basic_auth_users: promgate's own key:token credentials travel as basic
// auth, and the toolkit would check them against that list instead.
func Load(file string) (Config, error) {
	c := Config{File: file}
	if file == "" {
		return c, nil
	}
	content, err := os.ReadFile(file)
	if err != nil {
		return c, fmt.Errorf("--web.config.file: %w", err)
	}
	var parsed web.Config
	if err := yaml.UnmarshalStrict(content, &parsed); err != nil {
		return c, fmt.Errorf("--web.config.file %s: %w", file, err)
	}
	if len(parsed.Users) > 0 {
		return c, fmt.Errorf("--web.config.file %s: basic_auth_users is not supported: promgate's key:token credentials use basic auth themselves; require client certificates (client_auth_type) to limit who may connect", file)
	}
	if err := web.Validate(file); err != nil {
		return c, fmt.Errorf("--web.config.file %s: %w", file, err)
	}
	c.TLS = parsed.TLSConfig.IsEnabled()
	c.ClientAuth = parsed.TLSConfig.ClientAuth
	if c.ClientAuth == "NoClientCert" {
		c.ClientAuth = ""
	}
	return c, nil
}

// Scheme is "https" when TLS is on, else "http".
func (c Config) Scheme() string {
	if c.TLS {
		return "https"
	}
	return "http"
}

// Serve serves srv on the already bound ln with the web config (plain HTTP
// when there is none) until srv is shut down; it returns
// http.ErrServerClosed then, like http.Server.Serve. It replaces
// srv.Handler with the toolkit's wrapper.
func (c Config) Serve(ln net.Listener, srv *http.Server, logger *slog.Logger) error {
	file := c.File
	err := web.Serve(ln, srv, &web.FlagConfig{WebConfigFile: &file}, logger.With("component", "web"))
	if err != nil && !errors.Is(err, http.ErrServerClosed) && file != "" {
		return fmt.Errorf("--web.config.file %s: %w", file, err)
	}
	return err
}

// WarnIfPlaintext logs a warning when addr can be reached from beyond
// loopback and TLS is off, and reports whether it did. Call it once, after
// binding.
func (c Config) WarnIfPlaintext(logger *slog.Logger, addr net.Addr) bool {
	tcp, ok := addr.(*net.TCPAddr)
	if c.TLS || !ok || tcp.IP.IsLoopback() {
		return false
	}
	logger.Warn("listening beyond loopback without TLS: passwords, session cookies and API tokens cross the network in clear text; serve TLS with --web.config.file (see README), or listen on 127.0.0.1 behind a TLS-terminating proxy",
		"address", addr.String())
	return true
}
