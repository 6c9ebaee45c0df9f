package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// BackupInfo counts what a SQLite backup holds, as read back from the copy.
type BackupInfo struct {
	Users, Credentials, DataSources int
	Bytes                           int64
}

// BackupSQLite writes a consistent copy of the SQLite store at dbPath to out with
// VACUUM INTO: one read transaction, so it runs while the server (and the
// admin CLI) keep writing, and the copy is the database as of one moment,
// compacted. The copy is written to a temporary file beside out, checked
// (quick_check, and counted), synced and only then linked to out, which
// must not exist: an existing backup is never overwritten. The file is
// 0600, like the database: it holds password and token hashes.
func BackupSQLite(ctx context.Context, dbPath, out string) (BackupInfo, error) {
	if strings.ContainsRune(dbPath, '?') {
		return BackupInfo{}, fmt.Errorf("backup: path %q must not contain '?'", dbPath)
	}
	fi, err := os.Stat(dbPath)
	if errors.Is(err, os.ErrNotExist) || err == nil && fi.Size() == 0 {
		return BackupInfo{}, fmt.Errorf("backup: no store at %s (is --data-dir right?)", dbPath)
	}
	if err != nil {
		return BackupInfo{}, fmt.Errorf("backup: %w", err)
	}
	if _, err := os.Lstat(out); err == nil {
		return BackupInfo{}, fmt.Errorf("backup: %s already exists; give a new file", out)
	}
	// An empty file of our own, 0600 from the first byte; VACUUM INTO
	// accepts an empty file and keeps its mode.
	tmpf, err := os.CreateTemp(filepath.Dir(out), ".promgate-backup-*")
	if err != nil {
		return BackupInfo{}, fmt.Errorf("backup: %w", err)
	}
	tmp := tmpf.Name()
	defer func() {
		for _, p := range []string{tmp, tmp + "-journal", tmp + "-wal", tmp + "-shm"} {
			_ = os.Remove(p)
		}
	}()
	if err := errors.Join(tmpf.Chmod(0o600), tmpf.Close()); err != nil {
		return BackupInfo{}, fmt.Errorf("backup: %w", err)
	}

	// Not query_only: SQLite counts writing the copy as a write. The source
	// is only read.
	src, err := sql.Open("sqlite", fmt.Sprintf("%s?_pragma=busy_timeout(%d)", dbPath, busyTimeout.Milliseconds()))
	if err != nil {
		return BackupInfo{}, fmt.Errorf("backup: open %s: %w", dbPath, err)
	}
	defer func() { _ = src.Close() }()
	if _, err := src.ExecContext(ctx, `VACUUM INTO ?`, tmp); err != nil {
		if isCorrupt(err) {
			return BackupInfo{}, fmt.Errorf("backup: %s is damaged: %w", dbPath, err)
		}
		return BackupInfo{}, fmt.Errorf("backup: copy %s: %w", dbPath, err)
	}
	info, err := checkCopy(ctx, tmp)
	if err != nil {
		return BackupInfo{}, err
	}
	if err := syncFile(tmp); err != nil {
		return BackupInfo{}, fmt.Errorf("backup: %w", err)
	}
	// A hard link never replaces an existing file, unlike rename.
	if err := os.Link(tmp, out); err != nil {
		return BackupInfo{}, fmt.Errorf("backup: %w", err)
	}
	if err := syncFile(filepath.Dir(out)); err != nil {
		return BackupInfo{}, fmt.Errorf("backup: %w", err)
	}
	return info, nil
}

// checkCopy reads the copy back: it must pass quick_check, and its counts
// tell the operator what the backup holds.
func checkCopy(ctx context.Context, path string) (BackupInfo, error) {
	db, err := sql.Open("sqlite", path+"?_pragma=query_only(1)")
	if err != nil {
		return BackupInfo{}, fmt.Errorf("backup: check the copy: %w", err)
	}
	defer func() { _ = db.Close() }()
	if err := checkIntegrity(ctx, db, path); err != nil {
		return BackupInfo{}, fmt.Errorf("backup: the copy fails its check: %w", err)
	}
	var info BackupInfo
	for _, c := range []struct {
		table string
		n     *int
	}{{"users", &info.Users}, {"credentials", &info.Credentials}, {"data_sources", &info.DataSources}} {
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+c.table).Scan(c.n); err != nil {
			return BackupInfo{}, fmt.Errorf("backup: check the copy: count %s: %w", c.table, err)
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		return BackupInfo{}, fmt.Errorf("backup: %w", err)
	}
	info.Bytes = fi.Size()
	return info, nil
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	return errors.Join(f.Sync(), f.Close())
}
