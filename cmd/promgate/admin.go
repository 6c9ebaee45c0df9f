package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/promgate/promgate/internal/access"
	"github.com/promgate/promgate/internal/audit"
	"github.com/promgate/promgate/internal/auth"
	"github.com/promgate/promgate/internal/manage"
	"github.com/promgate/promgate/internal/mgmtapi"
	"github.com/promgate/promgate/internal/store"
	"github.com/promgate/promgate/internal/store/storeopen"
)

const adminUsage = `usage: promgate admin <command> [flags]

commands:
  user add --login L [--role VIEWER|EDITOR|OWNER] --password-stdin
  user list [--output text|json]
  user set-password --login L --password-stdin
  credential create (--user L | --global --role R) --name N [--expires 720h|30d]
                    [--scope read,write] [--datasource 1,2] [--selector '{env="prod"}'] [--output text|json]
  credential list [--user L | --global] [--all] [--output text|json]
  credential revoke (--key K | --id N)
  datasource add|list|test|remove ...   remote data sources (promgate admin datasource -h)
  backup --output FILE   consistent copy of the SQLite store, also while the server runs

common flags:
  --data-dir D    data directory (env PROMGATE_DATA_DIR, default ./data)
  --store-url U   PostgreSQL URL instead of SQLite in the data dir (env PROMGATE_STORE_URL)

These work while the server runs: SQLite is in WAL mode, and the server notices
revocations and role changes within about a second. credential create prints a
first curl for the new credential at PROMGATE_EXTERNAL_URL (the server's
--external-url), else at http://localhost:8030.
`

// usageErr marks a command-line mistake (exit status 2, via main.go's
// usageError).
func usageErr(format string, args ...any) error {
	return usageError{"admin: " + fmt.Sprintf(format, args...)}
}

// runAdmin runs `promgate admin ...`; args excludes "admin".
func runAdmin(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "datasource" {
		return runAdminDatasource(ctx, args[1:], stdin, stdout, stderr)
	}
	if len(args) > 0 && args[0] == "backup" {
		return runAdminBackup(ctx, args[1:], stdout, stderr)
	}
	// "admin -h" and "admin user -h" ask for this usage; "admin user" alone
	// is missing its command.
	if len(args) < 2 || isHelpArg(args[0]) || isHelpArg(args[1]) {
		_, _ = io.WriteString(stderr, adminUsage)
		if len(args) == 0 || !isHelpArg(args[len(args)-1]) {
			return usageErr("missing command")
		}
		return nil
	}
	cmd := args[0] + " " + args[1]
	c := &adminCmd{stdin: stdin, stdout: stdout, stderr: stderr}
	fs := flag.NewFlagSet("promgate admin "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.dataDir, "data-dir", envOr("PROMGATE_DATA_DIR", "./data"), "data directory")
	fs.StringVar(&c.storeURL, "store-url", os.Getenv("PROMGATE_STORE_URL"), "PostgreSQL URL (instead of SQLite in the data dir)")
	var run func(context.Context) error
	switch cmd {
	case "user add":
		fs.StringVar(&c.login, "login", "", "login of the new user")
		fs.StringVar(&c.role, "role", "", "VIEWER, EDITOR or OWNER (default: OWNER for the first user, else VIEWER)")
		fs.BoolVar(&c.passwordStdin, "password-stdin", false, "read the password from the first line of stdin")
		run = c.userAdd
	case "user list":
		fs.StringVar(&c.output, "output", "text", "text or json")
		run = c.userList
	case "user set-password":
		fs.StringVar(&c.login, "login", "", "login of the user")
		fs.BoolVar(&c.passwordStdin, "password-stdin", false, "read the password from the first line of stdin")
		run = c.userSetPassword
	case "credential create":
		fs.StringVar(&c.user, "user", "", "login of the user the credential belongs to")
		fs.BoolVar(&c.global, "global", false, "create a global (instance) credential; needs --role")
		fs.StringVar(&c.role, "role", "", "role of a global credential: VIEWER, EDITOR or OWNER")
		fs.StringVar(&c.name, "name", "", "name of the credential")
		fs.StringVar(&c.expires, "expires", "", "lifetime, e.g. 720h or 30d (default: never expires)")
		fs.StringVar(&c.scope, "scope", "read", "read (queries, management reads), write (remote_write) or read,write (also management changes)")
		fs.StringVar(&c.datasources, "datasource", "", "comma-separated data source ids (default: all)")
		fs.StringVar(&c.selector, "selector", "", `label selector every read is confined to, e.g. {env="prod"}`)
		fs.StringVar(&c.output, "output", "text", "text or json")
		run = c.credentialCreate
	case "credential list":
		fs.StringVar(&c.user, "user", "", "only this user's credentials")
		fs.BoolVar(&c.global, "global", false, "only global credentials")
		fs.BoolVar(&c.all, "all", false, "include revoked credentials")
		fs.StringVar(&c.output, "output", "text", "text or json")
		run = c.credentialList
	case "credential revoke":
		fs.StringVar(&c.key, "key", "", "public key (pgk_...) of the credential")
		fs.Int64Var(&c.id, "id", 0, "id of the credential")
		run = c.credentialRevoke
	default:
		_, _ = io.WriteString(stderr, adminUsage)
		return usageErr("unknown command %q", cmd)
	}
	if err := parseFlags(fs, args[2:], "admin "+cmd); err != nil {
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
	st, err := openAdminStore(ctx, c.dataDir, c.storeURL, logger)
	if err != nil {
		return err
	}
	defer func() { _ = st.Close() }()
	c.st = st
	// The server notices these changes through store.Generation.
	c.m = manage.New(manage.Options{Store: st, Logger: logger})
	c.actor = audit.Actor{Name: cliActorName()}
	err = run(ctx)
	if msg, ok := badData(err); ok {
		// The message alone, as the server's answer would carry it.
		return errors.New(msg)
	}
	return err
}

type adminCmd struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	st             store.Store
	m              *manage.Manager
	actor          audit.Actor

	dataDir, storeURL string
	login, role, user string
	name, expires     string
	scope, selector   string
	datasources, key  string
	output            string
	passwordStdin     bool
	global, all       bool
	id                int64
}

func isHelpArg(s string) bool { return s == "-h" || s == "--help" || s == "help" || s == "-help" }

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// cliActorName names the operator in the audit log.
func cliActorName() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return "cli:" + u.Username
	}
	return "cli"
}

// checkAdminDataDir refuses a SQLite data dir that does not exist: opening
// it would create an empty store the running server never reads (the usual
// cause is running admin from another directory than serve's ./data).
func checkAdminDataDir(dataDir, storeURL string) error {
	if storeURL != "" {
		return nil
	}
	if _, err := os.Stat(dataDir); errors.Is(err, os.ErrNotExist) {
		abs, aerr := filepath.Abs(dataDir)
		if aerr != nil {
			abs = dataDir
		}
		return fmt.Errorf("data dir %s (%s) does not exist: give the --data-dir (or PROMGATE_DATA_DIR) that promgate serve uses; its default ./data is relative to where serve was started (mkdir it first to set up a store before the first serve)", dataDir, abs)
	}
	return nil
}

// openAdminStore opens the store the server uses: SQLite in the data dir,
// or PostgreSQL when a URL is given.
func openAdminStore(ctx context.Context, dataDir, storeURL string, logger *slog.Logger) (store.Store, error) {
	st, err := storeopen.Open(ctx, storeURL, dataDir, logger)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	return st, nil
}

func (c *adminCmd) readPassword() (string, error) {
	if !c.passwordStdin {
		return "", usageErr("--password-stdin is required: passwords are not taken as arguments (they would show in ps and shell history)")
	}
	line, err := bufio.NewReader(io.LimitReader(c.stdin, auth.MaxPasswordLen+2)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password from stdin: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", usageErr("empty password on stdin")
	}
	return pw, nil
}

func (c *adminCmd) writeJSON(v any) error {
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

func (c *adminCmd) userAdd(ctx context.Context) error {
	if c.login == "" {
		return usageErr("--login is required")
	}
	pw, err := c.readPassword()
	if err != nil {
		return err
	}
	role := access.RoleViewer
	if c.role != "" {
		if role, err = access.ParseRole(c.role); err != nil {
			return usageErr("--role: %v", err)
		}
	} else if n, err := c.st.CountUsers(ctx); err != nil {
		return fmt.Errorf("count users: %w", err)
	} else if n == 0 {
		role = access.RoleOwner // the first user is OWNER
	}
	u, err := c.m.CreateUser(ctx, c.actor, c.login, pw, role)
	if errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("user %q already exists", c.login)
	}
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(c.stdout, "created user %s (id %d) with role %s\n", u.Login, u.ID, u.Role)
	return err
}

func (c *adminCmd) userSetPassword(ctx context.Context) error {
	if c.login == "" {
		return usageErr("--login is required")
	}
	pw, err := c.readPassword()
	if err != nil {
		return err
	}
	u, err := c.st.GetUserByLogin(ctx, c.login)
	if err != nil {
		return fmt.Errorf("find user %q: %w", c.login, err)
	}
	if err := c.m.SetUserPassword(ctx, c.actor, u.ID, pw); err != nil {
		return err
	}
	_, err = fmt.Fprintf(c.stdout, "password of %s changed\n", u.Login)
	return err
}

func (c *adminCmd) userList(ctx context.Context) error {
	users, err := c.st.ListUsers(ctx)
	if err != nil {
		return fmt.Errorf("list users: %w", err)
	}
	if c.output == "json" {
		type userOut struct {
			ID        int64     `json:"id"`
			Login     string    `json:"login"`
			Role      string    `json:"role"`
			Disabled  bool      `json:"disabled"`
			CreatedAt time.Time `json:"createdAt"`
		}
		out := make([]userOut, 0, len(users))
		for _, u := range users {
			out = append(out, userOut{u.ID, u.Login, u.Role, u.Disabled, u.CreatedAt})
		}
		return c.writeJSON(out)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	_, _ = fmt.Fprintln(tw, "ID\tLOGIN\tROLE\tDISABLED\tCREATED")
	for _, u := range users {
		_, _ = fmt.Fprintf(tw, "%d\t%s\t%s\t%t\t%s\n", u.ID, u.Login, u.Role, u.Disabled, u.CreatedAt.Format(time.RFC3339))
	}
	return tw.Flush()
}

// credentialOut is a credential as printed; Token only on creation.
type credentialOut struct {
	ID            int64      `json:"id"`
	Key           string     `json:"key"`
	Token         string     `json:"token,omitempty"`
	Name          string     `json:"name"`
	Kind          string     `json:"kind"`
	User          string     `json:"user,omitempty"`
	Role          string     `json:"role,omitempty"`
	Scope         string     `json:"scope"`
	DataSourceIDs []int64    `json:"dataSourceIds"`
	Selector      string     `json:"selector,omitempty"`
	CreatedBy     string     `json:"createdBy"`
	CreatedAt     time.Time  `json:"createdAt"`
	LastUsedAt    *time.Time `json:"lastUsedAt"`
	ExpiresAt     *time.Time `json:"expiresAt"`
	RevokedAt     *time.Time `json:"revokedAt,omitempty"`
}

func credentialOutOf(cr store.Credential, logins map[int64]string) credentialOut {
	o := credentialOut{
		ID: cr.ID, Key: cr.Key, Name: cr.Name, Kind: "global", Role: cr.Role, Scope: cr.Scope,
		DataSourceIDs: cr.DataSourceIDs, Selector: cr.Selector, CreatedBy: cr.CreatedBy, CreatedAt: cr.CreatedAt,
		LastUsedAt: cr.LastUsedAt, ExpiresAt: cr.ExpiresAt, RevokedAt: cr.RevokedAt,
	}
	if cr.UserID != nil {
		o.Kind, o.User = "user", logins[*cr.UserID]
	}
	return o
}

func parseIDs(s string) ([]int64, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var ids []int64
	for part := range strings.SplitSeq(s, ",") {
		id, err := strconv.ParseInt(strings.TrimSpace(part), 10, 64)
		if err != nil || id <= 0 {
			return nil, fmt.Errorf("bad data source id %q", part)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

func (c *adminCmd) credentialCreate(ctx context.Context) error {
	if c.name == "" {
		return usageErr("--name is required")
	}
	if (c.user == "") == !c.global {
		return usageErr("give exactly one of --user L or --global")
	}
	spec := manage.CredentialSpec{Name: c.name, Selector: c.selector, CreatedBy: c.actor.Name}
	var err error
	logins := map[int64]string{}
	if c.global {
		if c.role == "" {
			return usageErr("--global needs --role VIEWER, EDITOR or OWNER")
		}
		if spec.Role, err = access.ParseRole(c.role); err != nil {
			return usageErr("--role: %v", err)
		}
	} else {
		if c.role != "" {
			return usageErr("--role is for --global; a user credential acts with its user's current role")
		}
		u, err := c.st.GetUserByLogin(ctx, c.user)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no user %q", c.user)
		}
		if err != nil {
			return fmt.Errorf("find user: %w", err)
		}
		spec.UserID = &u.ID
		logins[u.ID] = u.Login
	}
	if c.expires != "" {
		d, err := mgmtapi.ParseExpiresIn(c.expires)
		if err != nil {
			return usageErr("--expires: %v", err)
		}
		t := time.Now().Add(d)
		spec.ExpiresAt = &t
	}
	if spec.Scope, err = access.ParseScope(c.scope); err != nil {
		return usageErr("--scope: %v", err)
	}
	if spec.DataSourceIDs, err = parseIDs(c.datasources); err != nil {
		return usageErr("--datasource: %v", err)
	}
	cr, token, err := c.m.CreateCredential(ctx, c.actor, spec)
	if err != nil {
		return err
	}
	out := credentialOutOf(cr, logins)
	out.Token = token
	if c.output == "json" {
		return c.writeJSON(out)
	}
	_, err = fmt.Fprintf(c.stdout, "key:   %s\ntoken: %s\n\n%s", cr.Key, token, credentialExample(cr.Key, token, spec))
	return err
}

// credentialExample is a first use of a new credential that works for it:
// its first data source, or remote_write for a write-only one, at the
// server's --external-url when the environment gives it.
func credentialExample(key, token string, spec manage.CredentialSpec) string {
	base := strings.TrimRight(os.Getenv("PROMGATE_EXTERNAL_URL"), "/")
	where := ""
	if base == "" {
		base = "http://localhost:8030"
		where = " (replace http://localhost:8030 by where promgate listens)"
	}
	var b strings.Builder
	b.WriteString("The token is shown only now. Use the pair as basic auth" + where + ", e.g.\n")
	if !spec.Scope.Has(access.ScopeRead) {
		fmt.Fprintf(&b, "  remote_write to %s/api/v1/write with basic_auth username %s and password %s\n", base, key, token)
		return b.String()
	}
	ds := int64(1)
	if len(spec.DataSourceIDs) > 0 {
		ds = spec.DataSourceIDs[0]
	}
	fmt.Fprintf(&b, "  curl -u '%s:%s' '%s/api-server/v1/grafana/api/datasources/proxy/%d/api/v1/query?query=up'\n", key, token, base, ds)
	fmt.Fprintf(&b, "or with promgate's CLI:\n  export PROMGATE_URL=%s/api-server/v1/grafana/api/datasources/proxy/%d PROMGATE_KEY=%s PROMGATE_TOKEN=%s\n  promgate query up\n", base, ds, key, token)
	return b.String()
}

func (c *adminCmd) credentialList(ctx context.Context) error {
	if c.user != "" && c.global {
		return usageErr("give --user or --global, not both")
	}
	f := store.CredentialFilter{Global: c.global, IncludeRevoked: c.all}
	users, err := c.st.ListUsers(ctx)
	if err != nil {
		return fmt.Errorf("list users: %w", err)
	}
	logins := make(map[int64]string, len(users))
	for _, u := range users {
		logins[u.ID] = u.Login
		if c.user != "" && strings.EqualFold(u.Login, c.user) {
			f.UserID = &u.ID
		}
	}
	if c.user != "" && f.UserID == nil {
		return fmt.Errorf("no user %q", c.user)
	}
	creds, err := c.st.ListCredentials(ctx, f)
	if err != nil {
		return fmt.Errorf("list credentials: %w", err)
	}
	out := make([]credentialOut, 0, len(creds))
	for _, cr := range creds {
		out = append(out, credentialOutOf(cr, logins))
	}
	if c.output == "json" {
		return c.writeJSON(out)
	}
	ts := func(t *time.Time) string {
		if t == nil {
			return "-"
		}
		return t.Format(time.RFC3339)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	_, _ = fmt.Fprintln(tw, "ID\tKEY\tNAME\tKIND\tUSER/ROLE\tSCOPE\tCREATED\tLAST USED\tEXPIRES\tREVOKED")
	for _, o := range out {
		who := o.User
		if o.Kind == "global" {
			who = o.Role
		}
		_, _ = fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", o.ID, o.Key, o.Name, o.Kind, who, o.Scope,
			o.CreatedAt.Format(time.RFC3339), ts(o.LastUsedAt), ts(o.ExpiresAt), ts(o.RevokedAt))
	}
	return tw.Flush()
}

func (c *adminCmd) credentialRevoke(ctx context.Context) error {
	if (c.key == "") == (c.id == 0) {
		return usageErr("give exactly one of --key or --id")
	}
	id := c.id
	if c.key != "" {
		cr, err := c.st.GetCredentialByKey(ctx, c.key)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no credential with key %q", c.key)
		}
		if err != nil {
			return fmt.Errorf("find credential: %w", err)
		}
		id = cr.ID
	}
	if err := c.m.RevokeCredential(ctx, c.actor, id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no credential with id %d", id)
		}
		return err
	}
	_, err := fmt.Fprintf(c.stdout, "revoked credential %d\n", id)
	return err
}
