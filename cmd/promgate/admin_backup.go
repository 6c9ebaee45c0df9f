package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/promgate/promgate/internal/secrets"
	"github.com/promgate/promgate/internal/store/sqlstore"
	"github.com/promgate/promgate/internal/store/storeopen"
)

const backupUsage = `usage: promgate admin backup --output FILE [--data-dir D]

Writes a consistent copy of the SQLite store (users, credentials, sessions,
data sources, audit log) to FILE, which must not exist yet. It works while the
server runs. Keep <data-dir>/secret.key with it: the data sources' passwords
and tokens in the copy can only be read with that key. The TSDB (metrics) is
not part of it. With a PostgreSQL store, use pg_dump instead.
See "Backups and restore" in the README for the restore steps.

flags:
`

// runAdminBackup runs `promgate admin backup`; args excludes "backup".
func runAdminBackup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("promgate admin backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", envOr("PROMGATE_DATA_DIR", "./data"), "data directory")
	storeURL := fs.String("store-url", os.Getenv("PROMGATE_STORE_URL"), "PostgreSQL URL (then use pg_dump instead)")
	output := fs.String("output", "", "file to write the copy to; must not exist")
	fs.Usage = func() {
		_, _ = io.WriteString(stderr, backupUsage)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, "admin backup"); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if *output == "" {
		return usageErr("backup needs --output FILE")
	}
	if *storeURL != "" {
		if err := storeopen.CheckURL(*storeURL); err != nil {
			return err
		}
		// No connection is made: PostgreSQL's own tool does this better.
		return errors.New("admin backup: the store is PostgreSQL; back it up with pg_dump, e.g. pg_dump --format=custom --file FILE 'postgres://USER@HOST:PORT/DB' (keep the secret key file with it); nothing was written")
	}
	db := filepath.Join(*dataDir, storeopen.SQLiteFile)
	info, err := sqlstore.BackupSQLite(ctx, db, *output)
	if err != nil {
		return fmt.Errorf("admin %w", err)
	}
	_, err = fmt.Fprintf(stdout, "backed up %s to %s (%d bytes: %d users, %d credentials, %d data sources)\n"+
		"Keep %s with it: the data sources' secrets in the copy can only be read with that key.\n",
		db, *output, info.Bytes, info.Users, info.Credentials, info.DataSources, filepath.Join(*dataDir, secrets.DefaultFileName))
	return err
}
