package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/config"

	"github.com/promgate/promgate/internal/app"
	"github.com/promgate/promgate/internal/audit"
	"github.com/promgate/promgate/internal/datasource"
	"github.com/promgate/promgate/internal/manage"
	"github.com/promgate/promgate/internal/mgmtapi"
	"github.com/promgate/promgate/internal/promapi"
	"github.com/promgate/promgate/internal/store"
)

const adminDatasourceHelp = `Adds, lists, tests and removes remote data sources.

Passwords and tokens are read from files ("-" for stdin), never from arguments.
TLS files are PEM, read when adding: the store keeps their content (the key
sealed like the passwords), so every replica has them without the files.
Give the server's --secret-key-file. A running server sees changes within
about a second.
`

// headerFlags collects repeated --header K=V.
type headerFlags map[string]string

func (h headerFlags) String() string { return fmt.Sprint(map[string]string(h)) }

// IsCumulative lets kingpin take --header more than once.
func (h headerFlags) IsCumulative() bool { return true }

func (h headerFlags) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || strings.TrimSpace(k) == "" {
		return fmt.Errorf("want K=V, got %q", v)
	}
	h[strings.TrimSpace(k)] = val
	return nil
}

type dsCmd struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	store          *adminStore
	m              *manage.Manager
	actorName      string
	keyFile        string

	name, url, env, site, uid    string
	writeURL                     string
	user, passwordFile           string
	tokenFile, output            string
	headers                      headerFlags
	oauth2ID, oauth2SecretFile   string
	oauth2TokenURL, oauth2Scope  string
	caFile, certFile, tlsKeyFile string
	serverName, proxyURL         string
	insecureSkipVerify           bool
	noCache, noStepAlign         bool
	timeout                      time.Duration
	id                           int64
}

// addAdminDatasource defines `promgate admin datasource` and its commands
// with their flags.
func (cl *cli) addAdminDatasource(admin *kingpin.CmdClause, s *adminStore) {
	c := &dsCmd{stdin: cl.stdin, stdout: cl.stdout, stderr: cl.stderr, store: s, headers: headerFlags{}}
	cmd := admin.Command("datasource", "Manage remote data sources.").HelpLong(adminDatasourceHelp)
	output := func(cmd *kingpin.CmdClause) {
		cmd.Flag("output", "text or json.").Default("text").EnumVar(&c.output, "text", "json")
	}
	add := cmd.Command("add", "Add a remote data source.")
	add.Flag("name", "Name of the data source.").Required().StringVar(&c.name)
	add.Flag("url", "Base URL of the Prometheus API, e.g. http://prometheus:9090 or https://mimir/prometheus.").Required().StringVar(&c.url)
	add.Flag("write-url", "remote_write URL of the backend, e.g. http://thanos-receive:19291/api/v1/receive or https://mimir/api/v1/push (default: the data source takes no writes).").PlaceHolder("URL").StringVar(&c.writeURL)
	add.Flag("env", "Environment, e.g. prod.").Required().StringVar(&c.env)
	add.Flag("site", "Site, e.g. a region or cluster.").StringVar(&c.site)
	add.Flag("uid", "Uid (default: random).").StringVar(&c.uid)
	add.Flag("basic-auth-user", "Basic auth user.").StringVar(&c.user)
	add.Flag("basic-auth-password-file", `File holding the basic auth password ("-": stdin).`).PlaceHolder("FILE").StringVar(&c.passwordFile)
	add.Flag("bearer-token-file", `File holding a bearer token ("-": stdin).`).PlaceHolder("FILE").StringVar(&c.tokenFile)
	add.Flag("oauth2-client-id", "OAuth2 client credentials: client id.").StringVar(&c.oauth2ID)
	add.Flag("oauth2-client-secret-file", `File holding the OAuth2 client secret ("-": stdin).`).PlaceHolder("FILE").StringVar(&c.oauth2SecretFile)
	add.Flag("oauth2-token-url", "OAuth2 token URL.").StringVar(&c.oauth2TokenURL)
	add.Flag("oauth2-scopes", "OAuth2 scopes, comma-separated.").StringVar(&c.oauth2Scope)
	add.Flag("ca-file", "PEM file of the CA certificate(s) that sign the backend's certificate (default: the system's).").PlaceHolder("FILE").StringVar(&c.caFile)
	add.Flag("cert-file", "PEM file of the client certificate, for backends that require one (mutual TLS).").PlaceHolder("FILE").StringVar(&c.certFile)
	add.Flag("key-file", "PEM file of the client certificate's key.").PlaceHolder("FILE").StringVar(&c.tlsKeyFile)
	add.Flag("server-name", "Name to verify the backend's certificate against (default: the URL's host).").StringVar(&c.serverName)
	add.Flag("insecure-skip-verify", "Do not verify the backend's certificate (testing only).").BoolVar(&c.insecureSkipVerify)
	add.Flag("proxy-url", "HTTP(S) or SOCKS5 proxy to reach the backend through (default: HTTPS_PROXY/HTTP_PROXY from the environment).").StringVar(&c.proxyURL)
	add.Flag("header", "Extra header K=V sent to the backend, e.g. X-Scope-OrgID=tenant (repeatable).").PlaceHolder("K=V").SetValue(c.headers)
	add.Flag("timeout", "Time a request to the backend may take.").Default(datasource.DefaultTimeout.String()).DurationVar(&c.timeout)
	add.Flag("no-query-cache", "Send every query to the backend as it is: no results cache, splitting or step alignment.").BoolVar(&c.noCache)
	add.Flag("no-step-align", "Keep range queries' start and end as asked instead of rounding them down to the step (the query cache still splits and caches them).").BoolVar(&c.noStepAlign)
	output(add)
	output(cmd.Command("list", "List data sources."))
	for _, name := range []string{"test", "remove"} {
		help := "Test a data source's connection, by --id or --uid."
		if name == "remove" {
			help = "Remove a data source, by --id or --uid."
		}
		sub := cmd.Command(name, help)
		sub.Flag("id", "Id of the data source.").Int64Var(&c.id)
		sub.Flag("uid", "Uid of the data source.").StringVar(&c.uid)
	}
	for name, run := range map[string]func(context.Context) error{"add": c.add, "list": c.list, "test": c.test, "remove": c.remove} {
		cl.runners["admin datasource "+name] = func(ctx context.Context) error { return c.run(ctx, run) }
	}
}

// run opens the store and the secret key through app.OpenAdmin and runs
// one command on them.
func (c *dsCmd) run(ctx context.Context, run func(context.Context) error) error {
	a, err := app.OpenAdmin(ctx, app.AdminConfig{
		DataDir: c.store.dataDir, StoreURL: c.store.storeURL, SecretKeyFile: c.store.keyFile,
		DataSources: true, Logger: adminLogger(c.stderr),
	})
	if err != nil {
		return err
	}
	defer func() { _ = a.Close() }()
	if a.KeyCreated {
		_, _ = fmt.Fprintf(c.stderr, "created secret key file %s: the server must use the same file\n", a.KeyFile)
	}
	c.m, c.keyFile, c.actorName = a.Manage, a.KeyFile, cliActorName()
	return run(ctx)
}

// readSecretFile reads a password or token: the whole file, less one
// trailing newline.
func (c *dsCmd) readSecretFile(path string) (string, error) {
	var (
		raw []byte
		err error
	)
	if path == "-" {
		raw, err = io.ReadAll(io.LimitReader(c.stdin, 64<<10))
	} else {
		raw, err = os.ReadFile(path)
	}
	if err != nil {
		return "", fmt.Errorf("read secret file: %w", err)
	}
	s := strings.TrimSuffix(strings.TrimSuffix(string(raw), "\n"), "\r")
	if s == "" {
		return "", usageErr("secret file %s is empty", path)
	}
	return s, nil
}

func (c *dsCmd) add(ctx context.Context) error {
	switch {
	case c.tokenFile != "" && (c.user != "" || c.passwordFile != ""):
		return usageErr("give basic auth or --bearer-token-file, not both")
	case c.passwordFile != "" && c.user == "":
		return usageErr("--basic-auth-password-file needs --basic-auth-user")
	}
	s := datasource.Settings{UID: c.uid, Name: c.name, URL: c.url, WriteURL: c.writeURL, Env: c.env, Site: c.site, Timeout: c.timeout,
		Cache: datasource.CacheSettings{Disabled: c.noCache, NoStepAlign: c.noStepAlign}}
	s.SetHeaders(c.headers)
	var password, token, clientSecret, key string
	var err error
	for _, f := range []struct {
		path string
		out  *string
	}{
		{c.passwordFile, &password}, {c.tokenFile, &token}, {c.oauth2SecretFile, &clientSecret}, {c.tlsKeyFile, &key},
	} {
		if f.path != "" {
			if *f.out, err = c.readSecretFile(f.path); err != nil {
				return err
			}
		}
	}
	if c.user != "" {
		s.SetBasicAuth(c.user, password)
	}
	s.SetBearerToken(token)
	if c.oauth2ID != "" || c.oauth2TokenURL != "" || clientSecret != "" {
		s.HTTP.OAuth2 = &config.OAuth2{ClientID: c.oauth2ID, ClientSecret: config.Secret(clientSecret), TokenURL: c.oauth2TokenURL}
		for sc := range strings.SplitSeq(c.oauth2Scope, ",") {
			if sc = strings.TrimSpace(sc); sc != "" {
				s.HTTP.OAuth2.Scopes = append(s.HTTP.OAuth2.Scopes, sc)
			}
		}
	}
	t := &s.HTTP.TLSConfig
	t.Key, t.ServerName, t.InsecureSkipVerify = config.Secret(key), c.serverName, c.insecureSkipVerify
	for _, f := range []struct {
		path string
		out  *string
	}{{c.caFile, &t.CA}, {c.certFile, &t.Cert}} {
		if f.path != "" {
			raw, err := os.ReadFile(f.path)
			if err != nil {
				return fmt.Errorf("read certificate file: %w", err)
			}
			*f.out = string(raw)
		}
	}
	if c.proxyURL != "" {
		u, err := url.Parse(c.proxyURL)
		if err != nil {
			return usageErr("--proxy-url does not parse")
		}
		s.HTTP.ProxyURL = config.URL{URL: u}
	}
	s, err = c.m.CreateDataSource(ctx, c.actor(), s)
	if msg, ok := badData(err); ok {
		return usageErr("%s", msg)
	}
	if errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("a data source named %q (or with that uid) already exists", c.name)
	}
	if err != nil {
		return err
	}
	if c.output == "json" {
		return c.writeJSON(mgmtapi.ViewOf(manage.StoredDataSource{Settings: s}, true))
	}
	_, err = fmt.Fprintf(c.stdout, "added data source %q: id %d, uid %s\nquery it at /api-server/v1/grafana/api/datasources/proxy/%d/api/v1/query\n", s.Name, s.ID, s.UID, s.ID)
	if err == nil && s.WriteURL != "" {
		_, err = fmt.Fprintf(c.stdout, "remote_write to it at /api-server/v1/grafana/api/datasources/proxy/%d/api/v1/write\n", s.ID)
	}
	return err
}

func (c *dsCmd) list(ctx context.Context) error {
	all, err := c.m.DataSources(ctx)
	if err != nil {
		return err
	}
	sort.Slice(all, func(i, j int) bool { return all[i].ID < all[j].ID })
	views := make([]mgmtapi.View, 0, len(all))
	for _, s := range all {
		views = append(views, mgmtapi.ViewOf(s, true))
	}
	if c.output == "json" {
		return c.writeJSON(views)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	_, _ = fmt.Fprintln(tw, "ID\tUID\tNAME\tENV\tSITE\tURL\tWRITE URL\tAUTH\tTIMEOUT\tQUERY CACHE")
	_, _ = fmt.Fprintln(tw, "1\tembedded\tpromgate\tlocal\t-\tembedded\tembedded\t-\t-\t-")
	for _, v := range views {
		authKind := "none"
		switch {
		case v.Problem != "":
			authKind = "UNREADABLE (wrong secret key?)"
		case *v.HasBearerToken:
			authKind = "bearer"
		case v.OAuth2ClientID != "":
			authKind = "oauth2 " + v.OAuth2ClientID
		case v.BasicAuthUser != "":
			authKind = "basic " + v.BasicAuthUser
		}
		site := v.Site
		if site == "" {
			site = "-"
		}
		writeURL := v.WriteURL
		if writeURL == "" {
			writeURL = "-"
		}
		cache := "on"
		switch {
		case v.Cache == nil:
			cache = "-"
		case v.Cache.Disabled:
			cache = "off"
		case v.Cache.NoStepAlign:
			cache = "on, no step align"
		}
		_, _ = fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%gs\t%s\n", v.ID, v.UID, v.Name, v.Env, site, v.URL, writeURL, authKind, v.TimeoutSeconds, cache)
	}
	return tw.Flush()
}

// find resolves --id or --uid.
func (c *dsCmd) find(ctx context.Context) (manage.StoredDataSource, error) {
	if (c.id == 0) == (c.uid == "") {
		return manage.StoredDataSource{}, usageErr("give exactly one of --id or --uid")
	}
	var (
		s   manage.StoredDataSource
		err error
	)
	if c.uid != "" {
		s, err = c.m.DataSourceByUID(ctx, c.uid)
	} else {
		s, err = c.m.DataSource(ctx, c.id)
	}
	switch {
	case promapi.IsBadData(err):
		msg, _ := badData(err)
		return s, usageErr("%s", msg)
	case errors.Is(err, store.ErrNotFound):
		return s, fmt.Errorf("no such data source")
	}
	return s, err
}

func (c *dsCmd) remove(ctx context.Context) error {
	s, err := c.find(ctx)
	if err != nil {
		return err
	}
	if err := c.m.DeleteDataSource(ctx, c.actor(), s.ID); err != nil {
		return err
	}
	_, err = fmt.Fprintf(c.stdout, "removed data source %q (id %d)\n", s.Name, s.ID)
	return err
}

func (c *dsCmd) test(ctx context.Context) error {
	s, err := c.find(ctx)
	if err != nil {
		return err
	}
	if s.SecretsError != nil {
		return fmt.Errorf("data source %q: its password or token does not decrypt with %s", s.Name, c.keyFile)
	}
	res, err := c.m.TestDataSource(ctx, s.Settings)
	if err != nil {
		return err
	}
	_, _ = fmt.Fprintln(c.stdout, res.Message)
	if !res.OK {
		return fmt.Errorf("data source %q is not working", s.Name)
	}
	return nil
}

func (c *dsCmd) actor() audit.Actor { return audit.Actor{Name: c.actorName} }

func (c *dsCmd) writeJSON(v any) error {
	return (&adminCmd{stdout: c.stdout}).writeJSON(v)
}

// badData is the message of a bad_data error: input the operator got wrong.
func badData(err error) (string, bool) {
	var pe *promapi.Error
	if errors.As(err, &pe) && pe.Type == promapi.ErrBadData {
		return pe.Msg, true
	}
	return "", false
}
