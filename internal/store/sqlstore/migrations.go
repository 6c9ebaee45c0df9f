package sqlstore

// The schema history of each database: ordered, appendable lists. Never
// edit a released step: append a new one, to both lists, with the same
// version and name (TestMigrationListsAgree checks), each in its dialect.
// Databases made by earlier promgate versions open unchanged
// (compat_test.go opens the version 1 schema as those versions wrote it).
//
// SQLite: times are INTEGER microseconds since the Unix epoch (UTC), the
// precision PostgreSQL keeps, so both stores round-trip the same values.
// Tables are STRICT so a wrongly typed value is an error rather than
// silently stored. PostgreSQL: the same tables, columns and constraints in
// its own types.

// sqliteMigrationsTable records the applied steps (applied_at in
// microseconds).
const sqliteMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER PRIMARY KEY,
	name       TEXT    NOT NULL,
	applied_at INTEGER NOT NULL
) STRICT`

// postgresMigrationsTable records the applied steps.
const postgresMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    BIGINT      PRIMARY KEY,
	name       TEXT        NOT NULL,
	applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)`

func sqliteMigrations() []migration {
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
	}
}

func postgresMigrations() []migration {
	return []migration{
		{
			version: 1,
			name:    "initial schema",
			sql: `
CREATE TABLE users (
	id            BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	login         TEXT        NOT NULL,
	login_key     TEXT        NOT NULL UNIQUE, -- lower-cased login: logins are case-insensitive
	password_hash TEXT        NOT NULL DEFAULT '',
	role          TEXT        NOT NULL,
	disabled      BOOLEAN     NOT NULL DEFAULT FALSE,
	created_at    TIMESTAMPTZ NOT NULL
);

CREATE TABLE credentials (
	id              BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	key             TEXT        NOT NULL UNIQUE,
	token_hash      BYTEA       NOT NULL,
	name            TEXT        NOT NULL DEFAULT '',
	user_id         BIGINT      REFERENCES users(id) ON DELETE CASCADE, -- NULL: global credential
	role            TEXT        NOT NULL DEFAULT '',
	created_by      TEXT        NOT NULL DEFAULT '',
	created_at      TIMESTAMPTZ NOT NULL,
	last_used_at    TIMESTAMPTZ,
	expires_at      TIMESTAMPTZ,
	revoked_at      TIMESTAMPTZ,
	scope           TEXT        NOT NULL DEFAULT '',
	data_source_ids BIGINT[],   -- NULL means no restriction, '{}' none
	selector        TEXT        NOT NULL DEFAULT ''
);
CREATE INDEX credentials_user_id ON credentials(user_id);

CREATE TABLE sessions (
	id_hash    BYTEA       PRIMARY KEY,
	user_id    BIGINT      NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	csrf_token TEXT        NOT NULL,
	created_at TIMESTAMPTZ NOT NULL,
	expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX sessions_user_id ON sessions(user_id);
CREATE INDEX sessions_expires_at ON sessions(expires_at);

-- Identity values are never reused: credentials restricted to a deleted data
-- source must not silently gain access to a new one. 1 is the embedded store.
CREATE TABLE data_sources (
	id              BIGINT      GENERATED ALWAYS AS IDENTITY (START WITH 2) PRIMARY KEY CHECK (id >= 2),
	uid             TEXT        NOT NULL UNIQUE,
	name            TEXT        NOT NULL UNIQUE,
	type            TEXT        NOT NULL,
	url             TEXT        NOT NULL,
	env             TEXT        NOT NULL DEFAULT '',
	site            TEXT        NOT NULL DEFAULT '',
	basic_auth_user TEXT        NOT NULL DEFAULT '',
	secrets         BYTEA,
	headers         JSONB,
	timeout_ns      BIGINT      NOT NULL DEFAULT 0,
	created_at      TIMESTAMPTZ NOT NULL
);

CREATE TABLE audit_log (
	id          BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at          TIMESTAMPTZ NOT NULL,
	actor       TEXT        NOT NULL DEFAULT '',
	action      TEXT        NOT NULL DEFAULT '',
	target      TEXT        NOT NULL DEFAULT '',
	detail      TEXT        NOT NULL DEFAULT '',
	remote_addr TEXT        NOT NULL DEFAULT ''
);

-- One row, bumped by every change that can take access away, so that a
-- cache of verified credentials on another replica can notice.
CREATE TABLE store_generation (
	id    INTEGER PRIMARY KEY CHECK (id = 1),
	value BIGINT  NOT NULL
);
INSERT INTO store_generation(id, value) VALUES (1, 1);
`,
		},
	}
}
