package postgres

// migration is one numbered schema step. Steps are applied in order, each
// recorded in schema_migrations, all in the one transaction Open runs.
type migration struct {
	version int64
	name    string
	sql     string
}

// migrations returns the schema history: the same tables, columns and
// constraints as the SQLite store's, in PostgreSQL's types. Never edit a
// released step: append a new one (to both stores).
func migrations() []migration {
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
