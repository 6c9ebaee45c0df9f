-- The schema of promgate's SQLite store at schema version 1, as the store
-- packages before internal/store/sqlstore created it (internal/store/sqlite,
-- migrations.go and the schema_migrations table of its migrate), copied
-- verbatim, then rows as that code wrote them. Never edit: compat_test.go
-- opens a database made from it with the current code.

CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER PRIMARY KEY,
	name       TEXT    NOT NULL,
	applied_at INTEGER NOT NULL
) STRICT;

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
INSERT INTO schema_migrations(version, name, applied_at) VALUES (1, 'initial schema', 1772359200000000);

-- Rows as promgate before the sqlstore merge wrote them.
INSERT INTO users(login, login_key, password_hash, role, disabled, created_at) VALUES
	('Admin', 'admin', '$argon2id$v=19$m=65536,t=1,p=4$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA', 'OWNER', 0, 1772359200123456),
	('viewer', 'viewer', '', 'VIEWER', 1, 1772451000000000);
INSERT INTO credentials(key, token_hash, name, user_id, role, created_by, created_at, last_used_at, expires_at, revoked_at, scope, data_source_ids, selector) VALUES
	('pgk_user1', X'0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20', 'laptop', 1, '', 'Admin', 1772359200500000, 1775369228000001, 1798761600000000, NULL, 'read,write', '[2]', '{job="node"}'),
	('pgk_global', X'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', 'ci', NULL, 'VIEWER', 'Admin', 1772451000000000, NULL, NULL, NULL, 'read', NULL, ''),
	('pgk_revoked', X'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb', 'old', 2, '', 'Admin', 1772451000000000, NULL, NULL, 1775433600000000, 'read', '[]', '');
INSERT INTO sessions(id_hash, user_id, csrf_token, created_at, expires_at) VALUES
	(X'cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc', 1, 'csrf-token-1', 1772528400000000, 1798761600000000);
INSERT INTO data_sources(uid, name, type, url, env, site, basic_auth_user, secrets, headers, timeout_ns, created_at) VALUES
	('thanos-eu', 'Thanos EU', 'prometheus', 'https://thanos.example:10902', 'prod', 'eu-1', 'reader', X'7365616c65642d736563726574', '{"X-Scope-OrgID":"team-a"}', 30000000000, 1772528400000000);
INSERT INTO audit_log(at, actor, action, target, detail, remote_addr) VALUES
	(1772528400000000, 'Admin', 'credential.create', 'pgk_user1', 'scope=read,write', '127.0.0.1');
UPDATE store_generation SET value = 7 WHERE id = 1;
