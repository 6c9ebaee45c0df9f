package manage

import (
	"context"
	"fmt"

	"github.com/promgate/promgate/internal/access"
	"github.com/promgate/promgate/internal/audit"
	"github.com/promgate/promgate/internal/store"
)

// CreateProviderUser creates the user an OpenID Connect provider's subject
// signs in as, at their first sign-in: no password (they cannot sign in
// with one), the provider and subject recorded for the User Directory and
// for finding them again. A login taken by another user is a conflict.
func (m *Manager) CreateProviderUser(ctx context.Context, actor audit.Actor, login string, role access.Role, provider, subject string) (store.User, error) {
	if err := validLogin(login); err != nil {
		return store.User{}, err
	}
	if role == access.RoleNone || provider == "" || subject == "" {
		return store.User{}, invalid("role, provider and subject are required")
	}
	u, err := m.st.CreateUser(ctx, store.User{Login: login, Role: role.String(), CreatedAt: m.now(), Provider: provider, Subject: subject})
	if err != nil {
		return store.User{}, fmt.Errorf("create user: %w", err)
	}
	m.audit.Write(ctx, actor, "user.create", "user:"+u.Login, "role="+u.Role+" provider="+provider)
	return u, nil
}
