package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/prometheus/common/config"

	"github.com/promgate/promgate/internal/audit"
	"github.com/promgate/promgate/internal/datasource"
	"github.com/promgate/promgate/internal/manage"
	"github.com/promgate/promgate/internal/mgmtapi"
	"github.com/promgate/promgate/internal/promapi"
	"github.com/promgate/promgate/internal/secrets"
	"github.com/promgate/promgate/internal/store"
)

const adminDatasourceUsage = `usage: promgate admin datasource <command> [flags]

commands:
  add --name N --url U --env E [--site S] [--uid U] [--write-url U]
      [--basic-auth-user U --basic-auth-password-file F | --bearer-token-file F]
      [--oauth2-client-id I --oauth2-client-secret-file F --oauth2-token-url U [--oauth2-scopes a,b]]
      [--ca-file F] [--cert-file F --key-file F] [--server-name N] [--insecure-skip-verify]
      [--proxy-url U] [--header K=V ...] [--timeout 30s] [--output text|json]
  list [--output text|json]
  test (--id N | --uid U)
  remove (--id N | --uid U)

common flags:
  --data-dir D          data directory (env PROMGATE_DATA_DIR, default ./data)
  --store-url U         PostgreSQL URL instead of SQLite in the data dir (env PROMGATE_STORE_URL)
  --secret-key-file F   key that encrypts passwords and tokens (env PROMGATE_SECRET_KEY_FILE,
                        default <data-dir>/secret.key; created if absent). Use the server's.

Passwords and tokens are read from files ("-" for stdin), never from arguments.
TLS files are PEM, read when adding: the store keeps their content (the key
sealed like the passwords), so every replica has them without the files.
A running server sees changes within about a second.
`

// headerFlags collects repeated --header K=V.
type headerFlags map[string]string

func (h headerFlags) String() string { return fmt.Sprint(map[string]string(h)) }

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
	m              *manage.Manager
	actorName      string

	dataDir, storeURL, keyFile   string
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
	timeout                      time.Duration
	id                           int64
}

// runAdminDatasource runs `promgate admin datasource ...`; args excludes
// "admin datasource".
func runAdminDatasource(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		_, _ = io.WriteString(stderr, adminDatasourceUsage)
		if len(args) == 0 {
			return usageErr("missing datasource command")
		}
		return nil
	}
	c := &dsCmd{stdin: stdin, stdout: stdout, stderr: stderr, headers: headerFlags{}}
	fs := flag.NewFlagSet("promgate admin datasource "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.dataDir, "data-dir", envOr("PROMGATE_DATA_DIR", "./data"), "data directory")
	fs.StringVar(&c.storeURL, "store-url", os.Getenv("PROMGATE_STORE_URL"), "PostgreSQL URL (instead of SQLite in the data dir)")
	fs.StringVar(&c.keyFile, "secret-key-file", os.Getenv("PROMGATE_SECRET_KEY_FILE"), "secret key file (default <data-dir>/secret.key)")
	var run func(context.Context) error
	switch args[0] {
	case "add":
		fs.StringVar(&c.name, "name", "", "name of the data source")
		fs.StringVar(&c.url, "url", "", "base URL of the Prometheus API, e.g. http://prometheus:9090 or https://mimir/prometheus")
		fs.StringVar(&c.writeURL, "write-url", "", "remote_write URL of the backend, e.g. http://thanos-receive:19291/api/v1/receive or https://mimir/api/v1/push (default: the data source takes no writes)")
		fs.StringVar(&c.env, "env", "", "environment, e.g. prod (required)")
		fs.StringVar(&c.site, "site", "", "site, e.g. a region or cluster")
		fs.StringVar(&c.uid, "uid", "", "uid (default: random)")
		fs.StringVar(&c.user, "basic-auth-user", "", "basic auth user")
		fs.StringVar(&c.passwordFile, "basic-auth-password-file", "", `file holding the basic auth password ("-": stdin)`)
		fs.StringVar(&c.tokenFile, "bearer-token-file", "", `file holding a bearer token ("-": stdin)`)
		fs.StringVar(&c.oauth2ID, "oauth2-client-id", "", "OAuth2 client credentials: client id")
		fs.StringVar(&c.oauth2SecretFile, "oauth2-client-secret-file", "", `file holding the OAuth2 client secret ("-": stdin)`)
		fs.StringVar(&c.oauth2TokenURL, "oauth2-token-url", "", "OAuth2 token URL")
		fs.StringVar(&c.oauth2Scope, "oauth2-scopes", "", "OAuth2 scopes, comma-separated")
		fs.StringVar(&c.caFile, "ca-file", "", "PEM file of the CA certificate(s) that sign the backend's certificate (default: the system's)")
		fs.StringVar(&c.certFile, "cert-file", "", "PEM file of the client certificate, for backends that require one (mutual TLS)")
		fs.StringVar(&c.tlsKeyFile, "key-file", "", "PEM file of the client certificate's key")
		fs.StringVar(&c.serverName, "server-name", "", "name to verify the backend's certificate against (default: the URL's host)")
		fs.BoolVar(&c.insecureSkipVerify, "insecure-skip-verify", false, "do not verify the backend's certificate (testing only)")
		fs.StringVar(&c.proxyURL, "proxy-url", "", "HTTP(S) or SOCKS5 proxy to reach the backend through (default: HTTPS_PROXY/HTTP_PROXY from the environment)")
		fs.Var(c.headers, "header", "extra header K=V sent to the backend, e.g. X-Scope-OrgID=tenant (repeatable)")
		fs.DurationVar(&c.timeout, "timeout", datasource.DefaultTimeout, "time a request to the backend may take")
		fs.StringVar(&c.output, "output", "text", "text or json")
		run = c.add
	case "list":
		fs.StringVar(&c.output, "output", "text", "text or json")
		run = c.list
	case "remove", "test":
		fs.Int64Var(&c.id, "id", 0, "id of the data source")
		fs.StringVar(&c.uid, "uid", "", "uid of the data source")
		run = c.remove
		if args[0] == "test" {
			run = c.test
		}
	default:
		_, _ = io.WriteString(stderr, adminDatasourceUsage)
		return usageErr("unknown datasource command %q", args[0])
	}
	if err := parseFlags(fs, args[1:], "admin datasource "+args[0]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if c.output != "" && c.output != "text" && c.output != "json" {
		return usageErr("--output must be text or json")
	}
	if err := checkAdminDataDir(c.dataDir, c.storeURL); err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if c.keyFile == "" {
		c.keyFile = filepath.Join(c.dataDir, secrets.DefaultFileName)
	}
	box, created, err := secrets.LoadOrCreate(c.keyFile)
	if err != nil {
		return fmt.Errorf("data source secret key: %w", err)
	}
	if created {
		_, _ = fmt.Fprintf(stderr, "created secret key file %s: the server must use the same file\n", c.keyFile)
	}
	st, err := openAdminStore(ctx, c.dataDir, c.storeURL, logger)
	if err != nil {
		return err
	}
	defer func() { _ = st.Close() }()
	c.m = manage.New(manage.Options{Store: st, Codec: datasource.NewCodec(box), Logger: logger})
	c.actorName = cliActorName()
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
	case c.name == "" || c.url == "" || c.env == "":
		return usageErr("--name, --url and --env are required")
	case c.tokenFile != "" && (c.user != "" || c.passwordFile != ""):
		return usageErr("give basic auth or --bearer-token-file, not both")
	case c.passwordFile != "" && c.user == "":
		return usageErr("--basic-auth-password-file needs --basic-auth-user")
	}
	s := datasource.Settings{UID: c.uid, Name: c.name, URL: c.url, WriteURL: c.writeURL, Env: c.env, Site: c.site, Timeout: c.timeout}
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
	_, _ = fmt.Fprintln(tw, "ID\tUID\tNAME\tENV\tSITE\tURL\tAUTH\tTIMEOUT")
	_, _ = fmt.Fprintln(tw, "1\tembedded\tpromgate\tlocal\t-\tembedded\t-\t-")
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
		_, _ = fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%gs\n", v.ID, v.UID, v.Name, v.Env, site, v.URL, authKind, v.TimeoutSeconds)
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
