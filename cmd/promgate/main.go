// Command promgate gives people and scripts authenticated, role-scoped API
// access to Prometheus metrics, and gets those metrics out as CSV.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/alecthomas/kingpin/v2"

	"github.com/promgate/promgate/internal/config"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

const appHelp = `Safe API access to Prometheus metrics.

Every flag of serve and query, and the store flags of admin, can also be set
with the PROMGATE_* environment variable shown beside it (dots and dashes as
_, e.g. --data-dir: PROMGATE_DATA_DIR). Run "promgate <command> -h" for a
command's flags.`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "promgate:", err)
		os.Exit(exitCode(err))
	}
}

func exitCode(err error) int {
	var u usageError
	if errors.As(err, &u) {
		return 2
	}
	return 1
}

// usageError marks a mistake in how promgate was called (exit status 2).
type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

// cli is promgate's command line: one kingpin application whose commands
// each define their flags in one place (addServe, addQuery, addAdmin,
// addAdminDatasource, addAdminBackup) and leave a runner in runners under
// their full name.
type cli struct {
	app            *kingpin.Application
	stdin          io.Reader
	stdout, stderr io.Writer
	runners        map[string]func(context.Context) error
	serve          *serveFlags
	queries        map[string]*queryCmd
	deprecated     []*deprecatedFlag
	configFlag     *kingpin.FlagClause
	// terminated is set when kingpin has finished the run itself (help,
	// --version): nothing more is to be done.
	terminated bool
}

// deprecatedFlag is an old spelling kept working, hidden from help.
type deprecatedFlag struct {
	old, now string
	used     bool
}

func newCLI(stdin io.Reader, stdout, stderr io.Writer) *cli {
	c := &cli{stdin: stdin, stdout: stdout, stderr: stderr, runners: map[string]func(context.Context) error{}, queries: map[string]*queryCmd{}}
	c.app = kingpin.New("promgate", appHelp).
		UsageWriter(onceWriter{stderr, &c.terminated}).ErrorWriter(stderr).
		UsageTemplate(usageTemplate).
		Terminate(func(int) { c.terminated = true })
	c.app.HelpFlag.Short('h')
	c.app.Flag("version", "Show the version.").PreAction(func(*kingpin.ParseContext) error {
		fmt.Fprintln(c.stdout, "promgate", version)
		c.terminated = true
		return nil
	}).Bool()
	c.app.Command("version", "Print the version.")
	c.runners["version"] = func(context.Context) error {
		_, err := fmt.Fprintln(c.stdout, "promgate", version)
		return err
	}
	c.addServe()
	c.addQuery("query")
	c.addQuery("query-range")
	c.addAdmin()
	return c
}

// onceWriter writes help until kingpin has terminated the run: after help
// without a command, kingpin would print it a second time.
type onceWriter struct {
	w    io.Writer
	done *bool
}

func (o onceWriter) Write(p []byte) (int, error) {
	if *o.done {
		return len(p), nil
	}
	return o.w.Write(p)
}

// alias adds old as a hidden, deprecated spelling of the flag now, setting
// the same value.
func (c *cli) alias(cmd *kingpin.CmdClause, old, now string, v kingpin.Value) {
	d := &deprecatedFlag{old: old, now: now}
	c.deprecated = append(c.deprecated, d)
	cmd.Flag(old, "Deprecated: use --"+now+".").Hidden().IsSetByUser(&d.used).SetValue(v)
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	c := newCLI(stdin, stdout, stderr)
	cmd, err := c.parse(args)
	if err != nil || c.terminated {
		return err
	}
	runner, ok := c.runners[cmd]
	if !ok {
		return usageError{fmt.Sprintf("unknown command %q", cmd)}
	}
	return runner(ctx)
}

// parse parses the command line into the commands' flag variables and
// returns the command chosen; c.terminated says help or the version was
// asked for and written.
func (c *cli) parse(args []string) (string, error) {
	if len(args) == 0 {
		c.app.Usage(nil)
		return "", usageError{"no command given"}
	}
	args = c.normalize(args)
	if err := c.prepare(args); err != nil {
		return "", err
	}
	cmd, err := c.app.Parse(args)
	if c.terminated {
		return "", nil // help or --version, already written
	}
	if err != nil {
		return "", c.parseError(args, err)
	}
	for _, d := range c.deprecated {
		if d.used {
			fmt.Fprintf(c.stderr, "promgate: --%s is deprecated; use --%s\n", d.old, d.now)
		}
	}
	return cmd, nil
}

// prepare does, before the real parse, what kingpin would do with less
// clear messages: it fills serve's defaults from --config.file, and
// checks each value from the environment, the file and the command line
// so that an error names where the value came from. Values set here are
// set again by the parse.
func (c *cli) prepare(args []string) error {
	pc, err := c.app.ParseContext(args)
	if err != nil || pc == nil {
		return nil // the parse reports it
	}
	var path []config.FlagLookup
	path = append(path, c.app)
	for _, e := range pc.Elements {
		switch cl := e.Clause.(type) {
		case *kingpin.CmdClause:
			path = append(path, cl)
		case *kingpin.FlagClause:
			if cl == c.app.HelpFlag {
				return nil // help works whatever else is wrong
			}
		}
	}
	if pc.SelectedCommand != nil && pc.SelectedCommand.FullCommand() == "serve" {
		if err := c.applyConfigFile(pc, path); err != nil {
			return err
		}
	}
	onCommandLine := map[string]bool{}
	for _, e := range pc.Elements {
		if fl, ok := e.Clause.(*kingpin.FlagClause); ok && e.Value != nil && !cumulative(fl) {
			onCommandLine[fl.Model().Name] = true
			if err := fl.Model().Value.Set(*e.Value); err != nil {
				return usageError{fmt.Sprintf("--%s: %v", fl.Model().Name, err)}
			}
		}
	}
	for _, l := range path {
		for _, m := range flagsOf(l) {
			if onCommandLine[m.Name] || m.Envar == "" || cumulative(l.GetFlag(m.Name)) {
				continue
			}
			if v := os.Getenv(m.Envar); v != "" {
				if err := m.Value.Set(v); err != nil {
					return usageError{fmt.Sprintf("environment %s: %v", m.Envar, err)}
				}
			}
		}
	}
	return nil
}

// applyConfigFile makes the settings of serve's --config.file (or
// PROMGATE_CONFIG_FILE) the defaults of its flags.
func (c *cli) applyConfigFile(pc *kingpin.ParseContext, path []config.FlagLookup) error {
	file := os.Getenv(config.EnvName("config.file"))
	for _, e := range pc.Elements {
		if e.Clause == c.configFlag && e.Value != nil {
			file = *e.Value
		}
	}
	if file == "" {
		return nil
	}
	f, err := config.Load(file)
	if err != nil {
		return err
	}
	// No section is known yet; each feature that adds one decodes it
	// with f.Section and names it here.
	// path[0] is the application (help, version): not settings.
	if err := config.ApplyDefaults(f, nil, path[1:]...); err != nil {
		return usageError{err.Error()}
	}
	for key, vs := range f.Flags {
		for _, l := range path[1:] {
			if fl := l.GetFlag(key); fl != nil && !cumulative(fl) {
				if err := fl.Model().Value.Set(vs[0]); err != nil {
					return usageError{fmt.Sprintf("config file %s: setting %s: %v", f.Path, key, err)}
				}
				break
			}
		}
	}
	return nil
}

func flagsOf(l config.FlagLookup) []*kingpin.FlagModel {
	switch v := l.(type) {
	case *kingpin.Application:
		return v.Model().Flags
	case *kingpin.CmdClause:
		return v.Model().Flags
	}
	return nil
}

func cumulative(fl *kingpin.FlagClause) bool {
	r, ok := fl.Model().Value.(interface{ IsCumulative() bool })
	return ok && r.IsCumulative()
}

// parseError turns kingpin's error into one line naming the mistake and
// the -h to run; a command given without its subcommand gets its usage.
func (c *cli) parseError(args []string, err error) error {
	cmd := ""
	if pc, _ := c.app.ParseContext(args); pc != nil && pc.SelectedCommand != nil {
		cmd = pc.SelectedCommand.FullCommand()
		if len(pc.SelectedCommand.Model().Commands) > 0 && strings.HasPrefix(err.Error(), "must select a subcommand") {
			_ = c.app.UsageForContext(pc)
			return usageError{fmt.Sprintf("%s: missing command", cmd)}
		}
	}
	msg := err.Error()
	if cmd != "" && strings.HasPrefix(msg, "unexpected ") {
		msg = fmt.Sprintf("%s takes no arguments, got %s", cmd, strings.TrimPrefix(msg, "unexpected "))
	}
	help := "promgate -h"
	if cmd != "" {
		help = "promgate " + cmd + " -h"
	}
	return usageError{fmt.Sprintf("%s (run %q for the flags)", msg, help)}
}

// normalize rewrites the command line into what kingpin parses as the
// standard flag package did: a value that starts with "-" (--start -6h,
// --query.max-concurrency-per-caller -1, --bearer-token-file -) is joined
// to its flag, which kingpin would otherwise read as a flag itself;
// a value starting with "@" is joined too, so kingpin does not read it as a
// file of arguments; --bool=false becomes --no-bool; and "help" before or after a command
// ("help admin", "admin credential help") asks for that command's help.
func (c *cli) normalize(args []string) []string {
	if len(args) > 0 && args[0] == "help" {
		// "help admin user" is "admin user --help", which refuses an
		// unknown command as any command line does.
		args = append(append([]string(nil), args[1:]...), "--help")
	}
	out := make([]string, 0, len(args))
	model := c.app.Model()
	flags := map[string]*kingpin.FlagModel{}
	addFlags := func(fs []*kingpin.FlagModel) {
		for _, f := range fs {
			flags["--"+f.Name] = f
			if f.Short != 0 {
				flags["-"+string(f.Short)] = f
			}
		}
	}
	addFlags(model.Flags)
	var cmd *kingpin.CmdModel
	commands := model.Commands
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(out, args[i:]...)
		}
		if name, val, ok := strings.Cut(a, "="); ok && strings.HasPrefix(a, "--") {
			if f := flags[name]; f != nil && f.IsBoolFlag() {
				switch strings.ToLower(val) {
				case "true", "1":
					a = name
				case "false", "0":
					a = "--no-" + name[2:]
				}
			}
			out = append(out, a)
			continue
		}
		if f := flags[a]; f != nil && !f.IsBoolFlag() && i+1 < len(args) {
			next := args[i+1]
			i++
			switch {
			case !strings.HasPrefix(next, "-") && !strings.HasPrefix(next, "@") || next == "--":
				out = append(out, a, next)
			case strings.HasPrefix(a, "--"):
				out = append(out, a+"="+next)
			default:
				out = append(out, a+next) // -o-: short flag with its value
			}
			continue
		}
		if strings.HasPrefix(a, "-") {
			out = append(out, a)
			continue
		}
		if a == "help" && cmd != nil && len(cmd.Commands) > 0 {
			out = append(out, "--help")
			continue
		}
		for _, sub := range commands {
			if sub.Name == a {
				cmd, commands = sub, sub.Commands
				addFlags(sub.Flags)
				break
			}
		}
		out = append(out, a)
	}
	return out
}

// usageTemplate is kingpin's default, but a command's HelpLong is shown
// as written (examples keep their layout) in place of its short help.
const usageTemplate = `{{define "FormatCommand" -}}
{{if .FlagSummary}} {{.FlagSummary}}{{end -}}
{{range .Args}}{{if not .Hidden}} {{if not .Required}}[{{end}}{{if .PlaceHolder}}{{.PlaceHolder}}{{else}}<{{.Name}}>{{end}}{{if .Value|IsCumulative}}...{{end}}{{if not .Required}}]{{end}}{{end}}{{end -}}
{{end -}}

{{define "FormatCommands" -}}
{{range .FlattenedCommands -}}
{{if not .Hidden -}}
  {{.FullCommand}}{{if .Default}}*{{end}}{{template "FormatCommand" .}}
{{.Help|Wrap 4}}
{{end -}}
{{end -}}
{{end -}}

{{if .Context.SelectedCommand -}}
usage: {{.App.Name}} {{.Context.SelectedCommand}}{{template "FormatCommand" .Context.SelectedCommand}}{{if .Context.SelectedCommand.Commands}} <command> [<args> ...]{{end}}

{{if .Context.SelectedCommand.HelpLong}}{{.Context.SelectedCommand.HelpLong}}{{else}}{{.Context.SelectedCommand.Help|Wrap 0}}{{end}}
{{else -}}
usage: {{.App.Name}}{{template "FormatCommand" .App}} <command> [<args> ...]

{{.App.Help|Wrap 0}}
{{end}}
{{if .Context.Flags -}}
Flags:
{{.Context.Flags|FlagsToTwoColumns|FormatTwoColumns}}
{{end -}}
{{if .Context.Args -}}
Args:
{{.Context.Args|ArgsToTwoColumns|FormatTwoColumns}}
{{end -}}
{{if .Context.SelectedCommand -}}
{{if len .Context.SelectedCommand.Commands -}}
Subcommands:
{{template "FormatCommands" .Context.SelectedCommand}}
{{end -}}
{{else if .App.Commands -}}
Commands:
{{template "FormatCommands" .App}}
{{end -}}
`
