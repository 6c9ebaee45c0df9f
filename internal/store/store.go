// Package store keeps users, API credentials, sessions, data sources and the
// audit log. One implementation (sqlstore) serves two databases that share
// one schema and one conformance suite (storetest): SQLite (the default,
// pure Go) and PostgreSQL (for several replicas).
package store

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned (wrapped) when a looked-up row does not exist.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned (wrapped) when a unique value (login, credential
// key, data source uid or name) is already taken.
var ErrConflict = errors.New("already exists")

// ErrUnavailable is matched (errors.Is) by errors that mean the store could
// not be reached (PostgreSQL down, unreachable, restarting, out of
// connections) rather than that the request or the data is wrong: the same
// call may work in a moment. HTTP handlers answer it with 503 and
// Retry-After (promapi.WriteServerError).
var ErrUnavailable = errors.New("store unavailable")

// ErrCorrupt is matched by the error of opening a store whose file is
// damaged (not a database, or failing its integrity check).
var ErrCorrupt = errors.New("store damaged")

// Unavailable returns err marked as ErrUnavailable, keeping err's chain and
// message.
func Unavailable(err error) error {
	if err == nil || errors.Is(err, ErrUnavailable) {
		return err
	}
	return unavailableError{err}
}

type unavailableError struct{ err error }

func (e unavailableError) Error() string        { return e.err.Error() }
func (e unavailableError) Unwrap() error        { return e.err }
func (e unavailableError) Is(target error) bool { return target == ErrUnavailable }

// User is a person who logs in. Role is "VIEWER", "EDITOR" or "OWNER".
type User struct {
	ID           int64
	Login        string
	PasswordHash string // encoded argon2id hash, never a password
	Role         string
	Disabled     bool
	CreatedAt    time.Time
}

// Credential is an API credential (key:token). Only a hash of the token is
// kept. UserID is nil for a global (instance) credential.
type Credential struct {
	ID        int64
	Key       string // public identifier, unique
	TokenHash []byte // SHA-256 of the token
	Name      string
	UserID    *int64 // owner; nil for global credentials
	// Role is the credential's own role for global credentials; empty for
	// user credentials, which act with their user's current role.
	Role          string
	CreatedBy     string // login of the creator (kept if the user is deleted)
	CreatedAt     time.Time
	LastUsedAt    *time.Time
	ExpiresAt     *time.Time
	RevokedAt     *time.Time
	Scope         string  // "read", "write" or "read,write"
	DataSourceIDs []int64 // nil: every data source the owner may use
	Selector      string  // PromQL series selector, "" for none
}

// CredentialFilter selects credentials to list.
type CredentialFilter struct {
	UserID         *int64 // only this user's credentials
	Global         bool   // only global credentials
	IncludeRevoked bool
}

// Session is a browser login. ID is a hash of the cookie value.
type Session struct {
	IDHash    []byte
	UserID    int64
	CSRFToken string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// DataSource is a Prometheus-compatible backend. Secrets is an encrypted blob
// (see internal/datasource) that the store keeps opaque.
type DataSource struct {
	ID            int64
	UID           string
	Name          string
	Type          string // "prometheus"
	URL           string
	Env           string
	Site          string
	BasicAuthUser string
	Secrets       []byte            // ciphertext of password/bearer token
	Headers       map[string]string // extra non-secret headers, e.g. X-Scope-OrgID
	Timeout       time.Duration
	CreatedAt     time.Time
}

// AuditEvent records a security-relevant action.
type AuditEvent struct {
	ID         int64
	At         time.Time
	Actor      string // login or "credential:<key>" or "system"
	Action     string // e.g. "credential.create", "login.failure"
	Target     string
	Detail     string
	RemoteAddr string
}

// Store is everything promgate persists. Implementations are safe for
// concurrent use by several goroutines and several processes (replicas, the
// admin CLI while the server runs).
type Store interface {
	CreateUser(ctx context.Context, u User) (User, error)
	GetUser(ctx context.Context, id int64) (User, error)
	GetUserByLogin(ctx context.Context, login string) (User, error)
	ListUsers(ctx context.Context) ([]User, error)
	CountUsers(ctx context.Context) (int, error)
	SetUserRole(ctx context.Context, id int64, role string) error
	// SetUserDisabled disables or enables a user and, in the same
	// transaction, deletes all of the user's sessions, so that no session
	// outlives the change on any replica (sessions live only here). Enabling
	// deletes them too: a user disabled before this rule existed may still
	// have sessions, and re-enabling must not revive them.
	SetUserDisabled(ctx context.Context, id int64, disabled bool) error
	// SetUserPassword replaces a user's password hash and, in the same
	// transaction, deletes all of the user's sessions: there is no moment at
	// which the new password is in place and an old session still works.
	//
	// Both also order themselves with a concurrent CreateSession for the
	// same user: the session either commits before the change and is
	// deleted by it, or commits after it, so that reading the user once
	// CreateSession has returned shows the change. auth's Login relies on
	// this: it re-reads the user after creating a session and deletes the
	// session if the password or the disabled flag changed meanwhile.
	//
	// Why in the store's transaction rather than a DeleteUserSessions call
	// by the caller: a second call leaves a window (and, should it fail, a
	// state) in which the new password is set, or the user disabled, while
	// old sessions still work.
	SetUserPassword(ctx context.Context, id int64, passwordHash string) error
	// DeleteUser removes the user, their sessions and their credentials.
	DeleteUser(ctx context.Context, id int64) error

	CreateCredential(ctx context.Context, c Credential) (Credential, error)
	GetCredentialByKey(ctx context.Context, key string) (Credential, error)
	GetCredential(ctx context.Context, id int64) (Credential, error)
	ListCredentials(ctx context.Context, f CredentialFilter) ([]Credential, error)
	RevokeCredential(ctx context.Context, id int64, at time.Time) error
	TouchCredential(ctx context.Context, id int64, at time.Time) error

	CreateSession(ctx context.Context, s Session) error
	GetSession(ctx context.Context, idHash []byte) (Session, error)
	DeleteSession(ctx context.Context, idHash []byte) error
	// DeleteUserSessions deletes every session of the user (logging them out
	// everywhere). A user with no sessions, or no such user, is not an
	// error. It does not bump the generation: sessions are never cached.
	DeleteUserSessions(ctx context.Context, userID int64) error
	DeleteExpiredSessions(ctx context.Context, now time.Time) error

	CreateDataSource(ctx context.Context, d DataSource) (DataSource, error)
	UpdateDataSource(ctx context.Context, d DataSource) error
	GetDataSource(ctx context.Context, id int64) (DataSource, error)
	GetDataSourceByUID(ctx context.Context, uid string) (DataSource, error)
	ListDataSources(ctx context.Context) ([]DataSource, error)
	DeleteDataSource(ctx context.Context, id int64) error

	AppendAudit(ctx context.Context, e AuditEvent) error
	ListAudit(ctx context.Context, limit int) ([]AuditEvent, error)

	// Generation is a counter bumped by every change that can take access
	// away (role change, disable, delete, revoke) and every data source
	// change, creation included. The caches of verified credentials and of
	// data sources compare it to notice changes made by another process or
	// replica.
	Generation(ctx context.Context) (int64, error)

	Close() error
}
