package store

import (
	"context"
	"time"
)

// WithUnavailable wraps s so that every error its methods return that
// isUnavailable recognises also matches ErrUnavailable. Each store
// implementation knows its own connection errors; this is the one place
// they are turned into the store's own meaning, for every method alike.
func WithUnavailable(s Store, isUnavailable func(error) bool) Store {
	return &classified{s: s, is: isUnavailable}
}

// Unwrap returns the store that WithUnavailable wrapped, or s itself.
func Unwrap(s Store) Store {
	if c, ok := s.(*classified); ok {
		return c.s
	}
	return s
}

type classified struct {
	s  Store
	is func(error) bool
}

func (c *classified) mark(err error) error {
	if err != nil && c.is(err) {
		return Unavailable(err)
	}
	return err
}

func (c *classified) CreateUser(ctx context.Context, u User) (User, error) {
	v, err := c.s.CreateUser(ctx, u)
	return v, c.mark(err)
}

func (c *classified) GetUser(ctx context.Context, id int64) (User, error) {
	v, err := c.s.GetUser(ctx, id)
	return v, c.mark(err)
}

func (c *classified) GetUserByLogin(ctx context.Context, login string) (User, error) {
	v, err := c.s.GetUserByLogin(ctx, login)
	return v, c.mark(err)
}

func (c *classified) GetUserBySubject(ctx context.Context, provider, subject string) (User, error) {
	v, err := c.s.GetUserBySubject(ctx, provider, subject)
	return v, c.mark(err)
}

func (c *classified) ListUsers(ctx context.Context) ([]User, error) {
	v, err := c.s.ListUsers(ctx)
	return v, c.mark(err)
}

func (c *classified) CountUsers(ctx context.Context) (int, error) {
	v, err := c.s.CountUsers(ctx)
	return v, c.mark(err)
}

func (c *classified) SetUserRole(ctx context.Context, id int64, role string) error {
	return c.mark(c.s.SetUserRole(ctx, id, role))
}

func (c *classified) SetUserDisabled(ctx context.Context, id int64, disabled bool) error {
	return c.mark(c.s.SetUserDisabled(ctx, id, disabled))
}

func (c *classified) SetUserPassword(ctx context.Context, id int64, passwordHash string) error {
	return c.mark(c.s.SetUserPassword(ctx, id, passwordHash))
}

func (c *classified) DeleteUser(ctx context.Context, id int64) error {
	return c.mark(c.s.DeleteUser(ctx, id))
}

func (c *classified) CreateCredential(ctx context.Context, cr Credential) (Credential, error) {
	v, err := c.s.CreateCredential(ctx, cr)
	return v, c.mark(err)
}

func (c *classified) GetCredentialByKey(ctx context.Context, key string) (Credential, error) {
	v, err := c.s.GetCredentialByKey(ctx, key)
	return v, c.mark(err)
}

func (c *classified) GetCredential(ctx context.Context, id int64) (Credential, error) {
	v, err := c.s.GetCredential(ctx, id)
	return v, c.mark(err)
}

func (c *classified) ListCredentials(ctx context.Context, f CredentialFilter) ([]Credential, error) {
	v, err := c.s.ListCredentials(ctx, f)
	return v, c.mark(err)
}

func (c *classified) RevokeCredential(ctx context.Context, id int64, at time.Time) error {
	return c.mark(c.s.RevokeCredential(ctx, id, at))
}

func (c *classified) TouchCredential(ctx context.Context, id int64, at time.Time) error {
	return c.mark(c.s.TouchCredential(ctx, id, at))
}

func (c *classified) CreateSession(ctx context.Context, s Session) error {
	return c.mark(c.s.CreateSession(ctx, s))
}

func (c *classified) GetSession(ctx context.Context, idHash []byte) (Session, error) {
	v, err := c.s.GetSession(ctx, idHash)
	return v, c.mark(err)
}

func (c *classified) DeleteSession(ctx context.Context, idHash []byte) error {
	return c.mark(c.s.DeleteSession(ctx, idHash))
}

func (c *classified) DeleteUserSessions(ctx context.Context, userID int64) error {
	return c.mark(c.s.DeleteUserSessions(ctx, userID))
}

func (c *classified) DeleteExpiredSessions(ctx context.Context, now time.Time) error {
	return c.mark(c.s.DeleteExpiredSessions(ctx, now))
}

func (c *classified) CreateDataSource(ctx context.Context, d DataSource) (DataSource, error) {
	v, err := c.s.CreateDataSource(ctx, d)
	return v, c.mark(err)
}

func (c *classified) UpdateDataSource(ctx context.Context, d DataSource) error {
	return c.mark(c.s.UpdateDataSource(ctx, d))
}

func (c *classified) GetDataSource(ctx context.Context, id int64) (DataSource, error) {
	v, err := c.s.GetDataSource(ctx, id)
	return v, c.mark(err)
}

func (c *classified) GetDataSourceByUID(ctx context.Context, uid string) (DataSource, error) {
	v, err := c.s.GetDataSourceByUID(ctx, uid)
	return v, c.mark(err)
}

func (c *classified) ListDataSources(ctx context.Context) ([]DataSource, error) {
	v, err := c.s.ListDataSources(ctx)
	return v, c.mark(err)
}

func (c *classified) DeleteDataSource(ctx context.Context, id int64) error {
	return c.mark(c.s.DeleteDataSource(ctx, id))
}

func (c *classified) AppendAudit(ctx context.Context, e AuditEvent) error {
	return c.mark(c.s.AppendAudit(ctx, e))
}

func (c *classified) ListAudit(ctx context.Context, limit int) ([]AuditEvent, error) {
	v, err := c.s.ListAudit(ctx, limit)
	return v, c.mark(err)
}

func (c *classified) Generation(ctx context.Context) (int64, error) {
	v, err := c.s.Generation(ctx)
	return v, c.mark(err)
}

func (c *classified) Close() error { return c.s.Close() }
