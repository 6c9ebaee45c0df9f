package access

import "testing"

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
		{"global credential has no own credentials", global, ActionManageOwnCredentials, false},
		{"global OWNER manages global credentials", global, ActionManageGlobalCredentials, true},
		{"user credential manages own credentials", userCred, ActionManageOwnCredentials, true},
		{"selector credential mints nothing", withSel, ActionManageOwnCredentials, false},
		{"selector credential manages no users", withSel, ActionManageUsers, false},
		{"selector credential still sees endpoints", withSel, ActionViewEndpoints, true},
		{"DS-limited credential mints within its limits", withDS, ActionManageOwnCredentials, true},
		{"DS-limited credential manages no users", withDS, ActionManageUsers, false},
		{"DS-limited credential manages no global credentials", withDS, ActionManageGlobalCredentials, false},
		{"DS-limited credential manages no data sources", withDS, ActionManageDataSources, false},
		{"OWNER session manages users", session, ActionManageUsers, true},
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
	}
}
