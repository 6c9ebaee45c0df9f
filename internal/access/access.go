// Package access decides what a caller may do: roles, the permissions they
// grant, and the limits (scope, data sources, label selector) a credential
// carries. It knows nothing about HTTP or storage.
package access

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// Role is a user's or a global credential's role. The zero value is no role.
type Role int

// Roles in increasing order of power, as in the reference role table.
const (
	RoleNone Role = iota
	RoleViewer
	RoleEditor
	RoleOwner
)

// ParseRole reads VIEWER, EDITOR or OWNER (any case).
func ParseRole(s string) (Role, error) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "VIEWER":
		return RoleViewer, nil
	case "EDITOR":
		return RoleEditor, nil
	case "OWNER":
		return RoleOwner, nil
	}
	return RoleNone, fmt.Errorf("unknown role %q: want VIEWER, EDITOR or OWNER", s)
}

func (r Role) String() string {
	switch r {
	case RoleViewer:
		return "VIEWER"
	case RoleEditor:
		return "EDITOR"
	case RoleOwner:
		return "OWNER"
	}
	return "NONE"
}

// AtLeast reports whether r grants everything min grants.
func (r Role) AtLeast(min Role) bool { return r >= min }

// Scope is what a credential may be used for.
type Scope uint8

const (
	ScopeRead Scope = 1 << iota
	ScopeWrite
)

// ParseScope reads "read", "write" or "read,write". Empty means read.
func ParseScope(s string) (Scope, error) {
	if strings.TrimSpace(s) == "" {
		return ScopeRead, nil
	}
	var sc Scope
	for part := range strings.SplitSeq(s, ",") {
		switch strings.ToLower(strings.TrimSpace(part)) {
		case "read":
			sc |= ScopeRead
		case "write":
			sc |= ScopeWrite
		default:
			return 0, fmt.Errorf("unknown scope %q: want read, write or read,write", part)
		}
	}
	return sc, nil
}

func (s Scope) String() string {
	var parts []string
	if s&ScopeRead != 0 {
		parts = append(parts, "read")
	}
	if s&ScopeWrite != 0 {
		parts = append(parts, "write")
	}
	return strings.Join(parts, ",")
}

// Has reports whether s includes all of want.
func (s Scope) Has(want Scope) bool { return s&want == want }

// PrincipalKind says how the caller proved who they are.
type PrincipalKind int

const (
	KindSession          PrincipalKind = iota + 1 // a browser login session
	KindUserCredential                            // a user's API credential
	KindGlobalCredential                          // an instance (global) API credential
)

// Principal is an authenticated caller, resolved on every request from the
// store's current state (so a demotion or revocation applies at once).
type Principal struct {
	Kind PrincipalKind
	// UserID and Login name the user behind a session or user credential;
	// zero/empty for a global credential.
	UserID int64
	Login  string
	// Role is the effective role: the user's current role for sessions and
	// user credentials, the credential's own role for global credentials.
	Role Role

	// CredentialID, CredentialKey and CredentialName are set for credentials.
	CredentialID   int64
	CredentialKey  string
	CredentialName string
	// Scope limits a credential to read and/or write; sessions read only.
	Scope Scope
	// DataSourceIDs limits a credential to these data sources; nil means all.
	DataSourceIDs []int64
	// Selector is a PromQL series selector such as {env="prod"} that every
	// read is confined to; empty means none.
	Selector string
}

// IsCredential reports whether the caller used an API credential.
func (p *Principal) IsCredential() bool {
	return p.Kind == KindUserCredential || p.Kind == KindGlobalCredential
}

// MayUseDataSource reports whether the principal may query data source id.
func (p *Principal) MayUseDataSource(id int64) bool {
	return p.DataSourceIDs == nil || slices.Contains(p.DataSourceIDs, id)
}

// Action is something a principal may be allowed to do.
type Action int

const (
	ActionQuery                   Action = iota + 1 // read metrics through the proxy
	ActionWrite                                     // remote_write into the embedded store
	ActionManageOwnCredentials                      // create/list/revoke own credentials
	ActionViewEndpoints                             // see query endpoint URLs
	ActionListUsers                                 // User Directory read
	ActionManageUsers                               // add users, change roles, disable, delete
	ActionManageGlobalCredentials                   // Global Settings → API Credentials
	ActionManageDataSources                         // add/remove/test data sources
	ActionViewAudit                                 // read the audit log of security events
)

// minRole is the role table of reference/user-roles.md as it applies here.
func minRole(a Action) (Role, bool) {
	switch a {
	case ActionQuery:
		return RoleViewer, true
	case ActionWrite, ActionManageOwnCredentials, ActionViewEndpoints, ActionListUsers:
		return RoleEditor, true
	case ActionManageUsers, ActionManageGlobalCredentials, ActionManageDataSources, ActionViewAudit:
		return RoleOwner, true
	}
	return RoleNone, false
}

// Can reports whether the principal's role and scope allow the action.
// A credential with a label selector may never manage credentials, users or
// data sources: it could otherwise mint itself a wider one.
func (p *Principal) Can(a Action) bool {
	if p == nil {
		return false
	}
	need, ok := minRole(a)
	if !ok || !p.Role.AtLeast(need) {
		return false
	}
	switch a {
	case ActionQuery:
		return !p.IsCredential() || p.Scope.Has(ScopeRead)
	case ActionWrite:
		return p.IsCredential() && p.Scope.Has(ScopeWrite)
	case ActionViewEndpoints, ActionListUsers:
		return true
	case ActionManageOwnCredentials:
		// A global credential has no user, so it has no "own" credentials.
		// A limited credential may mint only credentials within its own
		// limits; the management API checks that subset rule.
		return p.Kind != KindGlobalCredential && (!p.IsCredential() || p.Selector == "")
	default:
		// Managing users, global credentials or data sources would let a
		// credential limited to some data sources or a selector escape its
		// limits (e.g. by creating an OWNER user), so only an unlimited
		// credential may do it.
		return !p.IsCredential() || (p.Selector == "" && p.DataSourceIDs == nil)
	}
}

// Actions lists every action, in a stable order, e.g. to tell a UI which
// permissions a caller has.
func Actions() []Action {
	return []Action{
		ActionQuery, ActionWrite, ActionManageOwnCredentials, ActionViewEndpoints,
		ActionListUsers, ActionManageUsers, ActionManageGlobalCredentials, ActionManageDataSources,
		ActionViewAudit,
	}
}

// String is the action's stable name as shown in APIs.
func (a Action) String() string {
	switch a {
	case ActionQuery:
		return "query"
	case ActionWrite:
		return "write"
	case ActionManageOwnCredentials:
		return "manage_own_credentials"
	case ActionViewEndpoints:
		return "view_endpoints"
	case ActionListUsers:
		return "list_users"
	case ActionManageUsers:
		return "manage_users"
	case ActionManageGlobalCredentials:
		return "manage_global_credentials"
	case ActionManageDataSources:
		return "manage_data_sources"
	case ActionViewAudit:
		return "view_audit"
	}
	return fmt.Sprintf("action(%d)", int(a))
}

// String names the kind as shown in APIs.
func (k PrincipalKind) String() string {
	switch k {
	case KindSession:
		return "session"
	case KindUserCredential:
		return "user_credential"
	case KindGlobalCredential:
		return "global_credential"
	}
	return "none"
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal in ctx, or nil.
func PrincipalFrom(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}
