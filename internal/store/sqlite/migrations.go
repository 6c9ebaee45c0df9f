package sqlite

// migration is one numbered schema step. Steps are applied in order, each
// recorded in schema_migrations, all in the one transaction Open runs.
type migration struct {
	version int64
	name    string
	sql     string
}

// migrations returns the schema history. Never edit a released step: append a
// new one. The PostgreSQL store has the same steps in its own dialect.
//
// Times are INTEGER microseconds since the Unix epoch (UTC), the precision
// PostgreSQL keeps, so both stores round-trip the same values. Tables are
// STRICT so a wrongly typed value is an error rather than silently stored.
func migrations() []migration {
	return []migration{
		{
			version: 1,
			name:    "initial schema",
			sql: `
CREATE TABLE users (
	id            INTEGER PRIMARY KEY AUTOINCREMENT,
	login         TEXT    NOT NULL,
	login_key     TEXT    NOT NULL UNIQUE, -- lower-cased login: logins are case-insensitive
	password_hash TEXT    NOT NULL DEFAULT '',
	role          TEXT    NOT NULL,
	disabled      INTEGER NOT NULL DEFAULT 0,
	created_at    INTEGER NOT NULL
) STRICT;

CREATE TABLE credentials (
	id              INTEGER PRIMARY KEY AUTOINCREMENT,
	key             TEXT    NOT NULL UNIQUE,
	token_hash      BLOB    NOT NULL,
	name            TEXT    NOT NULL DEFAULT '',
	user_id         INTEGER REFERENCES users(id) ON DELETE CASCADE, -- NULL: global credential
	role            TEXT    NOT NULL DEFAULT '',
	created_by      TEXT    NOT NULL DEFAULT '',
	created_at      INTEGER NOT NULL,
	last_used_at    INTEGER,
	expires_at      INTEGER,
	revoked_at      INTEGER,
	scope           TEXT    NOT NULL DEFAULT '',
	data_source_ids TEXT,   -- JSON array; NULL means no restriction
	selector        TEXT    NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX credentials_user_id ON credentials(user_id);

CREATE TABLE sessions (
	id_hash    BLOB    PRIMARY KEY,
	user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	csrf_token TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX sessions_user_id ON sessions(user_id);
CREATE INDEX sessions_expires_at ON sessions(expires_at);

-- AUTOINCREMENT so that an ID is never reused: credentials restricted to a
-- deleted data source must not silently gain access to a new one.
CREATE TABLE data_sources (
	id              INTEGER PRIMARY KEY AUTOINCREMENT CHECK (id >= 2), -- 1 is the embedded store
	uid             TEXT    NOT NULL UNIQUE,
	name            TEXT    NOT NULL UNIQUE,
	type            TEXT    NOT NULL,
	url             TEXT    NOT NULL,
	env             TEXT    NOT NULL DEFAULT '',
	site            TEXT    NOT NULL DEFAULT '',
	basic_auth_user TEXT    NOT NULL DEFAULT '',
	secrets         BLOB,
	headers         TEXT,   -- JSON object
	timeout_ns      INTEGER NOT NULL DEFAULT 0,
	created_at      INTEGER NOT NULL
) STRICT;
-- The next AUTOINCREMENT value is seq+1, so the first data source gets id 2.
INSERT INTO sqlite_sequence(name, seq) VALUES ('data_sources', 1);

CREATE TABLE audit_log (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	at          INTEGER NOT NULL,
	actor       TEXT    NOT NULL DEFAULT '',
	action      TEXT    NOT NULL DEFAULT '',
	target      TEXT    NOT NULL DEFAULT '',
	detail      TEXT    NOT NULL DEFAULT '',
	remote_addr TEXT    NOT NULL DEFAULT ''
) STRICT;

-- One row, bumped by every change that can take access away, so that a
-- cache of verified credentials in another process can notice.
CREATE TABLE store_generation (
	id    INTEGER PRIMARY KEY CHECK (id = 1),
	value INTEGER NOT NULL
) STRICT;
INSERT INTO store_generation(id, value) VALUES (1, 1);
`,
		},
		{
			// Appended for OpenID Connect (issue 16): which provider made a
			// user, and the user's subject there. Local users keep ''.
			version: 2,
			name:    "users from OpenID Connect providers",
			sql: `
ALTER TABLE users ADD COLUMN provider TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN subject  TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX users_provider_subject ON users(provider, subject) WHERE provider <> '';
`,
		},
	}
}
