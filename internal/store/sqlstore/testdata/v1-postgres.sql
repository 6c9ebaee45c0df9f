-- The schema of promgate's PostgreSQL store at schema version 1, as the store
-- packages before internal/store/sqlstore created it (internal/store/postgres,
-- migrations.go and the schema_migrations table of its migrate), copied
-- verbatim, then rows as that code wrote them. Never edit: compat_test.go
-- opens a database made from it with the current code.

CREATE TABLE IF NOT EXISTS schema_migrations (
	version    BIGINT      PRIMARY KEY,
	name       TEXT        NOT NULL,
	applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

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
INSERT INTO schema_migrations(version, name) VALUES (1, 'initial schema');

-- Rows as promgate before the sqlstore merge wrote them.
INSERT INTO users(login, login_key, password_hash, role, disabled, created_at) VALUES
	('Admin', 'admin', '$argon2id$v=19$m=65536,t=1,p=4$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA', 'OWNER', FALSE, '2026-03-01 10:00:00.123456+00'),
	('viewer', 'viewer', '', 'VIEWER', TRUE, '2026-03-02 11:30:00+00');
INSERT INTO credentials(key, token_hash, name, user_id, role, created_by, created_at, last_used_at, expires_at, revoked_at, scope, data_source_ids, selector) VALUES
	('pgk_user1', '\x0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20', 'laptop', 1, '', 'Admin', '2026-03-01 10:00:00.5+00', '2026-04-05 06:07:08.000001+00', '2027-01-01 00:00:00+00', NULL, 'read,write', '{2}', '{job="node"}'),
	('pgk_global', '\xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', 'ci', NULL, 'VIEWER', 'Admin', '2026-03-02 11:30:00+00', NULL, NULL, NULL, 'read', NULL, ''),
	('pgk_revoked', '\xbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb', 'old', 2, '', 'Admin', '2026-03-02 11:30:00+00', NULL, NULL, '2026-04-06 00:00:00+00', 'read', '{}', '');
INSERT INTO sessions(id_hash, user_id, csrf_token, created_at, expires_at) VALUES
	('\xcccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc', 1, 'csrf-token-1', '2026-03-03 09:00:00+00', '2027-01-01 00:00:00+00');
INSERT INTO data_sources(uid, name, type, url, env, site, basic_auth_user, secrets, headers, timeout_ns, created_at) VALUES
	('thanos-eu', 'Thanos EU', 'prometheus', 'https://thanos.example:10902', 'prod', 'eu-1', 'reader', '\x7365616c65642d736563726574', '{"X-Scope-OrgID":"team-a"}', 30000000000, '2026-03-03 09:00:00+00');
INSERT INTO audit_log(at, actor, action, target, detail, remote_addr) VALUES
	('2026-03-03 09:00:00+00', 'Admin', 'credential.create', 'pgk_user1', 'scope=read,write', '127.0.0.1');
UPDATE store_generation SET value = 7 WHERE id = 1;
