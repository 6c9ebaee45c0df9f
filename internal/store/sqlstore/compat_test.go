package sqlstore_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/promgate/promgate/internal/store"
	"github.com/promgate/promgate/internal/store/storetest"
)

// The compatibility tests open a database that promgate wrote before the
// two store packages became sqlstore (testdata/v1-*.sql: that code's
// schema_migrations table and migration 1, verbatim, and rows as it wrote
// them), with the current code: everything reads back, new rows get
// fresh IDs, and the schema ends up exactly as a new database's.

func TestSQLiteOpensV1Database(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	old := filepath.Join(dir, "old.db")
	db, err := sql.Open("sqlite", old)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, fixture(t, "v1-sqlite.sql")); err != nil {
		t.Fatalf("load fixture: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	checkV1(t, openSQLite(t, old))
	fresh := filepath.Join(dir, "fresh.db")
	_ = openSQLite(t, fresh)
	if got, want := sqliteSchema(t, old), sqliteSchema(t, fresh); got != want {
		t.Errorf("schema of the v1 database after opening:\n%s\nwant (a new database's):\n%s", got, want)
	}
}

func TestPostgresOpensV1Database(t *testing.T) {
	ctx := context.Background()
	old := storetest.PostgresURL(t)
	conn, err := pgx.Connect(ctx, old)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close(ctx) }()
	if _, err := conn.Exec(ctx, fixture(t, "v1-postgres.sql")); err != nil {
		t.Fatalf("load fixture: %v", err)
	}

	checkV1(t, openPostgres(t, old))
	fresh := storetest.PostgresURL(t)
	_ = openPostgres(t, fresh)
	if got, want := postgresSchema(t, old), postgresSchema(t, fresh); got != want {
		t.Errorf("schema of the v1 database after opening:\n%s\nwant (a new database's):\n%s", got, want)
	}
}

func fixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

func atp(s string) *time.Time {
	t := at(s)
	return &t
}

// checkV1 reads back the fixture's rows (the same in both files) and
// writes new ones beside them.
func checkV1(t *testing.T, s store.Store) {
	t.Helper()
	ctx := context.Background()
	one, two := int64(1), int64(2)
	token1 := make([]byte, 32)
	for i := range token1 {
		token1[i] = byte(i + 1)
	}

	users, err := s.ListUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantUsers := []store.User{
		{ID: 1, Login: "Admin", PasswordHash: "$argon2id$v=19$m=65536,t=1,p=4$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA", Role: "OWNER", CreatedAt: at("2026-03-01T10:00:00.123456Z")},
		{ID: 2, Login: "viewer", Role: "VIEWER", Disabled: true, CreatedAt: at("2026-03-02T11:30:00Z")},
	}
	if !reflect.DeepEqual(users, wantUsers) {
		t.Errorf("users:\n%+v\nwant\n%+v", users, wantUsers)
	}
	if u, err := s.GetUserByLogin(ctx, "ADMIN"); err != nil || u.ID != 1 {
		t.Errorf("GetUserByLogin(ADMIN) = %+v, %v", u, err)
	}

	wantCreds := map[string]store.Credential{
		"pgk_user1": {ID: 1, Key: "pgk_user1", TokenHash: token1, Name: "laptop", UserID: &one, CreatedBy: "Admin",
			CreatedAt: at("2026-03-01T10:00:00.5Z"), LastUsedAt: atp("2026-04-05T06:07:08.000001Z"), ExpiresAt: atp("2027-01-01T00:00:00Z"),
			Scope: "read,write", DataSourceIDs: []int64{2}, Selector: `{job="node"}`},
		"pgk_global": {ID: 2, Key: "pgk_global", TokenHash: bytes.Repeat([]byte{0xaa}, 32), Name: "ci", Role: "VIEWER", CreatedBy: "Admin",
			CreatedAt: at("2026-03-02T11:30:00Z"), Scope: "read"},
		"pgk_revoked": {ID: 3, Key: "pgk_revoked", TokenHash: bytes.Repeat([]byte{0xbb}, 32), Name: "old", UserID: &two, CreatedBy: "Admin",
			CreatedAt: at("2026-03-02T11:30:00Z"), RevokedAt: atp("2026-04-06T00:00:00Z"), Scope: "read", DataSourceIDs: []int64{}},
	}
	for key, want := range wantCreds {
		got, err := s.GetCredentialByKey(ctx, key)
		if err != nil {
			t.Errorf("GetCredentialByKey(%s): %v", key, err)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("credential %s:\n%+v\nwant\n%+v", key, got, want)
		}
	}
	if cs, err := s.ListCredentials(ctx, store.CredentialFilter{}); err != nil || len(cs) != 2 {
		t.Errorf("ListCredentials (not revoked) = %d, %v; want 2", len(cs), err)
	}

	sess, err := s.GetSession(ctx, bytes.Repeat([]byte{0xcc}, 32))
	wantSess := store.Session{IDHash: bytes.Repeat([]byte{0xcc}, 32), UserID: 1, CSRFToken: "csrf-token-1",
		CreatedAt: at("2026-03-03T09:00:00Z"), ExpiresAt: at("2027-01-01T00:00:00Z")}
	if err != nil || !reflect.DeepEqual(sess, wantSess) {
		t.Errorf("session = %+v, %v; want %+v", sess, err, wantSess)
	}

	ds, err := s.ListDataSources(ctx)
	wantDS := []store.DataSource{{ID: 2, UID: "thanos-eu", Name: "Thanos EU", Type: "prometheus", URL: "https://thanos.example:10902",
		Env: "prod", Site: "eu-1", BasicAuthUser: "reader", Secrets: []byte("sealed-secret"),
		Headers: map[string]string{"X-Scope-OrgID": "team-a"}, Timeout: 30 * time.Second, CreatedAt: at("2026-03-03T09:00:00Z")}}
	if err != nil || !reflect.DeepEqual(ds, wantDS) {
		t.Errorf("data sources = %+v, %v; want %+v", ds, err, wantDS)
	}

	events, err := s.ListAudit(ctx, 0)
	wantEvents := []store.AuditEvent{{ID: 1, At: at("2026-03-03T09:00:00Z"), Actor: "Admin", Action: "credential.create",
		Target: "pgk_user1", Detail: "scope=read,write", RemoteAddr: "127.0.0.1"}}
	if err != nil || !reflect.DeepEqual(events, wantEvents) {
		t.Errorf("audit = %+v, %v; want %+v", events, err, wantEvents)
	}

	if g, err := s.Generation(ctx); err != nil || g != 7 {
		t.Errorf("Generation = %d, %v; want 7", g, err)
	}

	// New rows continue the old sequences.
	u, err := s.CreateUser(ctx, store.User{Login: "new", Role: "EDITOR"})
	if err != nil || u.ID != 3 {
		t.Errorf("CreateUser = %+v, %v; want ID 3", u, err)
	}
	if _, err := s.CreateUser(ctx, store.User{Login: "admin", Role: "EDITOR"}); err == nil {
		t.Error("a login differing from an old one only in case was accepted")
	}
	c, err := s.CreateCredential(ctx, store.Credential{Key: "pgk_new", TokenHash: []byte("h"), UserID: &u.ID, Scope: "read"})
	if err != nil || c.ID != 4 {
		t.Errorf("CreateCredential = %+v, %v; want ID 4", c, err)
	}
	d, err := s.CreateDataSource(ctx, store.DataSource{Name: "new", URL: "http://127.0.0.1:9090"})
	if err != nil || d.ID != 3 {
		t.Errorf("CreateDataSource = %+v, %v; want ID 3", d, err)
	}
	if g, err := s.Generation(ctx); err != nil || g != 8 {
		t.Errorf("Generation after a data source change = %d, %v; want 8", g, err)
	}
}

// sqliteSchema lists the tables and indexes of the file and the recorded
// migrations (without their times).
func sqliteSchema(t *testing.T, path string) string {
	t.Helper()
	return dump(t, rawDB(t, path),
		`SELECT type, name, tbl_name, COALESCE(sql, '') FROM sqlite_master ORDER BY type, name`,
		`SELECT version, name FROM schema_migrations ORDER BY version`)
}

// postgresSchema lists the columns, constraints and indexes of the URL's
// schema and the recorded migrations (without their times).
func postgresSchema(t *testing.T, u string) string {
	t.Helper()
	db, err := sql.Open("pgx", u)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	return dump(t, db,
		`SELECT table_name, column_name, data_type, is_nullable, COALESCE(column_default, ''), is_identity,
	COALESCE(identity_start, ''), ordinal_position
FROM information_schema.columns WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position`,
		`SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint
WHERE connamespace = current_schema()::regnamespace ORDER BY 1, 2`,
		`SELECT tablename, indexname, replace(indexdef, current_schema() || '.', '') FROM pg_indexes WHERE schemaname = current_schema() ORDER BY 1, 2`,
		`SELECT version, name FROM schema_migrations ORDER BY version`)
}

// dump renders the rows of each query, one line per row.
func dump(t *testing.T, db *sql.DB, queries ...string) string {
	t.Helper()
	var b strings.Builder
	for _, q := range queries {
		rows, err := db.Query(q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for i, v := range vals {
				if i > 0 {
					b.WriteString(" | ")
				}
				if bs, ok := v.([]byte); ok {
					v = string(bs)
				}
				fmt.Fprint(&b, v)
			}
			b.WriteString("\n")
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		_ = rows.Close()
	}
	return b.String()
}
