package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/promslog"

	"github.com/promgate/promgate/internal/access"
	"github.com/promgate/promgate/internal/app"
	"github.com/promgate/promgate/internal/audit"
	"github.com/promgate/promgate/internal/auth"
	"github.com/promgate/promgate/internal/config"
	"github.com/promgate/promgate/internal/manage"
	"github.com/promgate/promgate/internal/mgmtapi"
	"github.com/promgate/promgate/internal/store"
)

const adminHelp = `Manages users, API credentials and data sources, and backs up the store.

These work while the server runs: SQLite is in WAL mode, and the server notices
revocations and role changes within about a second. Give the store flags that
promgate serve uses (--data-dir, or --store.url, and for data sources
--secret-key-file); they can be given before or after the subcommand, and from
PROMGATE_DATA_DIR, PROMGATE_STORE_URL and PROMGATE_SECRET_KEY_FILE.
credential create prints a first curl for the new credential at
PROMGATE_EXTERNAL_URL (the server's --external-url), else at
http://localhost:8030.
`

// usageErr marks a command-line mistake (exit status 2, via main.go's
// usageError).
func usageErr(format string, args ...any) error {
	return usageError{"admin: " + fmt.Sprintf(format, args...)}
}

// adminStore holds the flags every admin command takes: where the store
// is, as serve is told.
type adminStore struct {
	dataDir, storeURL, keyFile string
}

// addAdmin defines `promgate admin` and its user and credential commands
// with their flags (datasource and backup in their own files): the one
// place a new admin flag goes.
func (cl *cli) addAdmin() {
	cmd := cl.app.Command("admin", "Manage users, API credentials and data sources; back up the store.").HelpLong(adminHelp)
	s := &adminStore{}
	// Only the store flags take environment variables: the others say
	// what this one invocation does (and PROMGATE_OUTPUT is the query
	// command's output file).
	flag := func(name, help string) *kingpin.FlagClause {
		return cmd.Flag(name, help).Envar(config.EnvName(name))
	}
	flag("data-dir", "Data directory of promgate serve.").Default("./data").StringVar(&s.dataDir)
	flag("store.url", "PostgreSQL URL of promgate serve's --store.url, instead of SQLite in the data dir.").PlaceHolder("URL").StringVar(&s.storeURL)
	cl.alias(cmd, "store-url", "store.url", stringValue{&s.storeURL})
	flag("secret-key-file", "Key that encrypts data source passwords and tokens: the server's (default <data-dir>/secret.key; created if absent).").PlaceHolder("FILE").StringVar(&s.keyFile)

	c := &adminCmd{stdin: cl.stdin, stdout: cl.stdout, stderr: cl.stderr, store: s}
	output := func(cmd *kingpin.CmdClause) {
		cmd.Flag("output", "text or json.").Default("text").EnumVar(&c.output, "text", "json")
	}
	user := cmd.Command("user", "Manage users.")
	add := user.Command("add", "Add a user; the password is read from stdin.")
	add.Flag("login", "Login of the new user.").Required().StringVar(&c.login)
	add.Flag("role", "VIEWER, EDITOR or OWNER (default: OWNER for the first user, else VIEWER).").StringVar(&c.role)
	add.Flag("password-stdin", "Read the password from the first line of stdin.").BoolVar(&c.passwordStdin)
	list := user.Command("list", "List users.")
	output(list)
	setPW := user.Command("set-password", "Change a user's password; the new one is read from stdin.")
	setPW.Flag("login", "Login of the user.").Required().StringVar(&c.login)
	setPW.Flag("password-stdin", "Read the password from the first line of stdin.").BoolVar(&c.passwordStdin)

	cred := cmd.Command("credential", "Manage API credentials.")
	create := cred.Command("create", "Create a credential for --user L, or a global one (--global --role R); prints its key and token (shown once).")
	create.Flag("user", "Login of the user the credential belongs to.").StringVar(&c.user)
	create.Flag("global", "Create a global (instance) credential; needs --role.").BoolVar(&c.global)
	create.Flag("role", "Role of a global credential: VIEWER, EDITOR or OWNER.").StringVar(&c.role)
	create.Flag("name", "Name of the credential.").Required().StringVar(&c.name)
	create.Flag("expires", "Lifetime, e.g. 720h or 30d (default: never expires).").StringVar(&c.expires)
	create.Flag("scope", "read (queries, management reads), write (remote_write) or read,write (also management changes).").Default("read").StringVar(&c.scope)
	create.Flag("datasource", "Comma-separated data source ids (default: all).").StringVar(&c.datasources)
	create.Flag("selector", `Label selector every read is confined to, e.g. {env="prod"}.`).StringVar(&c.selector)
	output(create)
	clist := cred.Command("list", "List credentials.")
	clist.Flag("user", "Only this user's credentials.").StringVar(&c.user)
	clist.Flag("global", "Only global credentials.").BoolVar(&c.global)
	clist.Flag("all", "Include revoked credentials.").BoolVar(&c.all)
	output(clist)
	revoke := cred.Command("revoke", "Revoke a credential, by --key or --id.")
	revoke.Flag("key", "Public key (pgk_...) of the credential.").StringVar(&c.key)
	revoke.Flag("id", "Id of the credential.").Int64Var(&c.id)

	for name, run := range map[string]func(context.Context) error{
		"user add": c.userAdd, "user list": c.userList, "user set-password": c.userSetPassword,
		"credential create": c.credentialCreate, "credential list": c.credentialList, "credential revoke": c.credentialRevoke,
	} {
		cl.runners["admin "+name] = func(ctx context.Context) error { return c.run(ctx, run) }
	}
	cl.addAdminDatasource(cmd, s)
	cl.addAdminBackup(cmd, s)
}

// run opens the store through app.OpenAdmin and runs one command on it.
func (c *adminCmd) run(ctx context.Context, run func(context.Context) error) error {
	a, err := app.OpenAdmin(ctx, app.AdminConfig{DataDir: c.store.dataDir, StoreURL: c.store.storeURL, Logger: adminLogger(c.stderr)})
	if err != nil {
		return err
	}
	defer func() { _ = a.Close() }()
	c.st, c.m = a.Store, a.Manage
	c.actor = audit.Actor{Name: cliActorName()}
	err = run(ctx)
	if msg, ok := badData(err); ok {
		// The message alone, as the server's answer would carry it.
		return errors.New(msg)
	}
	return err
}

// adminLogger logs what goes wrong opening the store, and nothing else:
// admin's output is its answer.
func adminLogger(w io.Writer) *slog.Logger {
	lv := promslog.NewLevel()
	_ = lv.Set("warn")
	return promslog.New(&promslog.Config{Level: lv, Writer: w})
}

type adminCmd struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	store          *adminStore
	st             store.Store
	m              *manage.Manager
	actor          audit.Actor

	login, role, user string
	name, expires     string
	scope, selector   string
	datasources, key  string
	output            string
	passwordStdin     bool
	global, all       bool
	id                int64
}

// runAdmin runs `promgate admin args...`.
func runAdmin(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	return run(ctx, append([]string{"admin"}, args...), stdin, stdout, stderr)
}

// cliActorName names the operator in the audit log.
func cliActorName() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return "cli:" + u.Username
	}
	return "cli"
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
