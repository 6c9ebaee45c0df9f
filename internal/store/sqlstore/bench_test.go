package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"reflect"
	"runtime"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/promgate/promgate/internal/store"
	"github.com/promgate/promgate/internal/store/internal/dbutil"
	"github.com/promgate/promgate/internal/store/storetest"
)

// BenchmarkCredentialLookup measures what auth does per request when its
// cache misses (Authenticator.verifyCredential): the credential by key,
// then its user. It runs the baseline, the lookups of the store packages
// sqlstore replaced (internal/store/sqlite and internal/store/postgres,
// kept below verbatim as legacy*), and sqlstore on the same database in
// alternating blocks of the same run, and reports both and their ratio
// (new/old; above 1 is slower):
//
//	go test -run '^$' -bench BenchmarkCredentialLookup -benchtime 20000x ./internal/store/sqlstore
//
// With PROMGATE_TEST_POSTGRES_URL set it measures PostgreSQL too.
func BenchmarkCredentialLookup(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) {
		path := filepath.Join(b.TempDir(), "promgate.db")
		s := openSQLite(b, path)
		key := seedLookup(b, s)
		old := legacySQLiteOpen(b, path)
		compareLookups(b, s, old, key)
	})
	b.Run("postgres", func(b *testing.B) {
		u := storetest.PostgresURL(b)
		s := openPostgres(b, u)
		key := seedLookup(b, s)
		pool, err := pgxpool.New(context.Background(), u)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(pool.Close)
		compareLookups(b, s, legacyPostgres{pool}, key)
	})
}

// lookuper is the hot path: a credential by key, then its user.
type lookuper interface {
	GetCredentialByKey(ctx context.Context, key string) (store.Credential, error)
	GetUser(ctx context.Context, id int64) (store.User, error)
}

func seedLookup(b *testing.B, s store.Store) string {
	b.Helper()
	ctx := context.Background()
	u, err := s.CreateUser(ctx, store.User{Login: "editor", PasswordHash: "x", Role: "EDITOR"})
	if err != nil {
		b.Fatal(err)
	}
	exp := time.Now().Add(time.Hour)
	// A few others so the lookup is an index probe, not a one-row table.
	for i := range 50 {
		if _, err := s.CreateCredential(ctx, store.Credential{Key: fmt.Sprintf("pgk_other%02d", i), TokenHash: []byte("h"), UserID: &u.ID, Scope: "read"}); err != nil {
			b.Fatal(err)
		}
	}
	c, err := s.CreateCredential(ctx, store.Credential{Key: "pgk_bench", TokenHash: make([]byte, 32), Name: "bench", UserID: &u.ID,
		Scope: "read,write", DataSourceIDs: []int64{2, 3}, Selector: `{job="node"}`, ExpiresAt: &exp, CreatedBy: "editor"})
	if err != nil {
		b.Fatal(err)
	}
	return c.Key
}

func lookup(ctx context.Context, l lookuper, key string) (store.Credential, store.User, error) {
	c, err := l.GetCredentialByKey(ctx, key)
	if err != nil {
		return c, store.User{}, err
	}
	u, err := l.GetUser(ctx, *c.UserID)
	return c, u, err
}

// compareLookups checks that both give the same answer, then times them in
// alternating blocks so that load from elsewhere falls on both alike.
func compareLookups(b *testing.B, s, old lookuper, key string) {
	ctx := context.Background()
	c1, u1, err1 := lookup(ctx, s, key)
	c2, u2, err2 := lookup(ctx, old, key)
	if err1 != nil || err2 != nil || !reflect.DeepEqual(c1, c2) || !reflect.DeepEqual(u1, u2) {
		b.Fatalf("the lookups disagree:\nnew %+v %+v %v\nold %+v %+v %v", c1, u1, err1, c2, u2, err2)
	}
	const block = 200
	var tNew, tOld time.Duration
	runtime.GC()
	b.ResetTimer()
	for done := 0; done < b.N; done += block {
		n := min(block, b.N-done)
		sides := []struct {
			l lookuper
			d *time.Duration
		}{{s, &tNew}, {old, &tOld}}
		if done/block%2 == 1 {
			sides[0], sides[1] = sides[1], sides[0]
		}
		for _, side := range sides {
			start := time.Now()
			for range n {
				if _, _, err := lookup(ctx, side.l, key); err != nil {
					b.Fatal(err)
				}
			}
			*side.d += time.Since(start)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(tNew.Nanoseconds())/float64(b.N), "ns/op")
	b.ReportMetric(float64(tOld.Nanoseconds())/float64(b.N), "old-ns/op")
	b.ReportMetric(float64(tNew)/float64(tOld), "new/old")
}

// legacySQLite is the read side of the SQLite store sqlstore replaced
// (internal/store/sqlite before the merge), verbatim but for names: its
// reader pool's DSN and settings, and its two lookups.
type legacySQLite struct{ r *sql.DB }

func legacySQLiteOpen(b *testing.B, path string) legacySQLite {
	b.Helper()
	common := fmt.Sprintf("_pragma=busy_timeout(%d)&_pragma=foreign_keys(1)", (10 * time.Second).Milliseconds())
	r, err := sql.Open("sqlite", path+"?"+common+"&_pragma=query_only(1)")
	if err != nil {
		b.Fatal(err)
	}
	r.SetMaxOpenConns(max(4, runtime.GOMAXPROCS(0)))
	r.SetMaxIdleConns(max(4, runtime.GOMAXPROCS(0)))
	b.Cleanup(func() { _ = r.Close() })
	return legacySQLite{r}
}

const legacyUserCols = `id, login, password_hash, role, disabled, created_at`

const legacyCredentialCols = `id, key, token_hash, name, user_id, role, created_by, created_at,
	last_used_at, expires_at, revoked_at, scope, data_source_ids, selector`

type legacyScanner interface {
	Scan(dest ...any) error
}

func legacySQLiteScanUser(sc legacyScanner) (store.User, error) {
	var (
		u        store.User
		disabled int64
		created  int64
	)
	if err := sc.Scan(&u.ID, &u.Login, &u.PasswordHash, &u.Role, &disabled, &created); err != nil {
		return store.User{}, err
	}
	u.Disabled = disabled != 0
	u.CreatedAt = time.UnixMicro(created).UTC()
	return u, nil
}

func legacyFromMicros(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := time.UnixMicro(v.Int64).UTC()
	return &t
}

func legacySQLiteScanCredential(sc legacyScanner) (store.Credential, error) {
	var (
		c                        store.Credential
		userID                   sql.NullInt64
		created                  int64
		lastUsed, expires, revok sql.NullInt64
		ids                      sql.NullString
	)
	if err := sc.Scan(&c.ID, &c.Key, &c.TokenHash, &c.Name, &userID, &c.Role, &c.CreatedBy, &created,
		&lastUsed, &expires, &revok, &c.Scope, &ids, &c.Selector); err != nil {
		return store.Credential{}, err
	}
	if userID.Valid {
		c.UserID = &userID.Int64
	}
	c.CreatedAt = time.UnixMicro(created).UTC()
	c.LastUsedAt = legacyFromMicros(lastUsed)
	c.ExpiresAt = legacyFromMicros(expires)
	c.RevokedAt = legacyFromMicros(revok)
	var ip *string
	if ids.Valid {
		ip = &ids.String
	}
	var err error
	if c.DataSourceIDs, err = dbutil.DecodeIDs(ip); err != nil {
		return store.Credential{}, err
	}
	return c, nil
}

func (l legacySQLite) GetCredentialByKey(ctx context.Context, key string) (store.Credential, error) {
	c, err := legacySQLiteScanCredential(l.r.QueryRowContext(ctx, `SELECT `+legacyCredentialCols+` FROM credentials WHERE key = ?`, key))
	if err != nil {
		return store.Credential{}, fmt.Errorf("get credential %q: %w", key, err)
	}
	return c, nil
}

func (l legacySQLite) GetUser(ctx context.Context, id int64) (store.User, error) {
	u, err := legacySQLiteScanUser(l.r.QueryRowContext(ctx, `SELECT `+legacyUserCols+` FROM users WHERE id = ?`, id))
	if err != nil {
		return store.User{}, fmt.Errorf("get user %d: %w", id, err)
	}
	return u, nil
}

// legacyPostgres is the read side of the PostgreSQL store sqlstore
// replaced (internal/store/postgres before the merge: pgxpool, no
// database/sql), verbatim but for names.
type legacyPostgres struct{ pool *pgxpool.Pool }

func legacyUTC(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := t.UTC()
	return &v
}

func (l legacyPostgres) GetCredentialByKey(ctx context.Context, key string) (store.Credential, error) {
	var c store.Credential
	row := l.pool.QueryRow(ctx, `SELECT `+legacyCredentialCols+` FROM credentials WHERE key = $1`, key)
	if err := row.Scan(&c.ID, &c.Key, &c.TokenHash, &c.Name, &c.UserID, &c.Role, &c.CreatedBy, &c.CreatedAt,
		&c.LastUsedAt, &c.ExpiresAt, &c.RevokedAt, &c.Scope, &c.DataSourceIDs, &c.Selector); err != nil {
		return store.Credential{}, fmt.Errorf("get credential %q: %w", key, err)
	}
	c.CreatedAt = c.CreatedAt.UTC()
	c.LastUsedAt, c.ExpiresAt, c.RevokedAt = legacyUTC(c.LastUsedAt), legacyUTC(c.ExpiresAt), legacyUTC(c.RevokedAt)
	return c, nil
}

func (l legacyPostgres) GetUser(ctx context.Context, id int64) (store.User, error) {
	var u store.User
	row := l.pool.QueryRow(ctx, `SELECT `+legacyUserCols+` FROM users WHERE id = $1`, id)
	if err := row.Scan(&u.ID, &u.Login, &u.PasswordHash, &u.Role, &u.Disabled, &u.CreatedAt); err != nil {
		return store.User{}, fmt.Errorf("get user %d: %w", id, err)
	}
	u.CreatedAt = u.CreatedAt.UTC()
	return u, nil
}
