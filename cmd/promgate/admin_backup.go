package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/alecthomas/kingpin/v2"

	"github.com/promgate/promgate/internal/secrets"
	"github.com/promgate/promgate/internal/store/sqlstore"
	"github.com/promgate/promgate/internal/store/storeopen"
)

const backupHelp = `Writes a consistent copy of the SQLite store (users, credentials, sessions,
data sources, audit log) to --output FILE, which must not exist yet. It works
while the server runs. Keep <data-dir>/secret.key with it: the data sources'
passwords and tokens in the copy can only be read with that key. The TSDB
(metrics) is not part of it. With a PostgreSQL store, use pg_dump instead.
See "Backups and restore" in the README for the restore steps.
`

// addAdminBackup defines `promgate admin backup` and its flag.
func (cl *cli) addAdminBackup(admin *kingpin.CmdClause, s *adminStore) {
	cmd := admin.Command("backup", "Consistent copy of the SQLite store, also while the server runs.").HelpLong(backupHelp)
	output := cmd.Flag("output", "File to write the copy to; must not exist.").Required().PlaceHolder("FILE").String()
	cl.runners["admin backup"] = func(ctx context.Context) error { return runAdminBackup(ctx, s, *output, cl.stdout) }
}

// runAdminBackup runs `promgate admin backup`.
func runAdminBackup(ctx context.Context, s *adminStore, output string, stdout io.Writer) error {
	if s.storeURL != "" {
		if err := storeopen.CheckURL(s.storeURL); err != nil {
			return err
		}
		// No connection is made: PostgreSQL's own tool does this better.
		return errors.New("admin backup: the store is PostgreSQL; back it up with pg_dump, e.g. pg_dump --format=custom --file FILE 'postgres://USER@HOST:PORT/DB' (keep the secret key file with it); nothing was written")
	}
	db := filepath.Join(s.dataDir, storeopen.SQLiteFile)
	info, err := sqlstore.BackupSQLite(ctx, db, output)
	if err != nil {
		return fmt.Errorf("admin %w", err)
	}
	_, err = fmt.Fprintf(stdout, "backed up %s to %s (%d bytes: %d users, %d credentials, %d data sources)\n"+
		"Keep %s with it: the data sources' secrets in the copy can only be read with that key.\n",
		db, output, info.Bytes, info.Users, info.Credentials, info.DataSources, filepath.Join(s.dataDir, secrets.DefaultFileName))
	return err
}
