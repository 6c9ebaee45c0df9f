// Package access decides what a caller may do: roles, the permissions they
// grant, and the limits (scope, data sources, label selector) a credential
// carries, its label selector parsed once into an enforce.Policy. It knows
// nothing about HTTP or storage.
package access

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/promgate/promgate/internal/enforce"
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
	// KindToken is a JWT of a configured OpenID Connect provider (bearer):
	// its role, scope, data sources and selector come from the provider's
	// rules. It may only query and remote_write.
	KindToken
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
	// policy is Selector parsed once, by SetSelector when the caller is
	// authenticated; policyErr is set instead when it does not parse.
	policy    *enforce.Policy
	policyErr error
	parsed    bool
}

// SetSelector sets Selector and parses it, so that requests use the parsed
// policy instead of parsing it again.
func (p *Principal) SetSelector(sel string) {
	p.Selector = sel
	p.policy, p.policyErr = enforce.ParsePolicy(sel)
	p.parsed = true
}

// SetPolicy sets an already built policy (nil: none) and its text, for
// callers that build the matchers themselves (a selector templated from a
// token's claims, see internal/oidc).
func (p *Principal) SetPolicy(pol *enforce.Policy) {
	p.Selector = pol.String()
	p.policy, p.policyErr = pol, nil
	p.parsed = true
}

// Policy is the label policy every read and write of the caller is
// confined to; nil when there is none. An error means the stored selector
// does not parse (it is checked when credentials are made, so the row was
// changed behind promgate's back): callers must fail closed.
func (p *Principal) Policy() (*enforce.Policy, error) {
	if !p.parsed {
		// Built without SetSelector (tests): parse now.
		return enforce.ParsePolicy(p.Selector)
	}
	return p.policy, p.policyErr
}

// IsCredential reports whether the caller used an API credential.
func (p *Principal) IsCredential() bool {
	return p.Kind == KindUserCredential || p.Kind == KindGlobalCredential || p.Kind == KindToken
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
	ActionManageOwnCredentials                      // create/revoke own credentials
	ActionViewEndpoints                             // see query endpoint URLs
	ActionListUsers                                 // User Directory read
	ActionManageUsers                               // add users, change roles, passwords, disable, delete
	ActionManageGlobalCredentials                   // create/revoke global credentials
	ActionManageDataSources                         // add/change/remove/test data sources
	ActionViewAudit                                 // read the audit log of security events
	ActionListOwnCredentials                        // list own credentials
	ActionListGlobalCredentials                     // list global credentials
	ActionViewDataSourceSettings                    // see a data source's URL, headers, auth user
)

// limitRule says which credential limits exclude an action.
type limitRule uint8

const (
	// noSelector: a credential with a label selector may not do it.
	noSelector limitRule = 1 << iota
	// noDataSourceLimit: a credential limited to some data sources may not.
	noDataSourceLimit
)

// rule is one row of the permission table.
type rule struct {
	// min is the least role that may do it.
	min Role
	// scope is what a credential needs: read to read, read and write to
	// change anything (write alone is remote_write). Sessions are people
	// at a browser and are limited by role only.
	scope Scope
	// credentialOnly: only an API credential may do it (remote_write).
	credentialOnly bool
	// userOnly: a global credential has no user and may not do it.
	userOnly bool
	// limits a credential must not carry.
	limits limitRule
}

// permission is the permission table: the role table of
// reference/user-roles.md with the scope and limits a credential needs.
//
// Every change through the management API needs read and write: write
// because it changes something, and read because each of them can hand out
// read access (a user's session, a new credential, a data source's stored
// secret sent to a URL of the caller's choosing). So a read-only credential
// changes nothing, and a write-only one (a Prometheus agent's) only writes
// samples.
//
// Managing users, global credentials or data sources would let a credential
// limited to some data sources or a selector escape its limits (e.g. by
// creating an OWNER user), so only an unlimited credential may do it. A
// limited credential may mint own credentials only within its own limits;
// the management API checks that subset rule.
func permission(a Action) (rule, bool) {
	const (
		read      = ScopeRead
		write     = ScopeWrite
		change    = ScopeRead | ScopeWrite
		unlimited = noSelector | noDataSourceLimit
	)
	switch a {
	case ActionQuery:
		return rule{min: RoleViewer, scope: read}, true
	case ActionWrite:
		return rule{min: RoleEditor, scope: write, credentialOnly: true}, true
	case ActionListOwnCredentials:
		return rule{min: RoleEditor, scope: read, userOnly: true, limits: noSelector}, true
	case ActionManageOwnCredentials:
		return rule{min: RoleEditor, scope: change, userOnly: true, limits: noSelector}, true
	case ActionViewEndpoints, ActionListUsers:
		return rule{min: RoleEditor, scope: read}, true
	case ActionManageUsers, ActionManageGlobalCredentials, ActionManageDataSources:
		return rule{min: RoleOwner, scope: change, limits: unlimited}, true
	case ActionListGlobalCredentials, ActionViewDataSourceSettings, ActionViewAudit:
		return rule{min: RoleOwner, scope: read, limits: unlimited}, true
	}
	return rule{}, false
}

// Can reports whether the principal's role, kind, scope and limits allow
// the action, by the permission table.
func (p *Principal) Can(a Action) bool {
	if p == nil {
		return false
	}
	r, ok := permission(a)
	if !ok || !p.Role.AtLeast(r.min) {
		return false
	}
	if !p.IsCredential() {
		return p.Kind == KindSession && !r.credentialOnly
	}
	if p.Kind == KindToken && a != ActionQuery && a != ActionWrite {
		// A provider's token reaches the proxy path and remote_write only:
		// managing promgate stays with people and promgate credentials.
		return false
	}
	switch {
	case !p.Scope.Has(r.scope),
		r.userOnly && p.Kind == KindGlobalCredential,
		r.limits&noSelector != 0 && p.Selector != "",
		r.limits&noDataSourceLimit != 0 && p.DataSourceIDs != nil:
		return false
	}
	return true
}

// Changes reports whether the action changes state (and so needs the write
// scope as well as read for a credential).
func (a Action) Changes() bool {
	r, ok := permission(a)
	return ok && r.scope.Has(ScopeWrite)
}

// Actions lists every action, in a stable order, e.g. to tell a UI which
// permissions a caller has.
func Actions() []Action {
	return []Action{
		ActionQuery, ActionWrite, ActionManageOwnCredentials, ActionViewEndpoints,
		ActionListUsers, ActionManageUsers, ActionManageGlobalCredentials, ActionManageDataSources,
		ActionViewAudit, ActionListOwnCredentials, ActionListGlobalCredentials, ActionViewDataSourceSettings,
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
	case ActionListOwnCredentials:
		return "list_own_credentials"
	case ActionListGlobalCredentials:
		return "list_global_credentials"
	case ActionViewDataSourceSettings:
		return "view_data_source_settings"
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
	case KindToken:
		return "oidc_token"
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
