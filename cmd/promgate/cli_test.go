package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/alecthomas/kingpin/v2"
)

// TestHelpOnEveryCommand walks kingpin's model of the command line: -h
// and --help on every command and subcommand print its usage, naming it,
// and exit 0.
func TestHelpOnEveryCommand(t *testing.T) {
	var commands []*kingpin.CmdModel
	var walk func([]*kingpin.CmdModel)
	walk = func(cs []*kingpin.CmdModel) {
		for _, c := range cs {
			commands = append(commands, c)
			walk(c.Commands)
		}
	}
	walk(newCLI(nil, io.Discard, io.Discard).app.Model().Commands)
	if len(commands) < 17 {
		t.Fatalf("only %d commands in the model", len(commands))
	}
	for _, c := range commands {
		for _, h := range []string{"-h", "--help"} {
			args := append(strings.Fields(c.FullCommand), h)
			t.Run(strings.Join(args, " "), func(t *testing.T) {
				var out, errOut bytes.Buffer
				err := run(context.Background(), args, nil, &out, &errOut)
				if err != nil {
					t.Fatalf("exit %d: %v", exitCode(err), err)
				}
				help := errOut.String()
				if !strings.HasPrefix(help, "usage: promgate "+c.FullCommand) {
					t.Errorf("help does not name the command:\n%s", help)
				}
				if strings.Count(help, "usage:") != 1 {
					t.Errorf("help printed %d times", strings.Count(help, "usage:"))
				}
				if out.Len() != 0 {
					t.Errorf("stdout: %q", out.String())
				}
			})
		}
	}
}

// TestStoreFlagOneName: --store.url is the store's flag for serve and every
// admin command; the old --store-url still works, hidden, with a warning.
func TestStoreFlagOneName(t *testing.T) {
	t.Setenv("PROMGATE_STORE_URL", "")
	for _, spelling := range []string{"--store.url", "--store-url"} {
		for _, cmd := range []string{"serve", "admin user list", "admin credential list", "admin datasource list", "admin backup --output x.db"} {
			t.Run(cmd+" "+spelling, func(t *testing.T) {
				var errOut bytes.Buffer
				args := append(strings.Fields(cmd), "--data-dir", t.TempDir(), spelling, "mysql://db/x")
				err := run(context.Background(), args, nil, io.Discard, &errOut)
				// The URL reached the store: its scheme is refused by name.
				if err == nil || !strings.Contains(err.Error(), "mysql") {
					t.Fatalf("err = %v, want the store URL refused", err)
				}
				deprecated := strings.Contains(errOut.String(), "--store-url is deprecated; use --store.url")
				if deprecated != (spelling == "--store-url") {
					t.Errorf("deprecation warning %v for %s:\n%s", deprecated, spelling, errOut.String())
				}
			})
		}
	}
	var help bytes.Buffer
	if err := run(context.Background(), []string{"admin", "user", "list", "-h"}, nil, io.Discard, &help); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(help.String(), "--store.url") || strings.Contains(help.String(), "--store-url") {
		t.Errorf("help should show --store.url only:\n%s", help.String())
	}
}

// TestBadCommandLines: mistakes get one clear line and exit status 2, never
// a panic.
func TestBadCommandLines(t *testing.T) {
	t.Setenv("PROMGATE_STORE_URL", "")
	tests := []struct {
		args []string
		want string
	}{
		{nil, "no command given"},
		{[]string{"frob"}, "frob"},
		{[]string{"admin"}, "missing command"},
		{[]string{"admin", "credential"}, "missing command"},
		{[]string{"admin", "credential", "frob"}, "frob"},
		{[]string{"admin", "user", "add"}, "--login"},
		{[]string{"admin", "user", "list", "--output"}, "--output"},
		{[]string{"admin", "credential", "list", "--output", "yaml"}, "yaml"},
		{[]string{"admin", "datasource", "add", "--name", "x"}, "--url"},
		{[]string{"admin", "datasource", "add", "--header"}, "--header"},
		{[]string{"admin", "credential", "revoke", "--id", "x"}, "--id"},
		{[]string{"serve", "--retention", "forever"}, "--retention"},
		{[]string{"serve", "--rate-limit", "fast"}, "--rate-limit"},
		{[]string{"serve", "--log.format", "xml"}, "xml"},
		{[]string{"query", "--max-columns", "many", "up"}, "--max-columns"},
		{[]string{"query", "--timeout"}, "--timeout"},
		{[]string{"query", "-o"}, "-o"},
		{[]string{"query-range", "--no-such"}, "no-such"},
		{[]string{"--no-such"}, "no-such"},
		{[]string{"help", "frob"}, "frob"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			err := run(context.Background(), tt.args, strings.NewReader(""), io.Discard, io.Discard)
			if err == nil || exitCode(err) != 2 || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v (exit %d), want exit 2 naming %q", err, exitCode(err), tt.want)
			}
		})
	}
}

// TestServeConfigFile: the YAML file's flat keys are serve's flag names;
// the environment beats the file and the command line beats both; unknown
// keys and sections are refused by name.
func TestServeConfigFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yml", "listen: 127.0.0.1:9999\nquery.timeout: 1m\nstore.url: postgres://file/db\nlog.level: debug\nrate-limit: 2.5\n")
	t.Setenv("PROMGATE_CONFIG_FILE", "")
	t.Setenv("PROMGATE_QUERY_TIMEOUT", "")
	t.Setenv("PROMGATE_STORE_URL", "")

	f, err := parseServeFlags([]string{"--config.file", good}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if f.listen != "127.0.0.1:9999" || f.queryTimeout.String() != "1m0s" || f.storeURL != "postgres://file/db" || f.log.Level.String() != "debug" || f.ratePerCredential != 2.5 {
		t.Fatalf("from the file: %+v", f)
	}
	t.Setenv("PROMGATE_QUERY_TIMEOUT", "30s")
	t.Setenv("PROMGATE_CONFIG_FILE", good)
	if f, err = parseServeFlags([]string{"--listen", ":1234", "--store-url", "postgres://flag/db"}, io.Discard); err != nil {
		t.Fatal(err)
	}
	if f.listen != ":1234" || f.queryTimeout.String() != "30s" || f.storeURL != "postgres://flag/db" {
		t.Fatalf("flag > env > file: %+v", f)
	}
	t.Setenv("PROMGATE_CONFIG_FILE", "")
	t.Setenv("PROMGATE_QUERY_TIMEOUT", "")
	for _, tt := range []struct{ body, want string }{
		{"lisen: x\n", `unknown setting "lisen"`},
		{"store-url: postgres://x/db\n", `unknown setting "store-url"`},
		{"oidc:\n  issuer: https://x\n", `unknown section "oidc"`},
		{"query.timeout: soon\n", "query.timeout"},
		{"listen: [\n", "parse config file"},
	} {
		_, err := parseServeFlags([]string{"--config.file", write("bad.yml", tt.body)}, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: err = %v, want %q", tt.body, err, tt.want)
		}
	}
}

// TestReadmeCommandLinesParse: every `promgate ...` command line in the
// README's shell examples parses (flags, values, arguments), so the
// examples stay true to the command line.
func TestReadmeCommandLinesParse(t *testing.T) {
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	inSh, cont := false, ""
	for _, l := range strings.Split(string(raw), "\n") {
		switch {
		case strings.HasPrefix(l, "```sh"):
			inSh = true
			continue
		case strings.HasPrefix(l, "```"):
			inSh = false
			continue
		case !inSh:
			continue
		}
		if i := strings.Index(l, "  #"); i >= 0 {
			l = l[:i]
		}
		l = strings.TrimSpace(l)
		if cont != "" {
			l = cont + " " + l
		}
		if strings.HasSuffix(l, `\`) {
			cont = strings.TrimSuffix(l, `\`)
			continue
		}
		cont = ""
		// promgate, after nothing but VAR=value assignments.
		if i := strings.Index(l, "promgate "); i >= 0 && envOnly.MatchString(l[:i]) {
			lines = append(lines, subshell.ReplaceAllString(l[i+len("promgate "):], "X"))
		}
	}
	if len(lines) < 10 {
		t.Fatalf("found only %d command lines: %q", len(lines), lines)
	}
	for _, l := range lines {
		args := shellWords(t, l)
		c := newCLI(strings.NewReader(""), io.Discard, io.Discard)
		if _, err := c.parse(args); err != nil {
			t.Errorf("promgate %s: %v", l, err)
		}
	}
}

var (
	envOnly  = regexp.MustCompile(`^([A-Z_]+=\S+ )*$`)
	subshell = regexp.MustCompile(`\$\([^)]*\)`)
)

// shellWords splits a command line as sh would, for the quoting the README
// uses ('...' and "...").
func shellWords(t *testing.T, s string) []string {
	t.Helper()
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; {
		case ch == ' ':
			if inWord {
				words, inWord = append(words, cur.String()), false
				cur.Reset()
			}
		case ch == '\'' || ch == '"':
			j := strings.IndexByte(s[i+1:], ch)
			if j < 0 {
				t.Fatalf("unbalanced quote in %q", s)
			}
			cur.WriteString(s[i+1 : i+1+j])
			i, inWord = i+1+j, true
		default:
			cur.WriteByte(ch)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}
