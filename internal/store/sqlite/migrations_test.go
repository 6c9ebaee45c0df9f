package sqlite

import "testing"

func TestMigrationVersionsAreSequential(t *testing.T) {
	for i, m := range migrations() {
		if m.version != int64(i+1) {
			t.Errorf("migration %d has version %d, want %d", i, m.version, i+1)
		}
		if m.name == "" || m.sql == "" {
			t.Errorf("migration %d is missing its name or SQL", m.version)
		}
	}
}
