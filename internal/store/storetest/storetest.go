// Package storetest is the conformance suite every store.Store
// implementation must pass, so that SQLite and PostgreSQL behave the same.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/promgate/promgate/internal/store"
)

// Run runs the suite. open must return a new, empty store on every call and
// arrange for it to be closed when t ends.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Users", testUsers},
		{"UserLoginCaseInsensitive", testUserLoginCase},
		{"UserBySubject", testUserBySubject},
		{"NotFound", testNotFound},
		{"Conflict", testConflict},
		{"Credentials", testCredentials},
		{"CredentialRoundTrip", testCredentialRoundTrip},
		{"ListCredentialsFilter", testListCredentialsFilter},
		{"RevokeAndTouch", testRevokeAndTouch},
		{"Sessions", testSessions},
		{"UserSessionsEnd", testUserSessionsEnd},
		{"DeleteUserCascades", testDeleteUserCascades},
		{"DataSources", testDataSources},
		{"DataSourceIDsNotReused", testDataSourceIDsNotReused},
		{"Audit", testAudit},
		{"Generation", testGeneration},
		{"ConcurrentUse", testConcurrentUse},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
}

// RunShared runs the checks that need two handles (two processes, or two
// replicas) on one database. open must return two stores on the same new,
// empty database and arrange for both to be closed when t ends.
func RunShared(t *testing.T, open func(t *testing.T) (a, b store.Store)) {
	tests := []struct {
		name string
		fn   func(t *testing.T, a, b store.Store)
	}{
		{"SeeEachOthersWrites", testSharedVisibility},
		{"ConcurrentWriters", testSharedConcurrentWriters},
		{"SessionVersusUserChange", testSharedSessionVersusUserChange},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := open(t)
			tc.fn(t, a, b)
		})
	}
}

// berlin makes input times non-UTC, to check that stores return UTC.
func berlin(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		// No tzdata on this machine: a fixed zone is as good for the test.
		return time.FixedZone("CET", 3600)
	}
	return loc
}

// checkTime asserts got is want in UTC, to the second or better.
func checkTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if got.Location() != time.UTC {
		t.Errorf("%s: location %v, want UTC", what, got.Location())
	}
	if d := got.Sub(want); d <= -time.Second || d >= time.Second {
		t.Errorf("%s: got %v, want %v", what, got, want)
	}
}

func checkTimePtr(t *testing.T, what string, got, want *time.Time) {
	t.Helper()
	switch {
	case got == nil && want == nil:
	case got == nil || want == nil:
		t.Errorf("%s: got %v, want %v", what, got, want)
	default:
		checkTime(t, what, *got, *want)
	}
}

// must turns a (value, error) result into the value, failing the test on
// error: must(s.GetUser(ctx, id))(t).
func must[T any](v T, err error) func(t *testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func ok(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func ptr[T any](v T) *T { return &v }

func mkUser(t *testing.T, s store.Store, login, role string) store.User {
	t.Helper()
	return must(s.CreateUser(context.Background(), store.User{Login: login, PasswordHash: "hash-" + login, Role: role}))(t)
}

func mkCred(t *testing.T, s store.Store, key string, userID *int64) store.Credential {
	t.Helper()
	c := store.Credential{Key: key, TokenHash: []byte("h-" + key), Name: "n-" + key, UserID: userID, Scope: "read"}
	if userID == nil {
		c.Role = "VIEWER"
	}
	return must(s.CreateCredential(context.Background(), c))(t)
}

func testUsers(t *testing.T, s store.Store) {
	ctx := context.Background()
	if n := must(s.CountUsers(ctx))(t); n != 0 {
		t.Fatalf("CountUsers on empty store = %d", n)
	}
	if us := must(s.ListUsers(ctx))(t); us == nil || len(us) != 0 {
		t.Fatalf("ListUsers on empty store = %#v, want empty non-nil", us)
	}
	created := time.Date(2024, 3, 1, 12, 30, 45, 123456789, berlin(t))
	in := store.User{ID: 999, Login: "Alice@example.com", PasswordHash: "$argon2id$x", Role: "OWNER", Disabled: true, CreatedAt: created}
	u := must(s.CreateUser(ctx, in))(t)
	if u.ID <= 0 {
		t.Fatalf("CreateUser ID = %d", u.ID)
	}
	checkTime(t, "returned CreatedAt", u.CreatedAt, created)
	got := must(s.GetUser(ctx, u.ID))(t)
	checkTime(t, "stored CreatedAt", got.CreatedAt, created)
	want := in
	want.ID, want.CreatedAt, got.CreatedAt = u.ID, time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("GetUser = %+v, want %+v", got, want)
	}

	// A zero CreatedAt means now.
	before := time.Now()
	b := mkUser(t, s, "bob", "VIEWER")
	checkTime(t, "defaulted CreatedAt", must(s.GetUser(ctx, b.ID))(t).CreatedAt, before)
	if b.ID == u.ID {
		t.Fatal("two users with one ID")
	}

	ok(t, s.SetUserRole(ctx, b.ID, "EDITOR"))
	ok(t, s.SetUserDisabled(ctx, b.ID, true))
	ok(t, s.SetUserPassword(ctx, b.ID, "new-hash"))
	gb := must(s.GetUser(ctx, b.ID))(t)
	if gb.Role != "EDITOR" || !gb.Disabled || gb.PasswordHash != "new-hash" || gb.Login != "bob" {
		t.Errorf("after updates: %+v", gb)
	}
	ok(t, s.SetUserDisabled(ctx, b.ID, false))
	if must(s.GetUser(ctx, b.ID))(t).Disabled {
		t.Error("SetUserDisabled(false) did not re-enable")
	}
	// Updates touch only their own user.
	if ga := must(s.GetUser(ctx, u.ID))(t); ga.Role != "OWNER" || ga.PasswordHash != "$argon2id$x" {
		t.Errorf("other user changed: %+v", ga)
	}

	list := must(s.ListUsers(ctx))(t)
	if len(list) != 2 || list[0].ID != u.ID || list[1].ID != b.ID {
		t.Errorf("ListUsers = %+v, want alice then bob", list)
	}
	if n := must(s.CountUsers(ctx))(t); n != 2 {
		t.Errorf("CountUsers = %d, want 2", n)
	}
}

func testUserLoginCase(t *testing.T, s store.Store) {
	ctx := context.Background()
	u := mkUser(t, s, "Alice", "OWNER")
	for _, login := range []string{"Alice", "alice", "ALICE", "aLiCe"} {
		got, err := s.GetUserByLogin(ctx, login)
		if err != nil {
			t.Errorf("GetUserByLogin(%q): %v", login, err)
			continue
		}
		if got.ID != u.ID || got.Login != "Alice" {
			t.Errorf("GetUserByLogin(%q) = %+v, want login kept as created", login, got)
		}
	}
	if _, err := s.CreateUser(ctx, store.User{Login: "ALICE", Role: "VIEWER"}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("CreateUser(ALICE) after Alice: %v, want ErrConflict", err)
	}
}

// testUserBySubject: users made by an OpenID Connect provider are found
// by provider and subject; one subject of one provider is one user.
func testUserBySubject(t *testing.T, s store.Store) {
	ctx := context.Background()
	local := mkUser(t, s, "local", "OWNER")
	u := must(s.CreateUser(ctx, store.User{Login: "ann@example.com", Role: "VIEWER", Provider: "Hydra", Subject: "sub-1"}))(t)
	got := must(s.GetUserBySubject(ctx, "Hydra", "sub-1"))(t)
	if got.ID != u.ID || got.Provider != "Hydra" || got.Subject != "sub-1" || got.Login != "ann@example.com" {
		t.Errorf("GetUserBySubject = %+v, want %+v", got, u)
	}
	if l := must(s.GetUser(ctx, local.ID))(t); l.Provider != "" || l.Subject != "" {
		t.Errorf("local user has provider %q subject %q", l.Provider, l.Subject)
	}
	for _, q := range [][2]string{{"Hydra", "sub-2"}, {"Other", "sub-1"}, {"", ""}} {
		if _, err := s.GetUserBySubject(ctx, q[0], q[1]); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetUserBySubject(%q, %q): %v, want ErrNotFound", q[0], q[1], err)
		}
	}
	if _, err := s.CreateUser(ctx, store.User{Login: "other", Role: "VIEWER", Provider: "Hydra", Subject: "sub-1"}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("second user for one subject: %v, want ErrConflict", err)
	}
}

// testNotFound checks every method that looks a row up on rows that do not
// exist.
func testNotFound(t *testing.T, s store.Store) {
	ctx := context.Background()
	const missing = 424242
	now := time.Now()
	tests := []struct {
		name string
		fn   func() error
	}{
		{"GetUser", func() error { _, err := s.GetUser(ctx, missing); return err }},
		{"GetUserByLogin", func() error { _, err := s.GetUserByLogin(ctx, "nobody"); return err }},
		{"SetUserRole", func() error { return s.SetUserRole(ctx, missing, "OWNER") }},
		{"SetUserDisabled", func() error { return s.SetUserDisabled(ctx, missing, true) }},
		{"SetUserPassword", func() error { return s.SetUserPassword(ctx, missing, "x") }},
		{"DeleteUser", func() error { return s.DeleteUser(ctx, missing) }},
		{"CreateCredentialForMissingUser", func() error {
			_, err := s.CreateCredential(ctx, store.Credential{Key: "k", TokenHash: []byte("h"), UserID: ptr(int64(missing))})
			return err
		}},
		{"GetCredentialByKey", func() error { _, err := s.GetCredentialByKey(ctx, "nokey"); return err }},
		{"GetCredential", func() error { _, err := s.GetCredential(ctx, missing); return err }},
		{"RevokeCredential", func() error { return s.RevokeCredential(ctx, missing, now) }},
		{"TouchCredential", func() error { return s.TouchCredential(ctx, missing, now) }},
		{"CreateSessionForMissingUser", func() error {
			return s.CreateSession(ctx, store.Session{IDHash: []byte("sess"), UserID: missing, ExpiresAt: now.Add(time.Hour)})
		}},
		{"GetSession", func() error { _, err := s.GetSession(ctx, []byte("nosession")); return err }},
		{"DeleteSession", func() error { return s.DeleteSession(ctx, []byte("nosession")) }},
		{"GetDataSource", func() error { _, err := s.GetDataSource(ctx, missing); return err }},
		// ID 1 is the embedded store, never stored.
		{"GetDataSource1", func() error { _, err := s.GetDataSource(ctx, 1); return err }},
		{"GetDataSourceByUID", func() error { _, err := s.GetDataSourceByUID(ctx, "nouid"); return err }},
		{"UpdateDataSource", func() error {
			return s.UpdateDataSource(ctx, store.DataSource{ID: missing, UID: "u", Name: "n", Type: "prometheus", URL: "http://x"})
		}},
		{"DeleteDataSource", func() error { return s.DeleteDataSource(ctx, missing) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.fn(); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("got %v, want ErrNotFound", err)
			}
		})
	}
}

// testConflict checks every unique value.
func testConflict(t *testing.T, s store.Store) {
	ctx := context.Background()
	u := mkUser(t, s, "taken", "OWNER")
	mkCred(t, s, "takenkey", &u.ID)
	ok(t, s.CreateSession(ctx, store.Session{IDHash: []byte("takensession"), UserID: u.ID, ExpiresAt: time.Now().Add(time.Hour)}))
	ds := must(s.CreateDataSource(ctx, store.DataSource{UID: "takenuid", Name: "taken name", URL: "http://a"}))(t)
	other := must(s.CreateDataSource(ctx, store.DataSource{UID: "otheruid", Name: "other name", URL: "http://b"}))(t)

	tests := []struct {
		name string
		fn   func() error
	}{
		{"Login", func() error { _, err := s.CreateUser(ctx, store.User{Login: "taken", Role: "VIEWER"}); return err }},
		{"CredentialKey", func() error {
			_, err := s.CreateCredential(ctx, store.Credential{Key: "takenkey", TokenHash: []byte("x"), Role: "VIEWER"})
			return err
		}},
		{"SessionID", func() error {
			return s.CreateSession(ctx, store.Session{IDHash: []byte("takensession"), UserID: u.ID, ExpiresAt: time.Now()})
		}},
		{"DataSourceUID", func() error {
			_, err := s.CreateDataSource(ctx, store.DataSource{UID: "takenuid", Name: "fresh", URL: "http://c"})
			return err
		}},
		{"DataSourceName", func() error {
			_, err := s.CreateDataSource(ctx, store.DataSource{UID: "freshuid", Name: "taken name", URL: "http://c"})
			return err
		}},
		{"UpdateToTakenUID", func() error {
			d := other
			d.UID = ds.UID
			return s.UpdateDataSource(ctx, d)
		}},
		{"UpdateToTakenName", func() error {
			d := other
			d.Name = ds.Name
			return s.UpdateDataSource(ctx, d)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.fn(); !errors.Is(err, store.ErrConflict) {
				t.Errorf("got %v, want ErrConflict", err)
			}
		})
	}
	// A failed update leaves the row alone.
	if got := must(s.GetDataSource(ctx, other.ID))(t); got.UID != "otheruid" || got.Name != "other name" {
		t.Errorf("after failed updates: %+v", got)
	}
}

func testCredentials(t *testing.T, s store.Store) {
	ctx := context.Background()
	u := mkUser(t, s, "ed", "EDITOR")
	uc := mkCred(t, s, "userkey", &u.ID)
	gc := mkCred(t, s, "globalkey", nil)
	if uc.ID <= 0 || gc.ID <= 0 || uc.ID == gc.ID {
		t.Fatalf("credential IDs %d, %d", uc.ID, gc.ID)
	}
	byKey := must(s.GetCredentialByKey(ctx, "userkey"))(t)
	byID := must(s.GetCredential(ctx, uc.ID))(t)
	if !reflect.DeepEqual(byKey, byID) {
		t.Errorf("by key %+v != by id %+v", byKey, byID)
	}
	if byKey.UserID == nil || *byKey.UserID != u.ID || byKey.Role != "" {
		t.Errorf("user credential: UserID %v Role %q", byKey.UserID, byKey.Role)
	}
	g := must(s.GetCredentialByKey(ctx, "globalkey"))(t)
	if g.UserID != nil || g.Role != "VIEWER" {
		t.Errorf("global credential: UserID %v Role %q", g.UserID, g.Role)
	}
	// Keys are exact: a different case is another key.
	if _, err := s.GetCredentialByKey(ctx, "USERKEY"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetCredentialByKey(USERKEY): %v, want ErrNotFound", err)
	}
}

// testCredentialRoundTrip checks that every field survives, in particular
// that a nil DataSourceIDs (every data source) and an empty one (none) stay
// distinct.
func testCredentialRoundTrip(t *testing.T, s store.Store) {
	ctx := context.Background()
	u := mkUser(t, s, "owner", "OWNER")
	loc := berlin(t)
	created := time.Date(2025, 1, 2, 3, 4, 5, 678901234, loc)
	tests := []struct {
		name string
		in   store.Credential
	}{
		{"NilIDs", store.Credential{Name: "all sources", UserID: &u.ID, Scope: "read", DataSourceIDs: nil}},
		{"EmptyIDs", store.Credential{Name: "no sources", UserID: &u.ID, Scope: "read", DataSourceIDs: []int64{}}},
		{"SomeIDs", store.Credential{Name: "some", UserID: &u.ID, Scope: "read,write", DataSourceIDs: []int64{1, 7, 3}}},
		{"GlobalAllTimes", store.Credential{
			Name: "global", Role: "EDITOR", CreatedBy: "owner", Scope: "write",
			CreatedAt:  created,
			LastUsedAt: ptr(created.Add(time.Minute)),
			ExpiresAt:  ptr(created.Add(720 * time.Hour)),
			RevokedAt:  ptr(created.Add(time.Hour)),
			Selector:   `{asserts_env="prod", job=~"api|web"}`,
		}},
		{"Unicode", store.Credential{Name: "zählt 📈 \"quotes\" 'single'", UserID: &u.ID, Selector: `{a="ü"}`}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			in.Key = fmt.Sprintf("key-%d", i)
			in.TokenHash = []byte{0, 1, 2, 0xff, byte(i)}
			c := must(s.CreateCredential(ctx, in))(t)
			for _, got := range []store.Credential{c, must(s.GetCredential(ctx, c.ID))(t), must(s.GetCredentialByKey(ctx, in.Key))(t)} {
				if in.CreatedAt.IsZero() {
					checkTime(t, "CreatedAt", got.CreatedAt, time.Now())
				} else {
					checkTime(t, "CreatedAt", got.CreatedAt, in.CreatedAt)
				}
				checkTimePtr(t, "LastUsedAt", got.LastUsedAt, in.LastUsedAt)
				checkTimePtr(t, "ExpiresAt", got.ExpiresAt, in.ExpiresAt)
				checkTimePtr(t, "RevokedAt", got.RevokedAt, in.RevokedAt)
				if (got.DataSourceIDs == nil) != (in.DataSourceIDs == nil) {
					t.Errorf("DataSourceIDs nil-ness: got %#v, want %#v", got.DataSourceIDs, in.DataSourceIDs)
				}
				want := in
				want.ID = c.ID
				got.CreatedAt, got.LastUsedAt, got.ExpiresAt, got.RevokedAt = time.Time{}, nil, nil, nil
				want.CreatedAt, want.LastUsedAt, want.ExpiresAt, want.RevokedAt = time.Time{}, nil, nil, nil
				if !reflect.DeepEqual(got, want) {
					t.Errorf("got %+v\nwant %+v", got, want)
				}
			}
		})
	}
}

func testListCredentialsFilter(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := mkUser(t, s, "a", "EDITOR")
	b := mkUser(t, s, "b", "EDITOR")
	mkCred(t, s, "a1", &a.ID)
	a2 := mkCred(t, s, "a2", &a.ID)
	mkCred(t, s, "b1", &b.ID)
	mkCred(t, s, "g1", nil)
	g2 := mkCred(t, s, "g2", nil)
	ok(t, s.RevokeCredential(ctx, a2.ID, time.Now()))
	ok(t, s.RevokeCredential(ctx, g2.ID, time.Now()))
	none := int64(987654)

	tests := []struct {
		name string
		f    store.CredentialFilter
		want []string
	}{
		{"All", store.CredentialFilter{}, []string{"a1", "b1", "g1"}},
		{"AllIncludingRevoked", store.CredentialFilter{IncludeRevoked: true}, []string{"a1", "a2", "b1", "g1", "g2"}},
		{"UserA", store.CredentialFilter{UserID: &a.ID}, []string{"a1"}},
		{"UserAIncludingRevoked", store.CredentialFilter{UserID: &a.ID, IncludeRevoked: true}, []string{"a1", "a2"}},
		{"UserB", store.CredentialFilter{UserID: &b.ID}, []string{"b1"}},
		{"Global", store.CredentialFilter{Global: true}, []string{"g1"}},
		{"GlobalIncludingRevoked", store.CredentialFilter{Global: true, IncludeRevoked: true}, []string{"g1", "g2"}},
		{"MissingUser", store.CredentialFilter{UserID: &none}, []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			creds := must(s.ListCredentials(ctx, tc.f))(t)
			if creds == nil {
				t.Fatal("nil slice; want empty non-nil (it is encoded to JSON)")
			}
			keys := []string{}
			for _, c := range creds {
				keys = append(keys, c.Key)
			}
			if !reflect.DeepEqual(keys, tc.want) {
				t.Errorf("keys %v, want %v", keys, tc.want)
			}
		})
	}
}

func testRevokeAndTouch(t *testing.T, s store.Store) {
	ctx := context.Background()
	c := mkCred(t, s, "k", nil)
	if c.RevokedAt != nil || c.LastUsedAt != nil {
		t.Fatalf("new credential: %+v", c)
	}
	t0 := time.Date(2025, 6, 1, 10, 0, 0, 0, berlin(t))
	ok(t, s.TouchCredential(ctx, c.ID, t0))
	checkTimePtr(t, "LastUsedAt", must(s.GetCredential(ctx, c.ID))(t).LastUsedAt, &t0)
	ok(t, s.TouchCredential(ctx, c.ID, t0.Add(time.Hour)))
	// Touches may arrive out of order; last use never moves back.
	ok(t, s.TouchCredential(ctx, c.ID, t0.Add(-time.Hour)))
	checkTimePtr(t, "LastUsedAt", must(s.GetCredential(ctx, c.ID))(t).LastUsedAt, ptr(t0.Add(time.Hour)))

	ok(t, s.RevokeCredential(ctx, c.ID, t0.Add(2*time.Hour)))
	checkTimePtr(t, "RevokedAt", must(s.GetCredential(ctx, c.ID))(t).RevokedAt, ptr(t0.Add(2*time.Hour)))
	// Revoking again keeps the first revocation time.
	ok(t, s.RevokeCredential(ctx, c.ID, t0.Add(3*time.Hour)))
	got := must(s.GetCredentialByKey(ctx, "k"))(t)
	checkTimePtr(t, "RevokedAt after second revoke", got.RevokedAt, ptr(t0.Add(2*time.Hour)))
}

func testSessions(t *testing.T, s store.Store) {
	ctx := context.Background()
	u := mkUser(t, s, "u", "VIEWER")
	base := time.Date(2025, 2, 3, 4, 5, 6, 700000000, berlin(t))
	sessions := []store.Session{
		{IDHash: []byte("expired-long-ago"), UserID: u.ID, CSRFToken: "c1", CreatedAt: base.Add(-48 * time.Hour), ExpiresAt: base.Add(-24 * time.Hour)},
		{IDHash: []byte("expires-now"), UserID: u.ID, CSRFToken: "c2", CreatedAt: base.Add(-time.Hour), ExpiresAt: base},
		{IDHash: []byte{0, 0xff, 'x'}, UserID: u.ID, CSRFToken: "c3", CreatedAt: base, ExpiresAt: base.Add(time.Hour)},
	}
	for _, sess := range sessions {
		ok(t, s.CreateSession(ctx, sess))
	}
	for _, want := range sessions {
		got := must(s.GetSession(ctx, want.IDHash))(t)
		checkTime(t, "CreatedAt", got.CreatedAt, want.CreatedAt)
		checkTime(t, "ExpiresAt", got.ExpiresAt, want.ExpiresAt)
		if string(got.IDHash) != string(want.IDHash) || got.UserID != want.UserID || got.CSRFToken != want.CSRFToken {
			t.Errorf("GetSession = %+v, want %+v", got, want)
		}
	}
	// A session whose ExpiresAt is now is no longer valid.
	ok(t, s.DeleteExpiredSessions(ctx, base))
	for i, sess := range sessions {
		_, err := s.GetSession(ctx, sess.IDHash)
		if wantGone := i < 2; wantGone != errors.Is(err, store.ErrNotFound) {
			t.Errorf("session %q after DeleteExpiredSessions: err %v, want gone=%v", sess.IDHash, err, wantGone)
		}
	}
	ok(t, s.DeleteSession(ctx, sessions[2].IDHash))
	if _, err := s.GetSession(ctx, sessions[2].IDHash); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after DeleteSession: %v, want ErrNotFound", err)
	}
}

// testUserSessionsEnd checks which changes end a user's sessions: all of
// them on DeleteUserSessions, a password change, disabling or enabling;
// none on a role change; never another user's.
func testUserSessionsEnd(t *testing.T, s store.Store) {
	ctx := context.Background()
	tests := []struct {
		name     string
		disabled bool // the user's state before the change
		sessions int  // the user's sessions before the change
		change   func(id int64) error
		wantGone bool
	}{
		{"DeleteUserSessions", false, 3, func(id int64) error { return s.DeleteUserSessions(ctx, id) }, true},
		{"DeleteUserSessionsWithoutSessions", false, 0, func(id int64) error { return s.DeleteUserSessions(ctx, id) }, true},
		{"DeleteUserSessionsOfDisabledUser", true, 1, func(id int64) error { return s.DeleteUserSessions(ctx, id) }, true},
		{"SetUserPassword", false, 3, func(id int64) error { return s.SetUserPassword(ctx, id, "new-hash") }, true},
		{"SetUserPasswordWithoutSessions", false, 0, func(id int64) error { return s.SetUserPassword(ctx, id, "new-hash") }, true},
		{"SetUserDisabled", false, 2, func(id int64) error { return s.SetUserDisabled(ctx, id, true) }, true},
		// Sessions left from before disabling ended them must not revive.
		{"SetUserEnabled", true, 2, func(id int64) error { return s.SetUserDisabled(ctx, id, false) }, true},
		{"SetUserRoleKeepsSessions", false, 2, func(id int64) error { return s.SetUserRole(ctx, id, "EDITOR") }, false},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			target := mkUser(t, s, fmt.Sprintf("target-%d", i), "VIEWER")
			other := mkUser(t, s, fmt.Sprintf("other-%d", i), "VIEWER")
			if tc.disabled {
				ok(t, s.SetUserDisabled(ctx, target.ID, true))
			}
			exp := time.Now().Add(time.Hour)
			mkSessions := func(u store.User, n int) [][]byte {
				var ids [][]byte
				for j := range n {
					id := []byte(fmt.Sprintf("%s-sess-%d", u.Login, j))
					ok(t, s.CreateSession(ctx, store.Session{IDHash: id, UserID: u.ID, CSRFToken: "c", ExpiresAt: exp}))
					ids = append(ids, id)
				}
				return ids
			}
			targetSessions := mkSessions(target, tc.sessions)
			otherSessions := mkSessions(other, 2)

			ok(t, tc.change(target.ID))

			for _, id := range targetSessions {
				_, err := s.GetSession(ctx, id)
				if gone := errors.Is(err, store.ErrNotFound); gone != tc.wantGone || (err != nil && !gone) {
					t.Errorf("session %q after the change: err %v, want gone=%v", id, err, tc.wantGone)
				}
			}
			for _, id := range otherSessions {
				if _, err := s.GetSession(ctx, id); err != nil {
					t.Errorf("another user's session %q after the change: %v, want kept", id, err)
				}
			}
			// The user row itself is untouched apart from the change.
			if got := must(s.GetUser(ctx, target.ID))(t); got.Login != target.Login {
				t.Errorf("user after the change: %+v", got)
			}
		})
	}
	t.Run("MissingUser", func(t *testing.T) {
		// No such user has no sessions: not an error.
		ok(t, s.DeleteUserSessions(ctx, 424242))
	})
}

func testDeleteUserCascades(t *testing.T, s store.Store) {
	ctx := context.Background()
	gone := mkUser(t, s, "gone", "OWNER")
	stays := mkUser(t, s, "stays", "EDITOR")
	goneCred := mkCred(t, s, "gone-cred", &gone.ID)
	staysCred := mkCred(t, s, "stays-cred", &stays.ID)
	// A global credential created by the user outlives them.
	global := must(s.CreateCredential(ctx, store.Credential{Key: "global", TokenHash: []byte("h"), Role: "OWNER", CreatedBy: "gone"}))(t)
	exp := time.Now().Add(time.Hour)
	ok(t, s.CreateSession(ctx, store.Session{IDHash: []byte("gone-sess"), UserID: gone.ID, ExpiresAt: exp}))
	ok(t, s.CreateSession(ctx, store.Session{IDHash: []byte("stays-sess"), UserID: stays.ID, ExpiresAt: exp}))

	ok(t, s.DeleteUser(ctx, gone.ID))

	if _, err := s.GetUser(ctx, gone.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetUser after delete: %v", err)
	}
	if _, err := s.GetCredential(ctx, goneCred.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("user's credential after delete: %v, want ErrNotFound", err)
	}
	if _, err := s.GetCredentialByKey(ctx, "gone-cred"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("user's credential by key after delete: %v, want ErrNotFound", err)
	}
	if _, err := s.GetSession(ctx, []byte("gone-sess")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("user's session after delete: %v, want ErrNotFound", err)
	}
	if g := must(s.GetCredential(ctx, global.ID))(t); g.CreatedBy != "gone" {
		t.Errorf("global credential CreatedBy = %q", g.CreatedBy)
	}
	must(s.GetCredential(ctx, staysCred.ID))(t)
	must(s.GetSession(ctx, []byte("stays-sess")))(t)
	all := must(s.ListCredentials(ctx, store.CredentialFilter{IncludeRevoked: true}))(t)
	if len(all) != 2 {
		t.Errorf("credentials left: %+v, want stays-cred and global", all)
	}
	// The login is free again.
	mkUser(t, s, "GONE", "VIEWER")
}

func testDataSources(t *testing.T, s store.Store) {
	ctx := context.Background()
	if ds := must(s.ListDataSources(ctx))(t); ds == nil || len(ds) != 0 {
		t.Fatalf("ListDataSources on empty store = %#v, want empty non-nil", ds)
	}
	created := time.Date(2024, 12, 31, 23, 59, 59, 999999999, berlin(t))
	tests := []struct {
		name string
		in   store.DataSource
	}{
		{"Full", store.DataSource{
			UID: "mimir-prod", Name: "Mimir prod", Type: "prometheus", URL: "https://mimir.example/prometheus",
			Env: "prod", Site: "eu-1", BasicAuthUser: "promgate", Secrets: []byte{9, 0, 8, 0xfe},
			Headers: map[string]string{"X-Scope-OrgID": "tenant-1", "X-Other": "ü"}, Timeout: 90 * time.Second,
			CreatedAt: created,
		}},
		{"Minimal", store.DataSource{UID: "min", Name: "minimal", Type: "prometheus", URL: "http://localhost:9090"}},
		{"EmptyHeaders", store.DataSource{UID: "eh", Name: "empty headers", Type: "prometheus", URL: "http://x", Headers: map[string]string{}}},
	}
	var ids []int64
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := must(s.CreateDataSource(ctx, tc.in))(t)
			ids = append(ids, d.ID)
			for _, got := range []store.DataSource{d, must(s.GetDataSource(ctx, d.ID))(t), must(s.GetDataSourceByUID(ctx, tc.in.UID))(t)} {
				if tc.in.CreatedAt.IsZero() {
					checkTime(t, "CreatedAt", got.CreatedAt, time.Now())
				} else {
					checkTime(t, "CreatedAt", got.CreatedAt, tc.in.CreatedAt)
				}
				want := tc.in
				want.ID = d.ID
				got.CreatedAt, want.CreatedAt = time.Time{}, time.Time{}
				// An absent secret may come back nil or empty.
				if len(got.Secrets) == 0 && len(want.Secrets) == 0 {
					got.Secrets, want.Secrets = nil, nil
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("got %+v\nwant %+v", got, want)
				}
			}
		})
	}
	if len(ids) != 3 || ids[0] != 2 {
		t.Fatalf("data source IDs %v, want the first to be 2 (1 is the embedded store)", ids)
	}

	// A missing UID and Type are filled in.
	auto := must(s.CreateDataSource(ctx, store.DataSource{Name: "auto", URL: "http://auto"}))(t)
	if auto.UID == "" || auto.Type != "prometheus" {
		t.Errorf("defaults: UID %q Type %q", auto.UID, auto.Type)
	}
	if got := must(s.GetDataSourceByUID(ctx, auto.UID))(t); got.ID != auto.ID {
		t.Errorf("GetDataSourceByUID(auto uid) = %d, want %d", got.ID, auto.ID)
	}

	upd := must(s.GetDataSource(ctx, ids[1]))(t)
	upd.Name, upd.URL, upd.Env, upd.Site = "renamed", "http://new:9090", "staging", "us-2"
	upd.BasicAuthUser, upd.Secrets, upd.Timeout = "u2", []byte("cipher"), time.Minute
	upd.Headers = map[string]string{"X-Scope-OrgID": "t2"}
	upd.UID = "renamed-uid"
	ok(t, s.UpdateDataSource(ctx, upd))
	got := must(s.GetDataSource(ctx, upd.ID))(t)
	checkTime(t, "CreatedAt after update", got.CreatedAt, upd.CreatedAt)
	if !reflect.DeepEqual(got, upd) {
		t.Errorf("after update got %+v\nwant %+v", got, upd)
	}
	if _, err := s.GetDataSourceByUID(ctx, "min"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("old UID after update: %v, want ErrNotFound", err)
	}
	// An update with an empty UID keeps the stored one.
	keep := upd
	keep.UID, keep.Name = "", "renamed again"
	ok(t, s.UpdateDataSource(ctx, keep))
	if got := must(s.GetDataSource(ctx, upd.ID))(t); got.UID != "renamed-uid" || got.Name != "renamed again" {
		t.Errorf("after update with empty UID: %+v", got)
	}

	ok(t, s.DeleteDataSource(ctx, ids[0]))
	if _, err := s.GetDataSource(ctx, ids[0]); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after delete: %v", err)
	}
	list := must(s.ListDataSources(ctx))(t)
	var listed []int64
	for _, d := range list {
		listed = append(listed, d.ID)
	}
	if want := []int64{ids[1], ids[2], auto.ID}; !reflect.DeepEqual(listed, want) {
		t.Errorf("ListDataSources IDs %v, want %v", listed, want)
	}
}

// testDataSourceIDsNotReused: a credential restricted to a deleted data
// source must not gain access to a later one that got the same ID.
func testDataSourceIDsNotReused(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := must(s.CreateDataSource(ctx, store.DataSource{Name: "a", URL: "http://a"}))(t)
	ok(t, s.DeleteDataSource(ctx, a.ID))
	b := must(s.CreateDataSource(ctx, store.DataSource{Name: "b", URL: "http://b"}))(t)
	if b.ID <= a.ID {
		t.Errorf("new data source got ID %d after %d was deleted; IDs must not be reused", b.ID, a.ID)
	}
	u := mkUser(t, s, "u", "VIEWER")
	ok(t, s.DeleteUser(ctx, u.ID))
	v := mkUser(t, s, "v", "VIEWER")
	if v.ID <= u.ID {
		t.Errorf("new user got ID %d after %d was deleted; IDs must not be reused", v.ID, u.ID)
	}
}

func testAudit(t *testing.T, s store.Store) {
	ctx := context.Background()
	if ev := must(s.ListAudit(ctx, 10))(t); ev == nil || len(ev) != 0 {
		t.Fatalf("ListAudit on empty store = %#v", ev)
	}
	at := time.Date(2025, 5, 5, 5, 5, 5, 555555555, berlin(t))
	in := []store.AuditEvent{
		{At: at, Actor: "system", Action: "user.create", Target: "user:1", Detail: "first owner", RemoteAddr: ""},
		{At: at.Add(time.Second), Actor: "credential:abc", Action: "login.failure", Target: "", Detail: `{"reason":"bad token"}`, RemoteAddr: "[::1]:5555"},
		{Actor: "alice", Action: "credential.revoke", Target: "credential:7", RemoteAddr: "10.0.0.1:1"},
	}
	for _, e := range in {
		ok(t, s.AppendAudit(ctx, e))
	}
	tests := []struct {
		name  string
		limit int
		want  []int // indexes into in, newest first
	}{
		{"All", 0, []int{2, 1, 0}},
		{"Negative", -1, []int{2, 1, 0}},
		{"Two", 2, []int{2, 1}},
		{"One", 1, []int{2}},
		{"MoreThanThere", 100, []int{2, 1, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := must(s.ListAudit(ctx, tc.limit))(t)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d events, want %d", len(got), len(tc.want))
			}
			for i, g := range got {
				w := in[tc.want[i]]
				if w.At.IsZero() {
					checkTime(t, "At", g.At, time.Now())
				} else {
					checkTime(t, "At", g.At, w.At)
				}
				if g.ID <= 0 || g.Actor != w.Actor || g.Action != w.Action || g.Target != w.Target || g.Detail != w.Detail || g.RemoteAddr != w.RemoteAddr {
					t.Errorf("event %d = %+v, want %+v", i, g, w)
				}
			}
		})
	}
}

// testGeneration checks which changes bump the generation. Those that take
// access away must; the ones on the request path (TouchCredential,
// AppendAudit, sessions) must not, or every request would flush every
// replica's cache.
func testGeneration(t *testing.T, s store.Store) {
	ctx := context.Background()
	u := mkUser(t, s, "u", "EDITOR")
	c := mkCred(t, s, "c", &u.ID)
	ds := must(s.CreateDataSource(ctx, store.DataSource{Name: "ds", URL: "http://ds"}))(t)
	now := time.Now()

	tests := []struct {
		name     string
		fn       func() error
		wantBump bool
	}{
		{"CreateUser", func() error { _, err := s.CreateUser(ctx, store.User{Login: "new", Role: "VIEWER"}); return err }, false},
		{"CreateCredential", func() error {
			_, err := s.CreateCredential(ctx, store.Credential{Key: "new", TokenHash: []byte("h"), UserID: &u.ID})
			return err
		}, false},
		{"TouchCredential", func() error { return s.TouchCredential(ctx, c.ID, now) }, false},
		{"AppendAudit", func() error { return s.AppendAudit(ctx, store.AuditEvent{Actor: "x", Action: "y"}) }, false},
		{"CreateSession", func() error {
			return s.CreateSession(ctx, store.Session{IDHash: []byte("s"), UserID: u.ID, ExpiresAt: now.Add(time.Hour)})
		}, false},
		{"DeleteSession", func() error { return s.DeleteSession(ctx, []byte("s")) }, false},
		{"DeleteUserSessions", func() error {
			if err := s.CreateSession(ctx, store.Session{IDHash: []byte("s2"), UserID: u.ID, ExpiresAt: now.Add(time.Hour)}); err != nil {
				return err
			}
			return s.DeleteUserSessions(ctx, u.ID)
		}, false},
		{"CreateDataSource", func() error {
			_, err := s.CreateDataSource(ctx, store.DataSource{Name: "ds2", URL: "http://ds2"})
			return err
		}, true}, // other processes' data source lists follow the generation
		{"SetUserRole", func() error { return s.SetUserRole(ctx, u.ID, "VIEWER") }, true},
		{"SetUserDisabled", func() error { return s.SetUserDisabled(ctx, u.ID, true) }, true},
		{"SetUserPassword", func() error { return s.SetUserPassword(ctx, u.ID, "h2") }, true},
		{"RevokeCredential", func() error { return s.RevokeCredential(ctx, c.ID, now) }, true},
		{"UpdateDataSource", func() error { d := ds; d.URL = "http://moved"; return s.UpdateDataSource(ctx, d) }, true},
		{"DeleteDataSource", func() error { return s.DeleteDataSource(ctx, ds.ID) }, true},
		{"DeleteUser", func() error { return s.DeleteUser(ctx, u.ID) }, true},
		// A change that fails changes nothing, the generation included.
		{"FailedSetUserRole", func() error {
			if err := s.SetUserRole(ctx, 777777, "OWNER"); !errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("want ErrNotFound, got %w", err)
			}
			return nil
		}, false},
		{"FailedDeleteDataSource", func() error {
			if err := s.DeleteDataSource(ctx, 777777); !errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("want ErrNotFound, got %w", err)
			}
			return nil
		}, false},
	}
	// Subtests run in order: each builds on the rows the earlier ones left.
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := must(s.Generation(ctx))(t)
			ok(t, tc.fn())
			after := must(s.Generation(ctx))(t)
			switch {
			case tc.wantBump && after <= before:
				t.Errorf("generation %d -> %d, want it bumped", before, after)
			case !tc.wantBump && after != before:
				t.Errorf("generation %d -> %d, want it unchanged", before, after)
			}
		})
	}
}

// testConcurrentUse hammers one store from several goroutines, as the
// server's request handlers do.
func testConcurrentUse(t *testing.T, s store.Store) {
	ctx := context.Background()
	const workers, each = 8, 10
	owner := mkUser(t, s, "owner", "OWNER")
	c := mkCred(t, s, "shared", &owner.ID)
	gen0 := must(s.Generation(ctx))(t)

	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if err := concurrentStep(ctx, s, c.ID, fmt.Sprintf("w%d-%d", w, i)); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := must(s.CountUsers(ctx))(t); n != 1+workers*each {
		t.Errorf("CountUsers = %d, want %d", n, 1+workers*each)
	}
	if g := must(s.Generation(ctx))(t); g != gen0+workers*each {
		t.Errorf("generation %d, want %d (one bump per SetUserRole)", g, gen0+workers*each)
	}
	if ev := must(s.ListAudit(ctx, 0))(t); len(ev) != workers*each {
		t.Errorf("%d audit events, want %d", len(ev), workers*each)
	}
}

// concurrentStep is one unit of the concurrent tests: a mix of reads,
// writes and the request-path touch.
func concurrentStep(ctx context.Context, s store.Store, credID int64, login string) error {
	u, err := s.CreateUser(ctx, store.User{Login: login, Role: "VIEWER"})
	if err != nil {
		return err
	}
	if err := s.SetUserRole(ctx, u.ID, "EDITOR"); err != nil {
		return err
	}
	if err := s.TouchCredential(ctx, credID, time.Now()); err != nil {
		return err
	}
	if _, err := s.GetCredential(ctx, credID); err != nil {
		return err
	}
	if _, err := s.Generation(ctx); err != nil {
		return err
	}
	return s.AppendAudit(ctx, store.AuditEvent{Actor: login, Action: "test"})
}

func testSharedVisibility(t *testing.T, a, b store.Store) {
	ctx := context.Background()
	u := mkUser(t, a, "alice", "OWNER")
	c := mkCred(t, a, "k", &u.ID)
	if got := must(b.GetUserByLogin(ctx, "ALICE"))(t); got.ID != u.ID {
		t.Errorf("b sees user %d, want %d", got.ID, u.ID)
	}
	ga, gb := must(a.Generation(ctx))(t), must(b.Generation(ctx))(t)
	if ga != gb {
		t.Fatalf("generations differ: %d vs %d", ga, gb)
	}
	// The point of the generation: a revocation through one handle is
	// visible through the other.
	ok(t, b.RevokeCredential(ctx, c.ID, time.Now()))
	if g := must(a.Generation(ctx))(t); g <= ga {
		t.Errorf("a's generation %d after b revoked, want > %d", g, ga)
	}
	if got := must(a.GetCredentialByKey(ctx, "k"))(t); got.RevokedAt == nil {
		t.Error("a does not see b's revocation")
	}
	if _, err := b.CreateUser(ctx, store.User{Login: "Alice", Role: "VIEWER"}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("b creating a's login: %v, want ErrConflict", err)
	}
}

// testSharedConcurrentWriters writes through both handles at once, as the
// admin CLI does while the server runs.
func testSharedConcurrentWriters(t *testing.T, a, b store.Store) {
	ctx := context.Background()
	const workers, each = 4, 10
	owner := mkUser(t, a, "owner", "OWNER")
	c := mkCred(t, a, "shared", &owner.ID)
	gen0 := must(a.Generation(ctx))(t)

	var wg sync.WaitGroup
	errs := make(chan error, 2*workers*each)
	for w := range 2 * workers {
		s := a
		if w%2 == 1 {
			s = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if err := concurrentStep(ctx, s, c.ID, fmt.Sprintf("w%d-%d", w, i)); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	want := 1 + 2*workers*each
	for name, s := range map[string]store.Store{"a": a, "b": b} {
		if n := must(s.CountUsers(ctx))(t); n != want {
			t.Errorf("%s: CountUsers = %d, want %d", name, n, want)
		}
		if g := must(s.Generation(ctx))(t); g != gen0+int64(2*workers*each) {
			t.Errorf("%s: generation %d, want %d", name, g, gen0+int64(2*workers*each))
		}
	}
}

// testSharedSessionVersusUserChange races CreateSession through one handle
// against SetUserPassword or SetUserDisabled through the other, as a login
// on one replica against a change on another. The promise auth's Login
// builds on: a session that survives the change was created by someone who,
// reading the user after CreateSession returned, saw the change.
func testSharedSessionVersusUserChange(t *testing.T, a, b store.Store) {
	ctx := context.Background()
	const rounds = 60
	tests := []struct {
		name    string
		change  func(id int64) error
		changed func(u store.User) bool
	}{
		{"SetUserPassword", func(id int64) error { return b.SetUserPassword(ctx, id, "changed") }, func(u store.User) bool { return u.PasswordHash == "changed" }},
		{"SetUserDisabled", func(id int64) error { return b.SetUserDisabled(ctx, id, true) }, func(u store.User) bool { return u.Disabled }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for i := range rounds {
				u := mkUser(t, a, fmt.Sprintf("%s-%d", tc.name, i), "VIEWER")
				id := []byte(fmt.Sprintf("%s-sess-%d", tc.name, i))
				var (
					wg        sync.WaitGroup
					start     = make(chan struct{})
					createErr error
					changeErr error
					seen      store.User
				)
				wg.Add(2)
				go func() {
					defer wg.Done()
					<-start
					if createErr = a.CreateSession(ctx, store.Session{IDHash: id, UserID: u.ID, ExpiresAt: time.Now().Add(time.Hour)}); createErr != nil {
						return
					}
					seen, createErr = a.GetUser(ctx, u.ID)
				}()
				go func() {
					defer wg.Done()
					<-start
					changeErr = tc.change(u.ID)
				}()
				close(start)
				wg.Wait()
				ok(t, createErr)
				ok(t, changeErr)
				_, err := b.GetSession(ctx, id)
				switch {
				case errors.Is(err, store.ErrNotFound):
				case err != nil:
					t.Fatal(err)
				case !tc.changed(seen):
					t.Fatalf("round %d: the session outlived the change, yet the user read after creating it showed no change", i)
				}
			}
		})
	}
}
