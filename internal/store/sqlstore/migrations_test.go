package sqlstore

import (
	"reflect"
	"testing"
)

// TestMigrationListsAgree: both lists are numbered 1, 2, 3... and step n
// is the same change in both, so a database's version means the same
// schema whichever it is.
func TestMigrationListsAgree(t *testing.T) {
	lists := []struct {
		name  string
		steps []migration
	}{
		{"sqlite", sqliteMigrations()},
		{"postgres", postgresMigrations()},
	}
	for _, l := range lists {
		for i, m := range l.steps {
			if m.version != int64(i+1) {
				t.Errorf("%s: migration %d has version %d, want %d", l.name, i, m.version, i+1)
			}
			if m.name == "" || m.sql == "" {
				t.Errorf("%s: migration %d is missing its name or SQL", l.name, m.version)
			}
		}
	}
	sq, pg := sqliteMigrations(), postgresMigrations()
	if len(sq) != len(pg) {
		t.Fatalf("sqlite has %d migrations, postgres %d: append each step to both", len(sq), len(pg))
	}
	for i := range sq {
		if sq[i].name != pg[i].name {
			t.Errorf("step %d is %q in sqlite and %q in postgres", i+1, sq[i].name, pg[i].name)
		}
	}
}

func TestRebind(t *testing.T) {
	tests := []struct {
		in, sqlite, postgres string
	}{
		{`SELECT 1`, `SELECT 1`, `SELECT 1`},
		{`UPDATE t SET a = ? WHERE id = ?`, `UPDATE t SET a = ? WHERE id = ?`, `UPDATE t SET a = $1 WHERE id = $2`},
		{`VALUES (?, ?::jsonb, ?)`, `VALUES (?, ?::jsonb, ?)`, `VALUES ($1, $2::jsonb, $3)`},
	}
	for _, tc := range tests {
		if got := sqliteDialect().rebind(tc.in); got != tc.sqlite {
			t.Errorf("sqlite rebind(%q) = %q, want %q", tc.in, got, tc.sqlite)
		}
		if got := postgresDialect().rebind(tc.in); got != tc.postgres {
			t.Errorf("postgres rebind(%q) = %q, want %q", tc.in, got, tc.postgres)
		}
	}
}

func TestDecodeInt8Array(t *testing.T) {
	str := func(s string) *string { return &s }
	tests := []struct {
		in      *string
		want    []int64
		wantErr bool
	}{
		{nil, nil, false},
		{str("{}"), []int64{}, false},
		{str("{2}"), []int64{2}, false},
		{str("{2,30,9223372036854775807}"), []int64{2, 30, 9223372036854775807}, false},
		{str("{2,NULL}"), nil, true},
		{str("[2]"), nil, true},
		{str("{2"), nil, true},
	}
	for _, tc := range tests {
		got, err := decodeInt8Array(tc.in)
		if (err != nil) != tc.wantErr || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("decodeInt8Array(%v) = %v, %v; want %v (error: %v)", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}
