// Package datadir knows the layout of promgate's data dir: the lock that
// keeps a second `promgate serve` out of it, and the signs that promgate ran
// there before (so an emptied store is not mistaken for a fresh install).
package datadir

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/prometheus/prometheus/tsdb/fileutil"
)

// Names inside the data dir.
const (
	LockFile  = "lock"       // held by the running `promgate serve`
	TSDB      = "tsdb"       // the embedded Prometheus TSDB
	SecretKey = "secret.key" // the default data source secret key file
)

// Lock is an exclusive hold on a data dir.
type Lock struct {
	rel fileutil.Releaser
}

// Acquire takes the data dir's lock without waiting: flock on
// <dir>/lock, which the kernel releases when the process ends however it
// ends, so a crash never leaves a stale lock. The holder writes its process
// id into the file, so a refused second instance can say which process
// holds it. The file is kept on release: removing it would let two
// processes hold locks on two different files of the same name.
func Acquire(dir string) (*Lock, error) {
	path := filepath.Join(dir, LockFile)
	// The lock is opened and the pid written by name, which follows a
	// symlink: a link there would lock, and overwrite, the file it names.
	if fi, err := os.Lstat(path); err == nil && !fi.Mode().IsRegular() {
		kind := "a directory or device"
		if fi.Mode()&os.ModeSymlink != 0 {
			kind = "a symlink"
		}
		return nil, fmt.Errorf("data dir lock %s is not a regular file (%s): remove it and start again", path, kind)
	}
	rel, _, err := fileutil.Flock(path)
	if err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) || errors.Is(err, syscall.EAGAIN) {
			holder := "another process"
			if pid := readPID(path); pid > 0 {
				holder = fmt.Sprintf("process %d", pid)
			}
			return nil, fmt.Errorf("data dir %s is in use by %s (another promgate serve?): stop it, or give this one its own --data-dir", dir, holder)
		}
		return nil, fmt.Errorf("lock data dir %s: %w", dir, err)
	}
	// The pid is only a hint for the message above; the lock is the flock.
	_ = os.WriteFile(path, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600)
	return &Lock{rel: rel}, nil
}

// Release gives the lock up.
func (l *Lock) Release() error {
	if err := l.rel.Release(); err != nil {
		return fmt.Errorf("release data dir lock: %w", err)
	}
	return nil
}

func readPID(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(string(bytes.TrimSpace(b)))
	if err != nil {
		return 0
	}
	return pid
}

// EarlierState lists what in dir shows that promgate has run there before:
// the secret key file, TSDB blocks, or a WAL with records in it. Nil means
// a fresh data dir. A WAL of empty segments does not count: the TSDB
// creates one on its first open, before anything else has happened.
func EarlierState(dir string) ([]string, error) {
	var found []string
	if _, err := os.Stat(filepath.Join(dir, SecretKey)); err == nil {
		found = append(found, SecretKey)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("look at data dir: %w", err)
	}
	tsdbDir := filepath.Join(dir, TSDB)
	entries, err := os.ReadDir(tsdbDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("look at data dir: %w", err)
	}
	blocks := 0
	for _, e := range entries {
		if _, err := os.Stat(filepath.Join(tsdbDir, e.Name(), "meta.json")); err == nil {
			blocks++
		}
	}
	switch {
	case blocks == 1:
		found = append(found, "1 TSDB block")
	case blocks > 1:
		found = append(found, fmt.Sprintf("%d TSDB blocks", blocks))
	}
	walBytes := int64(0)
	walErr := filepath.WalkDir(filepath.Join(tsdbDir, "wal"), func(_ string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if fi, err := d.Info(); err == nil {
			walBytes += fi.Size()
		}
		return nil
	})
	if walErr != nil && !errors.Is(walErr, os.ErrNotExist) {
		return nil, fmt.Errorf("look at data dir: %w", walErr)
	}
	if walBytes > 0 {
		found = append(found, "a TSDB WAL")
	}
	return found, nil
}
