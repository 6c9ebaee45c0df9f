package sqlstore

// queries are every statement of the store, written once with ?
// placeholders and rebound for the dialect when the store opens, so no
// request pays for it.
type queries struct {
	generation, bump string

	insertUser, userByID, userByLogin, listUsers, countUsers     string
	setRole, setDisabled, setPassword, lockUser, deleteUser      string
	deleteUserCredentials                                        string
	insertCredential, credentialByKey, credentialByID            string
	listCredentials, revokeCredential, touchCredential           string
	insertSession, getSession, deleteSession, deleteUserSessions string
	deleteExpiredSessions                                        string
	insertDataSource, updateDataSource, dataSourceByID           string
	dataSourceByUID, listDataSources, deleteDataSource           string
	insertAudit, listAudit, listAuditLimit                       string
}

const userCols = `id, login, password_hash, role, disabled, created_at`

func newQueries(d *dialect) *queries {
	credentialCols := `id, key, token_hash, name, user_id, role, created_by, created_at,
	last_used_at, expires_at, revoked_at, scope, ` + d.idsCol + `, selector`
	dataSourceCols := `id, uid, name, type, url, env, site, basic_auth_user, secrets, ` + d.headersCol + `, timeout_ns, created_at`
	auditCols := `id, at, actor, action, target, detail, remote_addr`
	q := &queries{
		generation: `SELECT value FROM store_generation WHERE id = 1`,
		bump:       `UPDATE store_generation SET value = value + 1 WHERE id = 1`,

		insertUser: `INSERT INTO users(login, login_key, password_hash, role, disabled, created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id`,
		userByID:   `SELECT ` + userCols + ` FROM users WHERE id = ?`,
		// Logins are unique on their lower-cased form (dbutil.LoginKey).
		userByLogin: `SELECT ` + userCols + ` FROM users WHERE login_key = ?`,
		listUsers:   `SELECT ` + userCols + ` FROM users ORDER BY id`,
		countUsers:  `SELECT COUNT(*) FROM users`,
		setRole:     `UPDATE users SET role = ? WHERE id = ?`,
		setDisabled: `UPDATE users SET disabled = ? WHERE id = ?`,
		setPassword: `UPDATE users SET password_hash = ? WHERE id = ?`,
		lockUser:    `SELECT 1 FROM users WHERE id = ?` + d.forUpdate,
		deleteUser:  `DELETE FROM users WHERE id = ?`,

		deleteUserCredentials: `DELETE FROM credentials WHERE user_id = ?`,
		insertCredential: `INSERT INTO credentials(key, token_hash, name, user_id, role, created_by, created_at,
	last_used_at, expires_at, revoked_at, scope, data_source_ids, selector) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		credentialByKey: `SELECT ` + credentialCols + ` FROM credentials WHERE key = ?`,
		credentialByID:  `SELECT ` + credentialCols + ` FROM credentials WHERE id = ?`,
		// ListCredentials appends its conditions (? placeholders) and
		// rebinds the result.
		listCredentials:  `SELECT ` + credentialCols + ` FROM credentials`,
		revokeCredential: `UPDATE credentials SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?`,
		// Never moves last_used_at backwards, so concurrent requests may
		// touch in any order (a CASE, as SQLite's MAX and PostgreSQL's
		// GREATEST treat NULL differently).
		touchCredential: `UPDATE credentials SET last_used_at = CASE WHEN last_used_at IS NULL OR last_used_at < ? THEN ? ELSE last_used_at END WHERE id = ?`,

		insertSession:         `INSERT INTO sessions(id_hash, user_id, csrf_token, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
		getSession:            `SELECT id_hash, user_id, csrf_token, created_at, expires_at FROM sessions WHERE id_hash = ?`,
		deleteSession:         `DELETE FROM sessions WHERE id_hash = ?`,
		deleteUserSessions:    `DELETE FROM sessions WHERE user_id = ?`,
		deleteExpiredSessions: `DELETE FROM sessions WHERE expires_at <= ?`,

		insertDataSource: `INSERT INTO data_sources(uid, name, type, url, env, site, basic_auth_user, secrets, headers, timeout_ns, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ` + d.headersParam + `, ?, ?) RETURNING id`,
		updateDataSource: `UPDATE data_sources SET uid = COALESCE(NULLIF(?, ''), uid), name = ?, type = COALESCE(NULLIF(?, ''), type),
	url = ?, env = ?, site = ?, basic_auth_user = ?, secrets = ?, headers = ` + d.headersParam + `, timeout_ns = ? WHERE id = ?`,
		dataSourceByID:   `SELECT ` + dataSourceCols + ` FROM data_sources WHERE id = ?`,
		dataSourceByUID:  `SELECT ` + dataSourceCols + ` FROM data_sources WHERE uid = ?`,
		listDataSources:  `SELECT ` + dataSourceCols + ` FROM data_sources ORDER BY id`,
		deleteDataSource: `DELETE FROM data_sources WHERE id = ?`,

		insertAudit:    `INSERT INTO audit_log(at, actor, action, target, detail, remote_addr) VALUES (?, ?, ?, ?, ?, ?)`,
		listAudit:      `SELECT ` + auditCols + ` FROM audit_log ORDER BY id DESC`,
		listAuditLimit: `SELECT ` + auditCols + ` FROM audit_log ORDER BY id DESC LIMIT ?`,
	}
	for _, p := range []*string{
		&q.insertUser, &q.userByID, &q.userByLogin, &q.setRole, &q.setDisabled, &q.setPassword, &q.lockUser, &q.deleteUser,
		&q.deleteUserCredentials, &q.insertCredential, &q.credentialByKey, &q.credentialByID, &q.revokeCredential, &q.touchCredential,
		&q.insertSession, &q.getSession, &q.deleteSession, &q.deleteUserSessions, &q.deleteExpiredSessions,
		&q.insertDataSource, &q.updateDataSource, &q.dataSourceByID, &q.dataSourceByUID, &q.deleteDataSource,
		&q.insertAudit, &q.listAuditLimit,
	} {
		*p = d.rebind(*p)
	}
	return q
}
