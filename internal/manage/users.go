package manage

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/promgate/promgate/internal/access"
	"github.com/promgate/promgate/internal/audit"
	"github.com/promgate/promgate/internal/auth"
	"github.com/promgate/promgate/internal/enforce"
	"github.com/promgate/promgate/internal/promapi"
	"github.com/promgate/promgate/internal/store"
)

// ErrLastOwner is returned when a change would leave no enabled OWNER.
var ErrLastOwner error = &promapi.Error{Status: http.StatusConflict, Type: promapi.ErrConflict, Msg: "this would leave no enabled OWNER"}

const (
	maxNameLen     = 200
	maxSelectorLen = 4096
)

// invalid is input a management operation rejects: 400 bad_data.
func invalid(format string, args ...any) error {
	return promapi.BadData("invalid input: "+format, args...)
}

func validLogin(login string) error {
	if login == "" || len(login) > auth.MaxLoginLen || !utf8.ValidString(login) {
		return invalid("login must be 1 to %d bytes of UTF-8", auth.MaxLoginLen)
	}
	for _, r := range login {
		if unicode.IsControl(r) || unicode.IsSpace(r) || r == ':' {
			return invalid("login must not contain spaces, control characters or ':'")
		}
	}
	return nil
}

func validPassword(pw string) error {
	if utf8.RuneCountInString(pw) < auth.MinPasswordLen || len(pw) > auth.MaxPasswordLen {
		return invalid("password must be %d to %d characters", auth.MinPasswordLen, auth.MaxPasswordLen)
	}
	return nil
}

// ValidateSelector checks a credential's label selector, e.g. {env="prod"}.
func ValidateSelector(sel string) error {
	if strings.TrimSpace(sel) == "" {
		return nil
	}
	if len(sel) > maxSelectorLen {
		return invalid("selector longer than %d bytes", maxSelectorLen)
	}
	// The same parser the query path enforces with, so a stored selector is
	// one enforcement accepts.
	if _, err := enforce.ParsePolicy(sel); err != nil {
		return invalid("selector: %v", err)
	}
	return nil
}

// CreateUser adds a user with a password.
func (m *Manager) CreateUser(ctx context.Context, actor audit.Actor, login, password string, role access.Role) (store.User, error) {
	if err := validLogin(login); err != nil {
		return store.User{}, err
	}
	if err := validPassword(password); err != nil {
		return store.User{}, err
	}
	if role == access.RoleNone {
		return store.User{}, invalid("role is required")
	}
	hash, err := auth.HashPassword(password)
	if err != nil {
		return store.User{}, fmt.Errorf("create user: %w", err)
	}
	u, err := m.st.CreateUser(ctx, store.User{Login: login, PasswordHash: hash, Role: role.String(), CreatedAt: m.now()})
	if err != nil {
		return store.User{}, fmt.Errorf("create user: %w", err)
	}
	m.audit.Write(ctx, actor, "user.create", "user:"+u.Login, "role="+u.Role)
	return u, nil
}

// SetUserPassword replaces a user's password and ends every session of the
// user, on every replica: the store deletes them in the same transaction.
// The user's API credentials are not affected; revoke them separately.
func (m *Manager) SetUserPassword(ctx context.Context, actor audit.Actor, id int64, password string) error {
	if err := validPassword(password); err != nil {
		return err
	}
	hash, err := auth.HashPassword(password)
	if err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	defer m.accessChanged()
	if err := m.st.SetUserPassword(ctx, id, hash); err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	m.audit.Write(ctx, actor, "user.password", fmt.Sprintf("user_id:%d", id), "")
	return nil
}

// keepsAnOwner returns ErrLastOwner if taking target out of the enabled
// OWNERs would leave none. Caller holds userMu.
func (m *Manager) keepsAnOwner(ctx context.Context, target store.User) error {
	if target.Role != access.RoleOwner.String() || target.Disabled {
		return nil
	}
	users, err := m.st.ListUsers(ctx)
	if err != nil {
		return fmt.Errorf("count owners: %w", err)
	}
	for _, u := range users {
		if u.ID != target.ID && u.Role == access.RoleOwner.String() && !u.Disabled {
			return nil
		}
	}
	return ErrLastOwner
}

// SetUserRole changes a user's role. It takes effect on the user's next
// request in this process and within the generation poll elsewhere.
func (m *Manager) SetUserRole(ctx context.Context, actor audit.Actor, id int64, role access.Role) error {
	if role == access.RoleNone {
		return invalid("role is required")
	}
	m.userMu.Lock()
	defer m.userMu.Unlock()
	u, err := m.st.GetUser(ctx, id)
	if err != nil {
		return fmt.Errorf("set role: %w", err)
	}
	if u.Role == role.String() {
		return nil
	}
	if role != access.RoleOwner {
		if err := m.keepsAnOwner(ctx, u); err != nil {
			return err
		}
	}
	defer m.accessChanged()
	if err := m.st.SetUserRole(ctx, id, role.String()); err != nil {
		return fmt.Errorf("set role: %w", err)
	}
	m.audit.Write(ctx, actor, "user.role", "user:"+u.Login, u.Role+"->"+role.String())
	return nil
}

// SetUserDisabled disables or enables a user; a disabled user's credentials
// are refused. Either way every session of the user ends, on every replica
// (the store deletes them in the same transaction), so re-enabling a user
// never revives an old session.
func (m *Manager) SetUserDisabled(ctx context.Context, actor audit.Actor, id int64, disabled bool) error {
	m.userMu.Lock()
	defer m.userMu.Unlock()
	u, err := m.st.GetUser(ctx, id)
	if err != nil {
		return fmt.Errorf("set disabled: %w", err)
	}
	if u.Disabled == disabled {
		return nil
	}
	if disabled {
		if err := m.keepsAnOwner(ctx, u); err != nil {
			return err
		}
	}
	defer m.accessChanged()
	if err := m.st.SetUserDisabled(ctx, id, disabled); err != nil {
		return fmt.Errorf("set disabled: %w", err)
	}
	action := "user.enable"
	if disabled {
		action = "user.disable"
	}
	m.audit.Write(ctx, actor, action, "user:"+u.Login, "")
	return nil
}

// DeleteUser removes a user with their sessions and credentials.
func (m *Manager) DeleteUser(ctx context.Context, actor audit.Actor, id int64) error {
	m.userMu.Lock()
	defer m.userMu.Unlock()
	u, err := m.st.GetUser(ctx, id)
	if err != nil {
		return fmt.Errorf("delete user: %w", err)
	}
	if err := m.keepsAnOwner(ctx, u); err != nil {
		return err
	}
	defer m.accessChanged()
	if err := m.st.DeleteUser(ctx, id); err != nil {
		return fmt.Errorf("delete user: %w", err)
	}
	m.audit.Write(ctx, actor, "user.delete", "user:"+u.Login, "")
	return nil
}

// CredentialSpec describes a credential to create.
type CredentialSpec struct {
	Name string
	// UserID makes a user credential; nil makes a global one with Role.
	UserID    *int64
	Role      access.Role
	ExpiresAt *time.Time
	// Scope zero means read.
	Scope access.Scope
	// DataSourceIDs nil means every data source; the caller checks they
	// exist and that the creator may use them.
	DataSourceIDs []int64
	Selector      string
	CreatedBy     string
}

// CreateCredential makes a credential and returns it with its token. The
// token exists only in this return value: only its hash is stored.
func (m *Manager) CreateCredential(ctx context.Context, actor audit.Actor, spec CredentialSpec) (store.Credential, string, error) {
	spec.Name = strings.TrimSpace(spec.Name)
	spec.Selector = strings.TrimSpace(spec.Selector)
	if spec.Name == "" || len(spec.Name) > maxNameLen || !utf8.ValidString(spec.Name) {
		return store.Credential{}, "", invalid("name must be 1 to %d bytes of UTF-8", maxNameLen)
	}
	if spec.UserID == nil && spec.Role == access.RoleNone {
		return store.Credential{}, "", invalid("a global credential needs a role")
	}
	if spec.UserID != nil && spec.Role != access.RoleNone {
		return store.Credential{}, "", invalid("a user credential acts with its user's role and takes no role of its own")
	}
	if spec.ExpiresAt != nil && !spec.ExpiresAt.After(m.now()) {
		return store.Credential{}, "", invalid("expiry must be in the future")
	}
	if spec.Scope == 0 {
		spec.Scope = access.ScopeRead
	}
	if err := ValidateSelector(spec.Selector); err != nil {
		return store.Credential{}, "", err
	}
	if spec.DataSourceIDs != nil {
		spec.DataSourceIDs = slices.Clone(spec.DataSourceIDs)
		slices.Sort(spec.DataSourceIDs)
		spec.DataSourceIDs = slices.Compact(spec.DataSourceIDs)
	}
	key, token, err := auth.GenerateCredential()
	if err != nil {
		return store.Credential{}, "", fmt.Errorf("create credential: %w", err)
	}
	c := store.Credential{
		Key:           key,
		TokenHash:     auth.HashToken(token),
		Name:          spec.Name,
		UserID:        spec.UserID,
		CreatedBy:     spec.CreatedBy,
		CreatedAt:     m.now(),
		ExpiresAt:     spec.ExpiresAt,
		Scope:         spec.Scope.String(),
		DataSourceIDs: spec.DataSourceIDs,
		Selector:      spec.Selector,
	}
	if spec.UserID == nil {
		c.Role = spec.Role.String()
	}
	c, err = m.st.CreateCredential(ctx, c)
	if err != nil {
		return store.Credential{}, "", fmt.Errorf("create credential: %w", err)
	}
	kind := "user"
	if c.UserID == nil {
		kind = "global role=" + c.Role
	}
	m.audit.Write(ctx, actor, "credential.create", "credential:"+c.Key, fmt.Sprintf("%s name=%q scope=%s", kind, c.Name, c.Scope))
	return c, token, nil
}

// RevokeCredential revokes a credential; it is refused from the next
// request on in this process, and within the generation poll elsewhere.
func (m *Manager) RevokeCredential(ctx context.Context, actor audit.Actor, id int64) error {
	c, err := m.st.GetCredential(ctx, id)
	if err != nil {
		return fmt.Errorf("revoke credential: %w", err)
	}
	defer m.accessChanged()
	if err := m.st.RevokeCredential(ctx, id, m.now()); err != nil {
		return fmt.Errorf("revoke credential: %w", err)
	}
	m.audit.Write(ctx, actor, "credential.revoke", "credential:"+c.Key, fmt.Sprintf("name=%q", c.Name))
	return nil
}
