package manage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/promgate/promgate/internal/access"
	"github.com/promgate/promgate/internal/audit"
	"github.com/promgate/promgate/internal/auth"
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
func (m *Manager) EnsureInitialOwner(ctx context.Context, dataDir string, envPassword string) error {
	n, err := m.st.CountUsers(ctx)
	if err != nil {
		return fmt.Errorf("initial owner: %w", err)
	}
	if n > 0 {
		return nil
	}
	password, file := envPassword, ""
	if password == "" {
		password, err = auth.RandomPassword()
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
	hash, err := auth.HashPassword(password)
	if err != nil {
		return fmt.Errorf("initial owner: %w", err)
	}
	u, err := m.st.CreateUser(ctx, store.User{
		Login: InitialOwnerLogin, PasswordHash: hash, Role: access.RoleOwner.String(), CreatedAt: m.now(),
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
	m.audit.Write(ctx, audit.System, "user.create", "user:"+u.Login, "initial owner")
	if file != "" {
		m.log.InfoContext(ctx, "created the first OWNER; its password is in the file (delete the file after first login)",
			"login", u.Login, "password_file", file)
	} else {
		m.log.InfoContext(ctx, "created the first OWNER with the password from PROMGATE_OWNER_PASSWORD", "login", u.Login)
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
