package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/promgate/promgate/internal/access"
	"github.com/promgate/promgate/internal/audit"
	"github.com/promgate/promgate/internal/store"
)

// InitialOwnerLogin is the login of the OWNER created on first start.
const InitialOwnerLogin = "admin"

// InitialOwnerPasswordFile is the file, under the data dir, that receives a
// generated first OWNER password.
const InitialOwnerPasswordFile = "initial-owner-password"

// EnsureInitialOwner creates the OWNER "admin" when the store has no users.
// The password is envPassword (PROMGATE_OWNER_PASSWORD) when set; otherwise
// a random one written once to <dataDir>/initial-owner-password, mode 0600.
// It logs the file's path, never the password.
func EnsureInitialOwner(ctx context.Context, st store.Store, dataDir string, envPassword string, logger *slog.Logger) error {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	n, err := st.CountUsers(ctx)
	if err != nil {
		return fmt.Errorf("initial owner: %w", err)
	}
	if n > 0 {
		return nil
	}
	password, file := envPassword, ""
	if password == "" {
		password, err = randomBase62(24)
		if err != nil {
			return fmt.Errorf("initial owner: %w", err)
		}
		file = filepath.Join(dataDir, InitialOwnerPasswordFile)
		if err := writePrivateFile(file, []byte(password+"\n")); err != nil {
			return fmt.Errorf("initial owner: %w", err)
		}
	} else if err := validPassword(password); err != nil {
		return fmt.Errorf("initial owner: PROMGATE_OWNER_PASSWORD: %w", err)
	}
	hash, err := HashPassword(password)
	if err != nil {
		return fmt.Errorf("initial owner: %w", err)
	}
	u, err := st.CreateUser(ctx, store.User{
		Login: InitialOwnerLogin, PasswordHash: hash, Role: access.RoleOwner.String(), CreatedAt: time.Now(),
	})
	if errors.Is(err, store.ErrConflict) {
		// Another replica won the race; our password is not the one stored.
		if file != "" {
			_ = os.Remove(file)
		}
		return nil
	}
	if err != nil {
		if file != "" {
			_ = os.Remove(file)
		}
		return fmt.Errorf("initial owner: %w", err)
	}
	if err := st.AppendAudit(ctx, store.AuditEvent{
		At: time.Now(), Actor: audit.System.Name, Action: "user.create", Target: "user:" + u.Login, Detail: "initial owner",
	}); err != nil {
		logger.ErrorContext(ctx, "append audit event", "action", "user.create", "err", err)
	}
	if file != "" {
		logger.InfoContext(ctx, "created the first OWNER; its password is in the file (delete the file after first login)",
			"login", u.Login, "password_file", file)
	} else {
		logger.InfoContext(ctx, "created the first OWNER with the password from PROMGATE_OWNER_PASSWORD", "login", u.Login)
	}
	return nil
}

// writePrivateFile replaces path with data, readable by the owner only.
// Writing a temp file and renaming means no reader ever sees a partial file
// and a stale file from a previous database is replaced, not appended to.
func writePrivateFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".initial-owner-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() { _ = os.Remove(tmp) }()
	if err := f.Chmod(0o600); err != nil {
		_ = f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
