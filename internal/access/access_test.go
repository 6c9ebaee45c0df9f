package access

import (
	"strings"
	"testing"
)

func TestCanLimitedCredentials(t *testing.T) {
	owner := func(kind PrincipalKind) Principal {
		return Principal{Kind: kind, Role: RoleOwner, Scope: ScopeRead}
	}
	withSel := owner(KindUserCredential)
	withSel.Selector = `{env="prod"}`
	withDS := owner(KindUserCredential)
	withDS.DataSourceIDs = []int64{2}
	writeOnly := owner(KindUserCredential)
	writeOnly.Scope = ScopeWrite
	session, userCred, global := owner(KindSession), owner(KindUserCredential), owner(KindGlobalCredential)
	rw := func(p Principal) Principal { p.Scope = ScopeRead | ScopeWrite; return p }
	globalWO := global
	globalWO.Scope = ScopeWrite

	tests := []struct {
		name string
		p    Principal
		act  Action
		want bool
	}{
		{"session queries", session, ActionQuery, true},
		{"session never writes", session, ActionWrite, false},
		{"write-only credential cannot query", writeOnly, ActionQuery, false},
		{"write-only credential writes", writeOnly, ActionWrite, true},
		{"global credential has no own credentials", rw(global), ActionManageOwnCredentials, false},
		{"global credential lists no own credentials", global, ActionListOwnCredentials, false},
		{"global read,write OWNER manages global credentials", rw(global), ActionManageGlobalCredentials, true},
		{"user credential read,write manages own credentials", rw(userCred), ActionManageOwnCredentials, true},
		{"selector credential mints nothing", rw(withSel), ActionManageOwnCredentials, false},
		{"selector credential manages no users", rw(withSel), ActionManageUsers, false},
		{"selector credential still sees endpoints", withSel, ActionViewEndpoints, true},
		{"DS-limited credential mints within its limits", rw(withDS), ActionManageOwnCredentials, true},
		{"DS-limited credential manages no users", rw(withDS), ActionManageUsers, false},
		{"DS-limited credential manages no global credentials", rw(withDS), ActionManageGlobalCredentials, false},
		{"DS-limited credential manages no data sources", rw(withDS), ActionManageDataSources, false},
		{"DS-limited credential sees no data source settings", withDS, ActionViewDataSourceSettings, false},
		{"OWNER session manages users", session, ActionManageUsers, true},
		{"OWNER session manages data sources", session, ActionManageDataSources, true},

		// A credential without the write scope changes nothing.
		{"read OWNER lists users", global, ActionListUsers, true},
		{"read OWNER lists global credentials", global, ActionListGlobalCredentials, true},
		{"read OWNER sees data source settings", global, ActionViewDataSourceSettings, true},
		{"read OWNER reads the audit log", global, ActionViewAudit, true},
		{"read OWNER manages no users", global, ActionManageUsers, false},
		{"read OWNER manages no global credentials", global, ActionManageGlobalCredentials, false},
		{"read OWNER manages no data sources", global, ActionManageDataSources, false},
		{"read user credential lists own credentials", userCred, ActionListOwnCredentials, true},
		{"read user credential mints nothing", userCred, ActionManageOwnCredentials, false},
		{"read credential never writes", global, ActionWrite, false},
		// Write alone is remote_write: changes hand out read access, so
		// they need read as well.
		{"write-only OWNER writes", globalWO, ActionWrite, true},
		{"write-only OWNER manages no users", globalWO, ActionManageUsers, false},
		{"write-only OWNER manages no data sources", globalWO, ActionManageDataSources, false},
		{"write-only OWNER manages no global credentials", globalWO, ActionManageGlobalCredentials, false},
		{"write-only OWNER lists no users", globalWO, ActionListUsers, false},
		{"write-only user credential mints nothing", writeOnly, ActionManageOwnCredentials, false},
		{"principal of no kind may do nothing", Principal{Role: RoleOwner, Scope: ScopeRead | ScopeWrite}, ActionQuery, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.Can(tt.act); got != tt.want {
				t.Fatalf("Can(%s) = %v, want %v", tt.act, got, tt.want)
			}
		})
	}
	var nobody *Principal
	if nobody.Can(ActionQuery) {
		t.Fatal("nil principal may query")
	}
	for _, a := range Actions() {
		if a.String() == "" || a.String()[0] == 'a' && a.String()[:6] == "action" {
			t.Errorf("action %d has no name", int(a))
		}
		if _, ok := permission(a); !ok {
			t.Errorf("action %s has no row in the permission table", a)
		}
		if (strings.HasPrefix(a.String(), "manage_") || a == ActionWrite) != a.Changes() {
			t.Errorf("action %s: Changes() = %v", a, a.Changes())
		}
	}
}
