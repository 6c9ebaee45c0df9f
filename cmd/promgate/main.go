// Command promgate gives people and scripts authenticated, role-scoped API
// access to Prometheus metrics, and gets those metrics out as CSV.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

const usage = `promgate: safe API access to Prometheus metrics.

Usage:
  promgate serve [flags]          run the server (embedded TSDB, proxy, UI) on :8030
  promgate query [flags] PROMQL   run an instant query and print CSV (or --format)
  promgate query-range [flags] PROMQL --start T --end T --step D
                                  run a range query, split and streamed
  promgate admin user|credential|datasource|backup ...
                                  manage users, API credentials and data sources;
                                  back up the store
  promgate version                print the version

Run "promgate <command> -h" for a command's flags. Every flag can also be set
with a PROMGATE_* environment variable (e.g. --data-dir: PROMGATE_DATA_DIR).
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "promgate:", err)
		}
		os.Exit(exitCode(err))
	}
}

func exitCode(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	var u usageError
	if errors.As(err, &u) {
		return 2
	}
	return 1
}

// usageError marks a mistake in how promgate was called.
type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usageError{"no command given"}
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		return runServe(ctx, rest, stderr)
	case "query":
		return runQuery(ctx, rest, stdout, stderr)
	case "query-range":
		return runQueryRange(ctx, rest, stdout, stderr)
	case "admin":
		return runAdmin(ctx, rest, stdin, stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "promgate", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return usageError{fmt.Sprintf("unknown command %q", cmd)}
	}
}

// parseFlags parses args without flag's own printing: a mistake comes back as
// one line naming it and the -h to run, instead of the whole flag list with
// the error above it; -h prints fs.Usage and returns flag.ErrHelp.
func parseFlags(fs *flag.FlagSet, args []string, cmd string) error {
	out, usage := fs.Output(), fs.Usage
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	fs.SetOutput(out)
	fs.Usage = usage
	switch {
	case err == nil:
		return nil
	case errors.Is(err, flag.ErrHelp):
		fs.Usage()
		return err
	}
	return usageError{fmt.Sprintf("%v (run %q for the flags)", err, "promgate "+cmd+" -h")}
}
