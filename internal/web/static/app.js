// promgate's pages. Each page is a server-rendered shell; this script fills
// it from the JSON API under /api-server/v1/ with fetch. Text always goes in
// through textContent, never parsed as markup, and state-changing calls carry the
// session's CSRF token in X-CSRF-Token. A new credential's token is held
// only in this script's memory and the one panel that shows it.
'use strict';
(function () {
  const API = '/api-server/v1';
  const GRAFANA_DS = API + '/grafana/api/datasources';
  const MAX_SERIES_DRAWN = 50;
  const MAX_ROWS_SHOWN = 2000;

  class ApiError extends Error {
    constructor(status, type, message) {
      super(message);
      this.status = status;
      this.type = type;
    }
  }

  // --- small DOM helpers ---

  function $(sel, root) { return (root || document).querySelector(sel); }
  function $$(sel, root) { return Array.from((root || document).querySelectorAll(sel)); }

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  // say puts a message in an alert box, or hides it when msg is empty.
  function say(box, msg, kind) {
    if (!box) return;
    box.textContent = msg || '';
    box.hidden = !msg;
    if (kind) {
      box.classList.remove('ok', 'error', 'info', 'warn');
      box.classList.add(kind);
    }
  }

  // describe turns an API error into words, as the API gave them.
  function describe(err) {
    if (!(err instanceof ApiError)) return 'Something went wrong in this page: ' + (err && err.message ? err.message : String(err));
    if (err.status === 0) return err.message;
    const what = { 401: 'Not logged in', 403: 'Not allowed', 404: 'Not found', 409: 'Conflict', 422: 'Cannot run', 429: 'Too many requests', 503: 'Unavailable', 504: 'Timed out' }[err.status];
    let head = 'Error ' + err.status + (err.type ? ' ' + err.type : '');
    if (what) head += ' (' + what + ')';
    return head + ': ' + err.message;
  }

  // api calls the JSON API. It returns the "data" member of a success
  // envelope (or the whole body when raw or when there is no envelope).
  async function api(ctx, method, path, body, raw) {
    // X-Requested-With asks for a 401 without the basic-auth challenge, so
    // the browser shows no password dialog (and fetch does not wait on one).
    const headers = { Accept: 'application/json', 'X-Requested-With': 'XMLHttpRequest' };
    const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    if (method !== 'GET' && method !== 'HEAD' && ctx && ctx.csrf) headers['X-CSRF-Token'] = ctx.csrf;
    let res;
    try {
      res = await fetch(path, init);
    } catch (e) {
      throw new ApiError(0, 'network', 'Could not reach promgate (' + e.message + '). Is the server running?');
    }
    const text = await res.text();
    let payload;
    try { payload = text ? JSON.parse(text) : undefined; } catch (_) { payload = undefined; }
    if (!res.ok || (payload && payload.status === 'error')) {
      let msg = payload && payload.error ? payload.error : (text.trim().slice(0, 500) || res.statusText || 'request failed');
      if (res.status === 429) {
        const ra = res.headers.get('Retry-After');
        if (ra) msg += ' Try again in ' + ra + ' seconds.';
      }
      if (res.status === 401 && ctx && ctx.redirectOn401) toLogin();
      throw new ApiError(res.status, (payload && payload.errorType) || '', msg);
    }
    if (raw) return payload;
    return payload && !Array.isArray(payload) && typeof payload === 'object' && 'data' in payload ? payload.data : payload;
  }

  function toLogin() {
    location.assign('/login?next=' + encodeURIComponent(location.pathname + location.search));
  }

  // nextPath is where to go after login: only a page of this origin, so a
  // crafted link cannot send a fresh session's user elsewhere. A pattern on
  // the raw string is not enough: navigation drops tabs and newlines and
  // reads \ as /, so "/<tab>/evil.example" is "//evil.example". The
  // browser's own URL parser resolves it here, the origin must stay this
  // one, and the absolute URL it built is what is followed (its path may
  // begin with "//", which as a bare string would name a host). Paths the
  // server refuses as non-canonical ("//", encoded / or \) go to Explore.
  function nextPath() {
    const fallback = '/explore';
    const n = new URLSearchParams(location.search).get('next') || '';
    if (n[0] !== '/') return fallback;
    let u;
    try { u = new URL(n, location.origin); } catch (_) { return fallback; }
    if (u.origin !== location.origin) return fallback;
    if (u.pathname === '/login' || u.pathname.startsWith('/login/')) return fallback;
    if (/\/\/|%2f|%5c/i.test(u.pathname)) return fallback;
    return u.href;
  }

  function can(ctx, perm) { return !!(ctx.me && ctx.me.permissions && ctx.me.permissions.includes(perm)); }

  // fmtTime shows a time compactly in the browser's zone; the full value
  // is in the title.
  function fmtTime(iso) {
    const d = new Date(iso);
    if (isNaN(d.getTime())) return String(iso);
    return fmtTs(d.getTime() / 1000).slice(0, 16);
  }

  function timeCell(iso, none, extra) {
    if (!iso) return el('td', {}, none);
    return el('td', {}, el('time', { datetime: iso, title: iso }, fmtTime(iso)), extra || null);
  }

  function busy(button, on) {
    button.disabled = on;
    button.setAttribute('aria-busy', on ? 'true' : 'false');
  }

  // --- copy to clipboard ---

  function copyIcon() {
    const ns = 'http://www.w3.org/2000/svg';
    const svg = document.createElementNS(ns, 'svg');
    svg.setAttribute('viewBox', '0 0 24 24');
    svg.setAttribute('width', '18');
    svg.setAttribute('height', '18');
    svg.setAttribute('aria-hidden', 'true');
    svg.setAttribute('focusable', 'false');
    const p = document.createElementNS(ns, 'path');
    p.setAttribute('d', 'M16 1H4a2 2 0 0 0-2 2v14h2V3h12V1zm3 4H8a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h11a2 2 0 0 0 2-2V7a2 2 0 0 0-2-2zm0 16H8V7h11v14z');
    p.setAttribute('fill', 'currentColor');
    svg.append(p);
    return svg;
  }

  async function copyText(text) {
    try {
      if (navigator.clipboard && window.isSecureContext) {
        await navigator.clipboard.writeText(text);
        return true;
      }
    } catch (_) { /* fall back below */ }
    // Plain http on a non-local host has no clipboard API: copy a selection.
    const ta = el('textarea', { readonly: true, class: 'offscreen', 'aria-hidden': 'true' });
    ta.value = text;
    document.body.append(ta);
    ta.select();
    let ok = false;
    try { ok = document.execCommand('copy'); } catch (_) { ok = false; }
    ta.remove();
    return ok;
  }

  // copyButton copies getText() and says so in a live region beside it.
  function copyButton(getText, label) {
    const note = el('span', { class: 'copy-note', role: 'status' });
    const b = el('button', { type: 'button', class: 'btn icon copy', 'aria-label': label, title: label }, copyIcon());
    b.addEventListener('click', async () => {
      const ok = await copyText(getText());
      note.textContent = ok ? 'Copied' : 'Copy failed: select the text and press Ctrl+C';
      setTimeout(() => { note.textContent = ''; }, 2500);
    });
    return [b, note];
  }

  // --- confirmation dialog ---

  function confirmDialog(title, text, okLabel) {
    const d = $('#confirm-dialog');
    $('#confirm-title').textContent = title;
    $('#confirm-text').textContent = text;
    $('#confirm-ok').textContent = okLabel;
    d.returnValue = '';
    return new Promise((resolve) => {
      const onClose = () => {
        // The close event is queued: one from the previous use can arrive
        // after the dialog is open again. Only a closed dialog answers.
        if (d.open) return;
        d.removeEventListener('close', onClose);
        resolve(d.returnValue === 'ok');
      };
      d.addEventListener('close', onClose);
      d.showModal();
      $('#confirm-cancel').focus(); // the safe choice is the default
    });
  }

  // --- page frame ---

  function pageError(msg) { say($('#page-error'), msg); }
  function pageStatus(msg) { say($('#page-status'), msg); }

  function initHeader(ctx) {
    const me = ctx.me;
    const name = me.login || me.credentialName || me.credentialKey || 'unknown';
    $('#user-name').textContent = name;
    $('#user-role').textContent = me.role;
    $('#user-avatar').textContent = name.slice(0, 2).toUpperCase();
    $('#who').hidden = false;
    for (const e of $$('[data-perm]')) e.hidden = !can(ctx, e.dataset.perm);
    $('#logout').addEventListener('click', async (ev) => {
      busy(ev.currentTarget, true);
      try {
        const out = await api(ctx, 'POST', API + '/logout');
        // A user of an OpenID provider is offered to sign out there too:
        // the login page shows the link. Kept in sessionStorage, never in
        // the URL, so nobody can hand the page a link of their own.
        if (out && out.endSessionUrl) sessionStorage.setItem('promgate.endSession', out.endSessionUrl);
        location.assign('/login');
      } catch (e) {
        busy(ev.currentTarget, false);
        pageError('Could not log out. ' + describe(e));
      }
    });
  }

  // --- login ---

  async function initLogin() {
    try {
      await api(null, 'GET', API + '/me');
      location.replace(nextPath()); // already logged in
      return;
    } catch (_) { /* not logged in: show the form */ }
    const endSession = sessionStorage.getItem('promgate.endSession');
    if (endSession) {
      sessionStorage.removeItem('promgate.endSession');
      const link = $('#end-session');
      link.href = endSession;
      link.parentElement.hidden = false;
    }
    const form = $('#login-form');
    const errBox = $('#login-error');
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const login = $('#login').value.trim();
      const password = $('#password').value;
      if (!login || !password) {
        say(errBox, 'Enter your login and password.');
        (login ? $('#password') : $('#login')).focus();
        return;
      }
      const btn = $('#login-submit');
      busy(btn, true);
      say(errBox, '');
      try {
        await api(null, 'POST', API + '/login', { login, password });
        location.assign(nextPath());
      } catch (e) {
        busy(btn, false);
        say(errBox, e.status === 401 ? 'Invalid login or password.' : describe(e));
        $('#password').select();
      }
    });
    document.body.dataset.ready = 'true';
  }

  // --- API credentials (own and global) ---

  async function initCredentials(ctx, global) {
    const manage = can(ctx, global ? 'manage_global_credentials' : 'manage_own_credentials');
    if (!manage) {
      // Nothing to create and no endpoint URLs: take the sections out.
      $('#cred-manage').remove();
      $('#cred-hint').remove();
      $('#endpoints-card').remove();
      $('#cred-list-card').remove();
      if (global) {
        pageError('Global API credentials are managed by OWNERs; your role is ' + ctx.me.role + '.');
      } else {
        $('#cred-viewer-note').hidden = false;
      }
      return;
    }
    $('#cred-manage').hidden = false;
    $('#cred-list-card').hidden = false;
    const base = API + (global ? '/global-credentials' : '/credentials');
    let endpoints = [];
    if (can(ctx, 'view_endpoints')) {
      try {
        endpoints = await api(ctx, 'GET', API + '/endpoints');
        renderEndpoints(endpoints);
      } catch (e) {
        pageError('Could not load the query endpoints. ' + describe(e));
      }
    }
    fillDataSourceChecks(endpoints);
    wireCreateForm(ctx, base, global, endpoints);
    await loadCredentials(ctx, base, global, endpoints);
  }

  function renderEndpoints(endpoints) {
    const box = $('#endpoints');
    box.replaceChildren();
    if (!endpoints.length) {
      box.append(el('p', { class: 'empty' }, 'No data sources you may query.'));
    }
    for (const ep of endpoints) {
      const where = ['data source ' + ep.id, ep.env ? 'env ' + ep.env : '', ep.site ? 'site ' + ep.site : ''].filter(Boolean).join(', ');
      box.append(el('div', { class: 'endpoint-group' },
        el('h3', {}, ep.name, ' ', el('span', { class: 'muted' }, '(' + where + ')')),
        endpointBox('Instant', ep.instantUrl, ep),
        endpointBox('Range', ep.rangeUrl, ep),
        // remote_write URL, for data sources that take writes (a credential with the write scope).
        ep.writeUrl ? endpointBox('remote_write', ep.writeUrl, ep) : null));
    }
    $('#endpoints-card').hidden = false;
  }

  function endpointBox(kind, url, ep) {
    const id = 'ep-' + ep.id + '-' + kind.toLowerCase();
    return el('div', { class: 'endpoint' },
      el('div', { class: 'ep-label', id: id + '-label' }, kind + ':'),
      el('div', { class: 'ep-box' },
        el('code', { id, class: 'ep-url', 'aria-labelledby': id + '-label ' + id }, url),
        copyButton(() => url, 'Copy ' + (kind === 'remote_write' ? 'remote_write' : kind.toLowerCase() + ' query') + ' URL of ' + ep.name)));
  }

  function fillDataSourceChecks(endpoints) {
    const list = $('#cred-ds-list');
    list.replaceChildren();
    if (!endpoints.length) {
      $('#cred-ds-field').hidden = true;
      return;
    }
    for (const ep of endpoints) {
      const id = 'cred-ds-' + ep.id;
      list.append(el('label', { for: id, class: 'check' },
        el('input', { type: 'checkbox', id, value: ep.id, name: 'dataSourceIds' }),
        ' ' + ep.name + ' (' + ep.id + ')'));
    }
  }

  function wireCreateForm(ctx, base, global, endpoints) {
    const form = $('#create-form');
    const open = $('#create-open');
    const errBox = $('#create-error');
    const expiry = $('#cred-expiry');
    // The form has its own Create and Cancel buttons: "Create new" goes
    // away while it is open.
    const setOpen = (on) => {
      form.hidden = !on;
      open.hidden = on;
      open.setAttribute('aria-expanded', on ? 'true' : 'false');
      if (on) $('#cred-name').focus();
    };
    open.addEventListener('click', () => {
      hideNewToken();
      setOpen(form.hidden);
    });
    $('#create-cancel').addEventListener('click', () => {
      form.reset();
      say(errBox, '');
      $('#cred-expiry-date-field').hidden = true;
      setOpen(false);
      open.focus();
    });
    expiry.addEventListener('change', () => {
      $('#cred-expiry-date-field').hidden = expiry.value !== 'date';
    });
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      say(errBox, '');
      const name = $('#cred-name').value.trim();
      if (!name) {
        say(errBox, 'Give the credential a name.');
        $('#cred-name').focus();
        return;
      }
      const body = { name, scope: $('#cred-scope').value };
      if (global) body.role = $('#cred-role').value;
      if (expiry.value === 'date') {
        const d = $('#cred-expiry-date').value;
        if (!d) {
          say(errBox, 'Choose the expiry date, or pick another expiry.');
          $('#cred-expiry-date').focus();
          return;
        }
        // The end of that day, in the browser's time zone.
        body.expiresAt = new Date(d + 'T23:59:59').toISOString();
      } else if (expiry.value) {
        body.expiresIn = expiry.value;
      }
      const ids = $$('#cred-ds-list input:checked').map((c) => Number(c.value));
      if (ids.length) body.dataSourceIds = ids;
      const sel = $('#cred-selector').value.trim();
      if (sel) body.selector = sel;
      const btn = $('#create-submit');
      busy(btn, true);
      try {
        const cred = await api(ctx, 'POST', base, body);
        form.reset();
        $('#cred-expiry-date-field').hidden = true;
        setOpen(false);
        showNewToken(cred, endpoints);
        await loadCredentials(ctx, base, global, endpoints);
      } catch (e) {
        say(errBox, 'Could not create the credential. ' + describe(e));
      } finally {
        busy(btn, false);
      }
    });
    // Leaving the page drops the token, also if the browser keeps the page.
    window.addEventListener('pagehide', hideNewToken);
    $('#new-token-done').addEventListener('click', () => {
      hideNewToken();
      open.focus();
    });
  }

  // tryIt is a ready-to-paste command using the new credential.
  function tryIt(cred, endpoints) {
    const dsID = cred.dataSourceIds && cred.dataSourceIds.length ? cred.dataSourceIds[0] : 1;
    const ep = endpoints.find((e) => e.id === dsID) || endpoints[0];
    const withAuth = (url) => url.replace(/^(https?:\/\/)/, '$1' + cred.key + ':' + cred.token + '@');
    if (cred.scope && !cred.scope.split(',').includes('read')) {
      return 'remote_write:\n  - url: ' + location.origin + '/api/v1/write\n    basic_auth:\n      username: ' + cred.key + '\n      password: ' + cred.token;
    }
    const instant = ep ? ep.instantUrl : location.origin + GRAFANA_DS + '/proxy/' + dsID + '/api/v1/query';
    return 'curl "' + withAuth(instant) + '?query=up"';
  }

  function showNewToken(cred, endpoints) {
    const box = $('#new-token');
    $('#new-token-title').textContent = 'Credential “' + cred.name + '” created';
    $('#new-key').value = cred.key;
    $('#new-token-value').value = cred.token;
    $('#new-curl').value = tryIt(cred, endpoints);
    for (const id of ['new-key', 'new-token-value', 'new-curl']) {
      const row = $('#' + id).parentElement;
      for (const old of $$('.copy, .copy-note', row)) old.remove();
      const label = { 'new-key': 'Copy key', 'new-token-value': 'Copy token', 'new-curl': 'Copy command' }[id];
      row.append(...copyButton(() => $('#' + id).value, label));
    }
    box.hidden = false;
    box.focus();
  }

  // hideNewToken drops the token from the page for good.
  function hideNewToken() {
    for (const id of ['new-key', 'new-token-value', 'new-curl']) $('#' + id).value = '';
    $('#new-token').hidden = true;
  }

  async function loadCredentials(ctx, base, global, endpoints) {
    const errBox = $('#cred-list-error');
    let creds;
    try {
      creds = await api(ctx, 'GET', base);
      say(errBox, '');
    } catch (e) {
      say(errBox, 'Could not load the credentials. ' + describe(e));
      return;
    }
    const table = $('#cred-table');
    const tbody = $('tbody', table);
    tbody.replaceChildren();
    $('#cred-empty').hidden = creds.length > 0;
    table.hidden = creds.length === 0;
    const dsName = (id) => {
      const ep = endpoints.find((e) => e.id === id);
      return ep ? ep.name + ' (' + id + ')' : String(id);
    };
    const now = Date.now();
    for (const c of creds) {
      const expired = c.expiresAt && new Date(c.expiresAt).getTime() <= now;
      const revoke = el('button', { type: 'button', class: 'btn danger small', 'aria-label': 'Revoke credential ' + c.name }, 'Revoke');
      revoke.addEventListener('click', async () => {
        const ok = await confirmDialog('Revoke credential?',
          'Revoke “' + c.name + '” (' + c.key + ')? Every program using it is refused from its next request. This cannot be undone.',
          'Revoke');
        if (!ok) return;
        try {
          await api(ctx, 'DELETE', base + '/' + c.id);
          pageStatus('Credential “' + c.name + '” revoked.');
          await loadCredentials(ctx, base, global, endpoints);
          $('#create-open').focus();
        } catch (e) {
          pageError('Could not revoke “' + c.name + '”. ' + describe(e));
        }
      });
      tbody.append(el('tr', { 'data-key': c.key },
        el('td', {}, c.name),
        el('td', {}, el('code', {}, c.key)),
        global ? el('td', {}, el('span', { class: 'role' }, c.role)) : null,
        timeCell(c.createdAt, '—', c.createdBy ? el('span', { class: 'muted block' }, 'by ' + c.createdBy) : null),
        timeCell(c.lastUsedAt, 'never'),
        timeCell(c.expiresAt, 'never', expired ? el('span', { class: 'badge bad' }, 'expired') : null),
        // Scope, data sources and selector in one cell keep the table narrow.
        el('td', { class: 'limits' },
          el('span', { class: 'nowrap' }, c.scope),
          el('span', { class: 'block' }, c.dataSourceIds && c.dataSourceIds.length ? 'data sources ' + c.dataSourceIds.map(dsName).join(', ') : 'all data sources'),
          c.selector ? el('code', { class: 'wrap block' }, c.selector) : null),
        el('td', { class: 'actions-cell' }, revoke)));
    }
  }

  // --- User Directory ---

  async function initUsers(ctx) {
    if (!can(ctx, 'list_users')) {
      pageError('The User Directory needs the EDITOR role; your role is ' + ctx.me.role + '.');
      for (const s of $$('main section')) s.remove();
      return;
    }
    const owner = can(ctx, 'manage_users');
    $('#users-manage').hidden = !owner;
    $('#users-editor-note').hidden = owner;
    for (const th of $$('.owner-only')) th.hidden = !owner;
    if (owner) wireUserForm(ctx);
    await loadUsers(ctx, owner);
  }

  function wireUserForm(ctx) {
    const form = $('#user-form');
    const open = $('#user-add-open');
    const errBox = $('#user-form-error');
    const setOpen = (on) => {
      form.hidden = !on;
      open.hidden = on; // the form has its own Add user and Cancel
      open.setAttribute('aria-expanded', on ? 'true' : 'false');
      if (on) $('#user-login').focus();
    };
    open.addEventListener('click', () => setOpen(form.hidden));
    $('#user-cancel').addEventListener('click', () => {
      form.reset();
      say(errBox, '');
      setOpen(false);
      open.focus();
    });
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const login = $('#user-login').value.trim();
      const password = $('#user-password').value;
      if (!login) {
        say(errBox, 'Give the new user a login.');
        $('#user-login').focus();
        return;
      }
      if (password.length < 8) {
        say(errBox, 'The password needs at least 8 characters.');
        $('#user-password').focus();
        return;
      }
      const btn = $('#user-submit');
      busy(btn, true);
      try {
        const u = await api(ctx, 'POST', API + '/users', { login, password, role: $('#user-role').value });
        form.reset();
        say(errBox, '');
        setOpen(false);
        pageStatus('Added user “' + u.login + '” as ' + u.role + '.');
        await loadUsers(ctx, true);
      } catch (e) {
        say(errBox, 'Could not add the user. ' + describe(e));
      } finally {
        busy(btn, false);
      }
    });
  }

  async function loadUsers(ctx, owner) {
    const errBox = $('#users-error');
    let users;
    try {
      users = await api(ctx, 'GET', API + '/users');
      say(errBox, '');
    } catch (e) {
      say(errBox, 'Could not load the users. ' + describe(e));
      return;
    }
    const table = $('#users-table');
    const tbody = $('tbody', table);
    tbody.replaceChildren();
    $('#users-empty').hidden = users.length > 0;
    table.hidden = users.length === 0;
    for (const u of users) {
      const self = u.id === ctx.me.userId;
      const patch = async (body, done) => {
        try {
          await api(ctx, 'PATCH', API + '/users/' + u.id, body);
          if (self) {
            location.reload(); // our own rights changed
            return;
          }
          pageStatus(done);
          await loadUsers(ctx, owner);
        } catch (e) {
          pageError('Could not change “' + u.login + '”. ' + describe(e));
        }
      };
      let roleCell = el('td', {}, el('span', { class: 'role' }, u.role));
      let actions = null;
      if (owner) {
        const selID = 'role-of-' + u.id;
        const sel = el('select', { id: selID, 'aria-label': 'Role of ' + u.login },
          ['VIEWER', 'EDITOR', 'OWNER'].map((r) => el('option', { value: r, selected: r === u.role }, r)));
        const save = el('button', { type: 'button', class: 'btn small', 'aria-label': 'Change role of ' + u.login }, 'Change role');
        save.addEventListener('click', async () => {
          if (sel.value === u.role) {
            pageStatus(u.login + ' already has the role ' + u.role + '.');
            return;
          }
          if (self && !(await confirmDialog('Change your own role?', 'You are about to make yourself ' + sel.value + '. You may lose access to this page.', 'Change my role'))) return;
          await patch({ role: sel.value }, 'Role of “' + u.login + '” is now ' + sel.value + '.');
        });
        roleCell = el('td', {}, el('div', { class: 'inline' }, sel, save));
        const toggle = el('button', { type: 'button', class: 'btn small', 'aria-label': (u.disabled ? 'Enable ' : 'Disable ') + u.login }, u.disabled ? 'Enable' : 'Disable');
        toggle.addEventListener('click', async () => {
          if (!u.disabled && !(await confirmDialog('Disable user?', 'Disable “' + u.login + '”? Their sessions and API credentials stop working from the next request.', 'Disable'))) return;
          await patch({ disabled: !u.disabled }, '“' + u.login + '” is now ' + (u.disabled ? 'enabled' : 'disabled') + '.');
        });
        const del = el('button', { type: 'button', class: 'btn danger small', 'aria-label': 'Delete ' + u.login }, 'Delete');
        del.addEventListener('click', async () => {
          if (!(await confirmDialog('Delete user?', 'Delete “' + u.login + '”? Their API credentials stop working at once. This cannot be undone.', 'Delete'))) return;
          try {
            await api(ctx, 'DELETE', API + '/users/' + u.id);
            pageStatus('Deleted user “' + u.login + '”.');
            await loadUsers(ctx, owner);
          } catch (e) {
            pageError('Could not delete “' + u.login + '”. ' + describe(e));
          }
        });
        actions = el('td', { class: 'actions-cell' }, toggle, ' ', del);
      }
      tbody.append(el('tr', { 'data-login': u.login },
        el('td', {}, u.login, self ? el('span', { class: 'muted' }, ' (you)') : null),
        roleCell,
        el('td', {}, u.disabled ? el('span', { class: 'badge bad solo' }, 'disabled') : el('span', { class: 'badge good solo' }, 'active')),
        el('td', { class: 'provider' }, u.provider ? u.provider : 'password'),
        timeCell(u.createdAt, '—'),
        actions));
    }
  }

  // --- Data Sources ---

  // listDataSources prefers the data source API; servers without it still
  // answer the Grafana-shaped list.
  async function listDataSources(ctx) {
    try {
      return { managed: true, list: await api(ctx, 'GET', API + '/datasources') };
    } catch (e) {
      if (e.status !== 404) throw e;
    }
    const g = await api(ctx, 'GET', GRAFANA_DS);
    return {
      managed: false,
      list: g.map((d) => ({
        id: d.id, uid: d.uid, name: d.name, type: d.type, embedded: !!d.isDefault,
        env: (d.jsonData && d.jsonData.env) || '', site: (d.jsonData && d.jsonData.site) || '',
      })),
    };
  }

  async function initDataSources(ctx) {
    const owner = can(ctx, 'manage_data_sources');
    $('#ds-forbidden').hidden = owner;
    const managed = await loadDataSources(ctx, owner);
    if (owner && managed) {
      $('#ds-manage').hidden = false;
      wireDataSourceForm(ctx);
    } else if (owner) {
      $('#ds-readonly-note').hidden = false;
    }
  }

  function authText(d) {
    const parts = [];
    if (d.basicAuthUser) parts.push('basic auth as ' + d.basicAuthUser + (d.hasBasicAuthPassword ? ', password set' : ', no password'));
    if (d.hasBearerToken) parts.push('bearer token set');
    if (d.oauth2ClientId) parts.push('OAuth2 as ' + d.oauth2ClientId + (d.hasOAuth2ClientSecret ? ', secret set' : ', no secret'));
    if (d.tlsClientCert) parts.push('TLS client certificate' + (d.hasTLSClientKey ? '' : ' without key'));
    if (d.tlsCACert) parts.push('own CA');
    if (d.tlsSkipVerify) parts.push('TLS not verified');
    if (d.proxyUrl) parts.push('via proxy');
    if (d.headers && Object.keys(d.headers).length) parts.push(Object.keys(d.headers).length + ' extra header(s)');
    if (d.embedded) return 'built in';
    return parts.length ? parts.join('; ') : 'none';
  }

  async function loadDataSources(ctx, owner) {
    const errBox = $('#ds-error');
    let res;
    try {
      res = await listDataSources(ctx);
      say(errBox, '');
    } catch (e) {
      say(errBox, 'Could not load the data sources. ' + describe(e));
      return false;
    }
    const table = $('#ds-table');
    const tbody = $('tbody', table);
    tbody.replaceChildren();
    $('#ds-empty').hidden = res.list.length > 0;
    table.hidden = res.list.length === 0;
    for (const d of res.list) {
      const actions = el('td', { class: 'actions-cell' });
      if (owner && res.managed) {
        const test = el('button', { type: 'button', class: 'btn small', 'aria-label': 'Test connection of ' + d.name }, 'Test');
        test.addEventListener('click', async () => {
          busy(test, true);
          try {
            const r = await api(ctx, 'POST', API + '/datasources/' + d.id + '/test');
            say($('#ds-status'), d.name + ': ' + testText(r), r.ok ? 'ok' : 'error');
          } catch (e) {
            say($('#ds-status'), d.name + ': ' + describe(e), 'error');
          } finally {
            busy(test, false);
          }
        });
        actions.append(test);
        if (!d.embedded) {
          const edit = el('button', { type: 'button', class: 'btn small', 'aria-label': 'Edit data source ' + d.name, 'aria-controls': 'ds-form', 'data-edit': d.id }, 'Edit');
          edit.addEventListener('click', () => { if (ctx.editDataSource) ctx.editDataSource(d.id, edit); });
          actions.append(' ', edit);
        }
        if (!d.embedded) {
          const del = el('button', { type: 'button', class: 'btn danger small', 'aria-label': 'Delete data source ' + d.name }, 'Delete');
          del.addEventListener('click', async () => {
            if (!(await confirmDialog('Delete data source?', 'Delete “' + d.name + '” (data source ' + d.id + ')? Queries and credentials that use it stop working.', 'Delete'))) return;
            try {
              await api(ctx, 'DELETE', API + '/datasources/' + d.id);
              say($('#ds-status'), 'Deleted data source “' + d.name + '”.', 'ok');
              await loadDataSources(ctx, owner);
            } catch (e) {
              say($('#ds-status'), 'Could not delete “' + d.name + '”. ' + describe(e), 'error');
            }
          });
          actions.append(' ', del);
        }
      }
      tbody.append(el('tr', { 'data-id': d.id },
        el('td', {}, String(d.id)),
        el('td', { class: 'nowrap' }, d.name, d.embedded ? el('span', { class: 'badge good' }, 'embedded') : null,
          d.problem ? el('span', { class: 'badge bad block' }, d.problem) : null),
        el('td', {}, d.embedded ? 'built in' : d.url ? el('code', { class: 'wrap' }, d.url) : '—',
          d.writeUrl ? el('span', { class: 'block' }, 'remote_write: ', el('code', { class: 'wrap' }, d.writeUrl)) : null),
        el('td', {}, d.env || '—'),
        el('td', {}, d.site || '—'),
        el('td', {}, authText(d)),
        el('td', {}, cacheText(d)),
        actions));
    }
    return res.managed;
  }

  // cacheText says how the query cache treats a data source (only OWNERs'
  // lists carry the settings of remote ones).
  function cacheText(d) {
    if (!d.cache) return '—';
    if (d.cache.disabled) return 'off';
    return d.cache.noStepAlign ? 'on, not step-aligned' : 'on, step-aligned';
  }

  function testText(r) {
    const extra = [r.version ? 'version ' + r.version : '', r.httpStatus ? 'HTTP ' + r.httpStatus : '', r.durationMs ? Math.round(r.durationMs) + ' ms' : ''].filter(Boolean).join(', ');
    return (r.ok ? '' : 'Test failed: ') + (r.message || (r.ok ? 'Data source is working' : 'no details')) + (extra ? ' (' + extra + ')' : '');
  }

  // dataSourceInput reads the form into the API's input shape; it throws
  // an Error with words for bad input. editing is the stored data source's
  // view when the form edits one: then an empty password or token field
  // is left out of the body, so the server keeps the stored secret, and
  // the secret of an auth kind no longer chosen is removed with "".
  function dataSourceInput(editing) {
    const v = (id) => $('#' + id).value.trim();
    const body = { name: v('ds-name'), url: v('ds-url'), writeUrl: v('ds-write-url'), env: v('ds-env'), site: v('ds-site') };
    if (!body.name) throw new Error('Give the data source a name.');
    if (!/^https?:\/\/./.test(body.url)) throw new Error('The URL must start with http:// or https://.');
    if (body.writeUrl && !/^https?:\/\/./.test(body.writeUrl)) throw new Error('The remote_write URL must start with http:// or https://.');
    if (!body.env) throw new Error('Env is required (for example dev, stage or prod).');
    const auth = $('#ds-auth').value;
    if (auth === 'basic') {
      body.basicAuthUser = v('ds-user');
      if (!body.basicAuthUser) throw new Error('Give the basic auth user.');
      const pw = $('#ds-password').value;
      if (!editing) body.basicAuthPassword = pw;
      else if ($('#ds-password-remove').checked) body.basicAuthPassword = '';
      else if (pw) body.basicAuthPassword = pw;
      else if (editing.problem && editing.hasBasicAuthPassword) throw new Error('The stored password cannot be read by this server: type it again, or tick “Remove the stored password”.');
      if (editing) body.bearerToken = '';
    } else if (auth === 'bearer') {
      const tok = $('#ds-token').value;
      if (tok) body.bearerToken = tok;
      else if (!(editing && editing.hasBearerToken && !editing.problem)) throw new Error('Give the bearer token.');
      if (editing) body.basicAuthPassword = '';
    } else if (auth === 'oauth2') {
      body.oauth2ClientId = v('ds-oauth2-id');
      body.oauth2TokenUrl = v('ds-oauth2-url');
      if (!body.oauth2ClientId || !body.oauth2TokenUrl) throw new Error('Give the OAuth2 client ID and token URL.');
      const scopes = v('ds-oauth2-scopes').split(/\s+/).filter(Boolean);
      if (scopes.length) body.oauth2Scopes = scopes;
      const sec = $('#ds-oauth2-secret').value;
      if (sec) body.oauth2ClientSecret = sec;
      else if (!(editing && editing.hasOAuth2ClientSecret && !editing.problem)) throw new Error('Give the OAuth2 client secret.');
      if (editing) { body.basicAuthPassword = ''; body.bearerToken = ''; }
    } else if (editing) {
      body.basicAuthPassword = '';
      body.bearerToken = '';
    }
    // TLS: certificates are shown and sent back as they are; an empty key
    // field keeps the stored key unless the client certificate is removed.
    body.tlsCACert = $('#ds-tls-ca').value.trim();
    body.tlsClientCert = $('#ds-tls-cert').value.trim();
    const key = $('#ds-tls-key').value.trim();
    if (key) body.tlsClientKey = key;
    else if (body.tlsClientCert && !(editing && editing.hasTLSClientKey && !editing.problem)) throw new Error('Give the client key of the client certificate.');
    body.tlsServerName = v('ds-tls-server-name');
    body.tlsSkipVerify = $('#ds-tls-skip-verify').checked;
    body.proxyUrl = v('ds-proxy');
    body.cacheDisabled = !$('#ds-cache').checked;
    body.noStepAlign = !$('#ds-cache-align').checked;
    const headers = {};
    for (const line of $('#ds-headers').value.split('\n')) {
      if (!line.trim()) continue;
      const i = line.indexOf(':');
      if (i <= 0) throw new Error('Each header line needs the form “Name: value”: ' + line.trim());
      headers[line.slice(0, i).trim()] = line.slice(i + 1).trim();
    }
    if (Object.keys(headers).length) body.headers = headers;
    const t = v('ds-timeout');
    if (t) {
      body.timeoutSeconds = Number(t);
      if (!(body.timeoutSeconds >= 1)) throw new Error('The timeout must be a number of seconds, 1 or more.');
    }
    return body;
  }

  function wireDataSourceForm(ctx) {
    const form = $('#ds-form');
    const open = $('#ds-add-open');
    const errBox = $('#ds-form-error');
    const statusBox = $('#ds-form-status');
    const authSel = $('#ds-auth');
    const pwRemove = $('#ds-password-remove');
    // editing is the data source being edited (its API view, which holds
    // no secret), or null when the form adds a new one; opener is the
    // button that opened the form, where focus goes back to.
    let editing = null;
    let opener = open;
    const syncAuth = () => {
      for (const f of $$('[data-auth]', form)) f.hidden = f.dataset.auth !== authSel.value;
    };
    const syncSecrets = () => {
      const pwSet = !!(editing && editing.hasBasicAuthPassword);
      const tokSet = !!(editing && editing.hasBearerToken);
      const broken = !!(editing && editing.problem);
      let pwHint = '';
      if (pwSet && broken) pwHint = 'A password is stored but this server cannot read it: type it again, or remove it.';
      else if (pwSet) pwHint = 'A password is set — leave empty to keep it.';
      say($('#ds-password-hint'), pwHint);
      $('#ds-password-remove-label').hidden = !pwSet;
      if (!pwSet) pwRemove.checked = false;
      const pw = $('#ds-password');
      pw.disabled = pwRemove.checked;
      if (pwRemove.checked) pw.value = '';
      let tokHint = '';
      if (tokSet && broken) tokHint = 'A token is stored but this server cannot read it: type it again, or choose Authentication: None.';
      else if (tokSet) tokHint = 'A token is set — leave empty to keep it; choose Authentication: None to remove it.';
      say($('#ds-token-hint'), tokHint);
      say($('#ds-oauth2-secret-hint'), editing && editing.hasOAuth2ClientSecret ? 'A client secret is set — leave empty to keep it.' : '');
      say($('#ds-tls-key-hint'), editing && editing.hasTLSClientKey ? 'A key is set — leave empty to keep it; empty the certificate to remove both.' : 'Stored encrypted and never shown again.');
    };
    authSel.addEventListener('change', syncAuth);
    pwRemove.addEventListener('change', syncSecrets);
    const setMode = (d) => {
      editing = d;
      $('#ds-form-title').textContent = d ? 'Edit data source “' + d.name + '” (id ' + d.id + ')' : 'New Prometheus data source';
      $('#ds-form-hint').hidden = !d;
      $('#ds-submit').textContent = d ? 'Save changes' : 'Save data source';
      form.setAttribute('action', d ? '/datasources/' + d.id : '/datasources');
      syncSecrets();
    };
    const close = () => {
      form.reset(); // drops any typed password or token
      setMode(null);
      syncAuth();
      say(errBox, '');
      say(statusBox, '');
      form.hidden = true;
      open.hidden = false;
      open.setAttribute('aria-expanded', 'false');
    };
    const cancel = () => {
      // The table may have been drawn again since the form opened: then
      // the row's new Edit button takes the focus.
      let back = opener && opener.isConnected ? opener : null;
      if (!back && editing) back = $('#ds-table button[data-edit="' + editing.id + '"]');
      close();
      (back || open).focus();
    };
    open.addEventListener('click', () => {
      if (!form.hidden && !editing) { close(); return; }
      close();
      opener = open;
      form.hidden = false;
      open.hidden = true; // the form has its own Save and Cancel
      open.setAttribute('aria-expanded', 'true');
      $('#ds-name').focus();
    });
    $('#ds-cancel').addEventListener('click', cancel);
    form.addEventListener('keydown', (ev) => {
      if (ev.key === 'Escape' && !ev.defaultPrevented) {
        ev.preventDefault();
        cancel();
      }
    });
    // editDataSource opens the form on a stored data source, filled from
    // the API (which never answers with a password or token).
    ctx.editDataSource = async (id, button) => {
      busy(button, true);
      let d;
      try {
        d = await api(ctx, 'GET', API + '/datasources/' + id);
      } catch (e) {
        say($('#ds-status'), 'Could not load data source ' + id + ' to edit it. ' + describe(e), 'error');
        return;
      } finally {
        busy(button, false);
      }
      close();
      opener = button;
      setMode(d);
      $('#ds-name').value = d.name || '';
      $('#ds-url').value = d.url || '';
      $('#ds-write-url').value = d.writeUrl || '';
      $('#ds-env').value = d.env || '';
      $('#ds-site').value = d.site || '';
      $('#ds-timeout').value = d.timeoutSeconds ? String(d.timeoutSeconds) : '';
      authSel.value = d.oauth2ClientId ? 'oauth2' : d.hasBearerToken ? 'bearer' : (d.basicAuthUser || d.hasBasicAuthPassword) ? 'basic' : 'none';
      $('#ds-user').value = d.basicAuthUser || '';
      $('#ds-oauth2-id').value = d.oauth2ClientId || '';
      $('#ds-oauth2-url').value = d.oauth2TokenUrl || '';
      $('#ds-oauth2-scopes').value = (d.oauth2Scopes || []).join(' ');
      $('#ds-tls-ca').value = d.tlsCACert || '';
      $('#ds-tls-cert').value = d.tlsClientCert || '';
      $('#ds-tls-server-name').value = d.tlsServerName || '';
      $('#ds-tls-skip-verify').checked = !!d.tlsSkipVerify;
      $('#ds-proxy').value = d.proxyUrl || '';
      $('#ds-cache').checked = !(d.cache && d.cache.disabled);
      $('#ds-cache-align').checked = !(d.cache && d.cache.noStepAlign);
      $('#ds-tls').open = !!(d.tlsCACert || d.tlsClientCert || d.tlsServerName || d.tlsSkipVerify || d.proxyUrl);
      $('#ds-headers').value = Object.entries(d.headers || {}).map(([k, v]) => k + ': ' + v).join('\n');
      syncAuth();
      syncSecrets();
      form.hidden = false;
      open.hidden = true;
      $('#ds-name').focus();
    };
    $('#ds-test').addEventListener('click', async (ev) => {
      say(errBox, '');
      say(statusBox, '');
      let body;
      try { body = dataSourceInput(editing); } catch (e) { say(errBox, e.message); return; }
      // With the id, the server tests with the stored secrets the body
      // leaves out.
      if (editing) body.id = editing.id;
      const btn = ev.currentTarget;
      busy(btn, true);
      say(statusBox, 'Testing…', 'info');
      try {
        const r = await api(ctx, 'POST', API + '/datasources/test', body);
        say(statusBox, testText(r), r.ok ? 'ok' : 'error');
      } catch (e) {
        say(statusBox, '');
        say(errBox, 'Could not test. ' + describe(e));
      } finally {
        busy(btn, false);
      }
    });
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      say(errBox, '');
      let body;
      try { body = dataSourceInput(editing); } catch (e) { say(errBox, e.message); return; }
      const btn = $('#ds-submit');
      const was = editing;
      busy(btn, true);
      try {
        const d = was
          ? await api(ctx, 'PUT', API + '/datasources/' + was.id, body)
          : await api(ctx, 'POST', API + '/datasources', body);
        close();
        say($('#ds-status'), (was ? 'Saved data source “' : 'Added data source “') + d.name + '” (id ' + d.id + ').', 'ok');
        await loadDataSources(ctx, true);
        const back = was ? $('#ds-table tr[data-id="' + d.id + '"] button[data-edit]') : null;
        (back || open).focus();
      } catch (e) {
        say(errBox, (was ? 'Could not save the data source. ' : 'Could not add the data source. ') + describe(e));
      } finally {
        busy(btn, false);
      }
    });
  }

  // --- time: one 24-hour format, in UTC or the browser's zone ---

  // The reader picks UTC or the browser's zone on Explore; every page
  // shows times in that zone, as YYYY-MM-DD HH:MM:SS.
  const TZ_KEY = 'promgate.timeZone';

  function storageGet(key) {
    try { return window.localStorage.getItem(key); } catch (_) { return null; }
  }

  function storageSet(key, v) {
    try {
      if (v === null) window.localStorage.removeItem(key);
      else window.localStorage.setItem(key, v);
      return true;
    } catch (_) {
      return false; // storage off or full: the page still works
    }
  }

  function useUTC() { return storageGet(TZ_KEY) === 'utc'; }

  function pad(n, w) { return String(n).padStart(w || 2, '0'); }

  function offsetText(minutesEast) {
    const a = Math.abs(minutesEast);
    return 'UTC' + (minutesEast < 0 ? '-' : '+') + pad(Math.floor(a / 60)) + ':' + pad(a % 60);
  }

  // zoneLabel names the zone times are shown in, with the browser zone's
  // offset at sec (now when not given).
  function zoneLabel(utc, sec) {
    if (utc) return 'UTC';
    const d = sec === undefined ? new Date() : new Date(sec * 1000);
    let name = '';
    try { name = Intl.DateTimeFormat().resolvedOptions().timeZone || ''; } catch (_) { name = ''; }
    const off = offsetText(-d.getTimezoneOffset());
    return name ? name + ' (' + off + ')' : off;
  }

  // zoneTag is the short form beside time inputs: UTC or UTC+05:30.
  function zoneTag(utc) { return utc ? 'UTC' : offsetText(-new Date().getTimezoneOffset()); }

  function timeParts(sec, utc) {
    const d = new Date(sec * 1000);
    return utc
      ? { y: d.getUTCFullYear(), mo: d.getUTCMonth() + 1, d: d.getUTCDate(), h: d.getUTCHours(), mi: d.getUTCMinutes(), s: d.getUTCSeconds(), ms: d.getUTCMilliseconds() }
      : { y: d.getFullYear(), mo: d.getMonth() + 1, d: d.getDate(), h: d.getHours(), mi: d.getMinutes(), s: d.getSeconds(), ms: d.getMilliseconds() };
  }

  // fmtTs shows Unix seconds as YYYY-MM-DD HH:MM:SS(.mmm) in the chosen zone.
  function fmtTs(sec, utc) {
    const p = timeParts(sec, utc === undefined ? useUTC() : utc);
    return p.y + '-' + pad(p.mo) + '-' + pad(p.d) + ' ' + pad(p.h) + ':' + pad(p.mi) + ':' + pad(p.s) +
      (p.ms ? '.' + pad(p.ms, 3) : '');
  }

  // parseTime reads a time typed in the chosen zone (YYYY-MM-DD HH:MM:SS,
  // seconds and the time optional), RFC 3339 with Z or an offset, or Unix
  // seconds. Empty or "now" is null.
  function parseTime(s, utc) {
    s = String(s || '').trim();
    if (!s || s.toLowerCase() === 'now') return null;
    if (/^\d{9,11}(\.\d+)?$/.test(s)) return Number(s);
    const m = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?)?$/.exec(s);
    if (m) {
      const [y, mo, d, h, mi, sec] = m.slice(1, 7).map((x) => Number(x || 0));
      const ms = m[7] ? Number(m[7].padEnd(3, '0')) : 0;
      if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 59) throw new Error('“' + s + '” is not a valid time.');
      const t = utc ? Date.UTC(y, mo - 1, d, h, mi, sec, ms) : new Date(y, mo - 1, d, h, mi, sec, ms).getTime();
      if (timeParts(t / 1000, utc).d !== d) throw new Error('“' + s + '” is not a valid date.');
      return t / 1000;
    }
    if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/i.test(s)) {
      const t = Date.parse(s);
      if (!isNaN(t)) return t / 1000;
    }
    throw new Error('Cannot read the time “' + s + '”: write it as YYYY-MM-DD HH:MM:SS (' + zoneLabel(utc) + '), or leave it empty for now.');
  }

  // isoUTC is the form times take in shared links.
  function isoUTC(sec) { return new Date(sec * 1000).toISOString().replace('.000Z', 'Z'); }

  // --- numbers ---

  // fmtValue shows a sample value readably: integers as they are, other
  // numbers to about 6 significant digits, very large or small ones with an
  // exponent. The exact value goes in a title beside it.
  function fmtValue(v) {
    if (v === '+Inf' || v === 'Inf') return '+Inf';
    if (v === '-Inf') return '-Inf';
    const n = Number(v);
    if (Number.isNaN(n)) return v === 'NaN' || typeof v === 'number' ? 'NaN' : String(v);
    if (!Number.isFinite(n)) return n > 0 ? '+Inf' : '-Inf';
    const a = Math.abs(n);
    if (n === 0) return '0';
    if (Number.isInteger(n) && a < 1e15) return String(n);
    // Never round away digits before the point (58318172.35 is 58318172,
    // not 58318200); below 1, keep 6 significant digits.
    if (a >= 1 && a < 1e15) return String(Number(n.toFixed(Math.max(0, 6 - String(Math.floor(a)).length))));
    if (a >= 1e-3) return String(Number(n.toPrecision(6)));
    return n.toExponential(4).replace(/\.?0+e/, 'e');
  }

  const SI = [[1e15, 'P'], [1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'k']];

  // siTicks labels the y axis: one SI prefix for all ticks (1.5k, 2M) and
  // as many decimals as the step between ticks needs.
  function siTicks(splits) {
    const max = Math.max(0, ...splits.map((v) => Math.abs(v)));
    if (max > 0 && max < 1e-3) return splits.map((v) => (v === 0 ? '0' : v.toExponential(1)));
    let div = 1;
    let suffix = '';
    for (const [d, s] of SI) {
      if (max >= d) {
        div = d;
        suffix = s;
        break;
      }
    }
    const scaled = splits.map((v) => v / div);
    let dec = 0;
    const exact = (v) => {
      const x = v * Math.pow(10, dec);
      return Math.abs(x - Math.round(x)) < 1e-6 * Math.max(1, Math.abs(x));
    };
    while (dec < 6 && !scaled.every(exact)) dec++;
    return scaled.map((v) => (v === 0 ? '0' : v.toFixed(dec) + suffix));
  }

  // --- Explore ---

  const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
  const HISTORY_MAX = 30;

  function seriesName(metric) {
    const name = metric.__name__ || '';
    const labels = Object.keys(metric).filter((k) => k !== '__name__').sort()
      .map((k) => k + '="' + metric[k] + '"');
    return name + (labels.length || !name ? '{' + labels.join(', ') + '}' : '');
  }

  // distinguishing lists the labels whose values differ between series:
  // the ones worth a legend's room.
  function distinguishing(metrics) {
    const keys = new Set();
    for (const m of metrics) for (const k of Object.keys(m)) keys.add(k);
    return Array.from(keys).filter((k) => new Set(metrics.map((m) => (k in m ? m[k] : '\u0000'))).size > 1)
      .sort((a, b) => (a === '__name__' ? -1 : b === '__name__' ? 1 : a < b ? -1 : a > b ? 1 : 0));
  }

  // shortName is a series' name in a legend: the distinguishing labels
  // only, the full name for a single series, the expression when the
  // series has neither a name nor labels.
  function shortName(metric, differ, expr) {
    if (!differ.length) {
      const full = seriesName(metric);
      return full === '{}' ? expr : full;
    }
    const name = differ.includes('__name__') ? metric.__name__ || '' : '';
    const labels = differ.filter((k) => k !== '__name__' && k in metric).map((k) => k + '="' + metric[k] + '"');
    return name + (labels.length ? '{' + labels.join(', ') + '}' : name ? '' : '{}');
  }

  function sampleValue(v) {
    const n = Number(v);
    return Number.isFinite(n) ? n : null; // NaN and ±Inf cannot be drawn
  }

  function parseDuration(s) {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)?$/.exec(s.trim());
    if (!m) return NaN;
    const mult = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400, w: 604800, y: 31536000 }[m[2] || 's'];
    return Number(m[1]) * mult;
  }

  function proxyBase(ds) { return GRAFANA_DS + '/proxy/' + encodeURIComponent(ds || '1'); }

  async function initExplore(ctx) {
    const st = { plot: null, ctx, editor: null, last: null, dsNames: {} };
    const dsSel = $('#q-ds');
    try {
      const { list } = await listDataSources(ctx);
      for (const d of list) {
        dsSel.append(el('option', { value: d.id }, d.name + ' (' + d.id + ')'));
        st.dsNames[String(d.id)] = d.name;
      }
    } catch (e) {
      pageError('Could not list the data sources. ' + describe(e));
    }
    if (!dsSel.options.length) dsSel.append(el('option', { value: '1' }, 'promgate (1)'));

    const tzSel = $('#q-tz');
    tzSel.value = useUTC() ? 'utc' : 'local';
    showZone();

    // A shared link (?query=...&ds=...&mode=range&range=...&end=...) fills
    // the form and runs the query.
    const sp = new URLSearchParams(location.search);
    if (sp.get('query') !== null) $('#q-expr').value = sp.get('query');
    if (sp.get('ds') && $$('option', dsSel).some((o) => o.value === sp.get('ds'))) dsSel.value = sp.get('ds');
    if (sp.get('mode') === 'range') $('#q-mode-range').checked = true;
    if (sp.get('range') && $$('#q-range option').some((o) => o.value === sp.get('range'))) $('#q-range').value = sp.get('range');
    if (sp.get('step')) $('#q-step').value = sp.get('step');
    for (const [param, input] of [['end', '#q-end'], ['time', '#q-time']]) {
      if (!sp.get(param)) continue;
      try {
        const t = parseTime(sp.get(param), true);
        if (t !== null) $(input).value = fmtTs(t);
      } catch (e) {
        say($('#q-error'), 'The link’s ' + param + ' is not a time: ' + e.message);
      }
    }

    const form = $('#query-form');
    const syncMode = () => {
      const range = $('#q-mode-range').checked;
      $('#q-range-fields').hidden = !range;
      $('#q-instant-fields').hidden = range;
      updateCSV();
    };
    const updateCSV = () => {
      try {
        const q = buildQuery(st);
        q.params.set('format', 'csv');
        $('#q-csv').href = q.path + '?' + q.params.toString();
      } catch (_) {
        $('#q-csv').href = '#';
      }
    };
    st.updateCSV = updateCSV;
    st.syncMode = syncMode;
    mountEditor(st, form, updateCSV);
    for (const r of $$('input[name=mode]')) r.addEventListener('change', syncMode);
    form.addEventListener('input', updateCSV);
    form.addEventListener('change', updateCSV);
    dsSel.addEventListener('change', () => {
      if (st.editor) st.editor.setDataSource(proxyBase(dsSel.value));
    });
    tzSel.addEventListener('change', () => {
      // Keep the instants typed: read them in the old zone, show them in
      // the new one.
      const wasUTC = useUTC();
      const toUTC = tzSel.value === 'utc';
      for (const input of [$('#q-time'), $('#q-end')]) {
        try {
          const t = parseTime(input.value, wasUTC);
          if (t !== null) input.value = fmtTs(t, toUTC);
        } catch (_) { /* leave what cannot be read; Run says why */ }
      }
      storageSet(TZ_KEY, toUTC ? 'utc' : 'local');
      showZone();
      renderHistory(st);
      if (st.last) showResult(st, st.last.data, st.last.q);
    });
    // "now" moves on: recompute the link as it is followed.
    $('#q-csv').addEventListener('click', (ev) => {
      try {
        updateCSV();
        buildQuery(st);
      } catch (e) {
        ev.preventDefault();
        say($('#q-error'), e.message);
      }
    });
    $('#q-expr').addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) {
        ev.preventDefault();
        form.requestSubmit();
      }
    });
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      runQuery(st);
    });
    for (const b of $$('[data-snippet]')) b.addEventListener('click', () => showSnippet(st, b.dataset.snippet, b));
    $('#q-snippet-close').addEventListener('click', () => {
      $('#q-snippet').hidden = true;
      $('#q-snippet-text').value = '';
    });
    wireHistory(st, form);
    window.addEventListener('resize', () => {
      const box = $('#graph');
      if (st.plot) st.plot.setSize({ width: box.clientWidth, height: 320 });
    });
    syncMode();
    if (sp.get('query')) await runQuery(st);
  }

  // mountEditor replaces the textarea with the PromQL editor when its
  // bundle loaded. The textarea stays the form's value, kept in step.
  function mountEditor(st, form, updateCSV) {
    const ta = $('#q-expr');
    if (!window.PromgateEditor) return;
    try {
      st.editor = window.PromgateEditor.create({
        parent: $('#q-editor'),
        doc: ta.value,
        url: proxyBase($('#q-ds').value),
        labelledBy: 'q-expr-label',
        describedBy: 'q-expr-hint',
        onRun: () => form.requestSubmit(),
        onChange: (v) => {
          ta.value = v;
          updateCSV();
        },
      });
    } catch (e) {
      pageError('The PromQL editor did not start (' + e.message + '); the plain text box works.');
      return;
    }
    ta.hidden = true;
    $('#q-editor').hidden = false;
    $('#q-expr-hint').textContent = 'Enter or Ctrl+Enter runs the query; Shift+Enter adds a line. Ctrl+Space lists functions, metric names, labels and values from the data source.';
    $('#q-expr-label').addEventListener('click', () => st.editor.focus());
  }

  function getExpr() { return $('#q-expr').value; }

  function setExpr(st, text) {
    if (st.editor) st.editor.setValue(text);
    $('#q-expr').value = text;
  }

  function showZone() {
    const utc = useUTC();
    for (const t of $$('[data-zone]')) t.textContent = zoneTag(utc);
    for (const h of $$('[data-zone-hint]')) h.textContent = 'YYYY-MM-DD HH:MM:SS in ' + zoneLabel(utc) + '; empty: now.';
    const local = $('#q-tz option[value="local"]');
    if (local) local.textContent = 'Browser: ' + zoneLabel(false);
  }

  // buildQuery reads the form into a proxy path and parameters.
  function buildQuery(st) {
    const expr = getExpr().trim();
    if (!expr) throw new Error('Type a PromQL query, for example: up');
    const ds = $('#q-ds').value || '1';
    const base = proxyBase(ds) + '/api/v1/';
    const params = new URLSearchParams({ query: expr });
    const utc = useUTC();
    if (!$('#q-mode-range').checked) {
      const t = parseTime($('#q-time').value, utc);
      if (t !== null) params.set('time', String(t));
      return { mode: 'instant', ds, expr, path: base + 'query', params, time: t };
    }
    const endIn = parseTime($('#q-end').value, utc);
    const span = Number($('#q-range').value);
    let step;
    const stepIn = $('#q-step').value.trim();
    if (stepIn) {
      step = parseDuration(stepIn);
      if (!(step > 0)) throw new Error('The step must be a duration such as 15s, 1m or 1h.');
    } else {
      step = Math.max(1, Math.floor(span / 250));
    }
    // On the step's grid, as Grafana asks: the query cache aligns a range
    // query to its step anyway, and the graph expects the answer on this
    // grid.
    const end = Math.floor((endIn !== null ? endIn : Date.now() / 1000) / step) * step;
    const start = Math.floor((end - span) / step) * step;
    params.set('start', String(start));
    params.set('end', String(end));
    params.set('step', String(step));
    return { mode: 'range', ds, expr, path: base + 'query_range', params, start, end, endIn, step, span, stepIn };
  }

  // shareParams is the address of this view: query, data source, type,
  // range, and any fixed time (in UTC, so the link means the same
  // everywhere).
  function shareParams(q) {
    const share = new URLSearchParams({ query: q.expr, ds: q.ds, mode: q.mode });
    if (q.mode === 'range') {
      share.set('range', String(q.span));
      if (q.endIn !== null) share.set('end', isoUTC(q.endIn));
      if (q.stepIn) share.set('step', q.stepIn);
    } else if (q.time !== null) {
      share.set('time', isoUTC(q.time));
    }
    return share;
  }

  async function runQuery(st) {
    const errBox = $('#q-error');
    const warnBox = $('#q-warnings');
    say(errBox, '');
    say(warnBox, '');
    let q;
    try {
      q = buildQuery(st);
    } catch (e) {
      say(errBox, e.message);
      if (st.editor) st.editor.focus();
      else $('#q-expr').focus();
      return;
    }
    // Keep the form in the address bar so the view can be shared.
    history.replaceState(null, '', '/explore?' + shareParams(q).toString());
    const btn = $('#q-run');
    busy(btn, true);
    $('#q-summary').textContent = 'Running…';
    const t0 = performance.now();
    let body;
    try {
      body = await api(st.ctx, 'GET', q.path + '?' + q.params.toString(), undefined, true);
    } catch (e) {
      say(errBox, describe(e));
      $('#q-summary').textContent = '';
      clearResults(st);
      return;
    } finally {
      busy(btn, false);
    }
    const took = Math.round(performance.now() - t0);
    addHistory(st, { query: q.expr, ds: q.ds, mode: q.mode, at: Date.now() });
    const warnings = [].concat(body.warnings || [], body.infos || []);
    if (warnings.length) say(warnBox, 'The data source said: ' + warnings.join('; '));
    const data = body.data || {};
    const n = Array.isArray(data.result) ? data.result.length : 1;
    $('#q-summary').textContent = data.resultType + ' result: ' + n + ' series (' + took + ' ms)';
    st.last = { data, q };
    showResult(st, data, q);
  }

  function showResult(st, data, q) {
    renderTable(data, q.expr);
    if (q.mode === 'range' && data.resultType === 'matrix') {
      drawGraph(st, data.result, q);
    } else {
      clearGraph(st, 'Instant queries are shown in the table. Choose Range and run the query to draw a graph.');
    }
  }

  function clearResults(st) {
    st.last = null;
    $('#table-card').hidden = true;
    clearGraph(st, 'Run a range query to draw a graph.');
  }

  // renderTable shows rows as the CSV download has them: name, timestamp,
  // value, then each label in name order. A range result shows each
  // series' last sample here; the CSV has every sample. A series without
  // a metric name (rate(...), sums) shows the expression as its name.
  function renderTable(data, expr) {
    const table = $('#result-table');
    const headRow = $('thead tr', table);
    const tbody = $('tbody', table);
    headRow.replaceChildren();
    tbody.replaceChildren();
    $('#table-card').hidden = false;
    let rows = [];
    const rt = data.resultType;
    if (rt === 'vector') {
      rows = data.result.map((s) => ({ metric: s.metric, sample: s.value || (s.histogram ? [s.histogram[0], 'histogram'] : null) }));
    } else if (rt === 'matrix') {
      rows = data.result.map((s) => {
        const vals = s.values || [];
        return { metric: s.metric, sample: vals.length ? vals[vals.length - 1] : null, count: vals.length };
      });
    } else if (rt === 'scalar' || rt === 'string') {
      rows = [{ metric: {}, sample: data.result }];
    }
    $('#table-empty').hidden = rows.length > 0;
    table.hidden = rows.length === 0;
    if (!rows.length) return;
    const labelNames = new Set();
    for (const r of rows) for (const k of Object.keys(r.metric || {})) if (k !== '__name__') labelNames.add(k);
    const labels = Array.from(labelNames).sort();
    const zone = useUTC() ? 'UTC' : zoneTag(false);
    const cols = ['name', (rt === 'matrix' ? 'last timestamp' : 'timestamp') + ' (' + zone + ')', rt === 'matrix' ? 'last value' : 'value']
      .concat(rt === 'matrix' ? ['samples'] : [], labels);
    headRow.append(...cols.map((c) => el('th', { scope: 'col' }, c)));
    for (const r of rows.slice(0, MAX_ROWS_SHOWN)) {
      const [ts, val] = r.sample || [null, ''];
      const name = r.metric && r.metric.__name__;
      const shown = rt === 'string' || val === 'histogram' ? String(val) : fmtValue(val);
      tbody.append(el('tr', {},
        name ? el('td', {}, name) : el('td', { class: 'expr', title: 'No metric name: the result of ' + expr }, el('code', {}, expr)),
        el('td', { class: 'nowrap', title: ts === null ? '' : 'Unix time ' + ts }, ts === null ? '' : fmtTs(ts)),
        el('td', { class: 'num', title: shown === String(val) ? null : String(val) }, shown),
        rt === 'matrix' ? el('td', { class: 'num' }, String(r.count)) : null,
        labels.map((k) => el('td', {}, (r.metric && r.metric[k]) || ''))));
    }
    if (rows.length > MAX_ROWS_SHOWN) {
      tbody.append(el('tr', {}, el('td', { colspan: cols.length, class: 'muted' },
        'Showing ' + MAX_ROWS_SHOWN + ' of ' + rows.length + ' rows; download the CSV for all of them.')));
    }
  }

  function clearGraph(st, note) {
    if (st.plot) {
      st.plot.destroy();
      st.plot = null;
    }
    const box = $('#graph');
    box.replaceChildren();
    box.removeAttribute('role');
    box.removeAttribute('aria-label');
    $('#graph-legend').replaceChildren();
    $('#graph-legend').hidden = true;
    $('#graph-cursor').textContent = '';
    $('#graph-note').textContent = note;
    $('#graph-note').hidden = !note;
  }

  // timeTicks labels the time axis in the chosen zone, 24-hour, with the
  // date under the first tick of each day when the range spans days.
  function timeTicks(splits, incr, utc) {
    const dayOf = (t) => {
      const p = timeParts(t, utc);
      return pad(p.mo) + '-' + pad(p.d);
    };
    const spansDays = splits.length > 1 && dayOf(splits[0]) !== dayOf(splits[splits.length - 1]);
    let prev = null;
    return splits.map((t, i) => {
      const p = timeParts(t, utc);
      const day = dayOf(t);
      if (incr >= 86400) return day;
      const time = pad(p.h) + ':' + pad(p.mi) + (incr < 60 ? ':' + pad(p.s) : '');
      const withDay = day !== prev && (i > 0 || spansDays);
      prev = day;
      return withDay ? time + '\n' + day : time;
    });
  }

  function drawGraph(st, result, q) {
    clearGraph(st, '');
    if (typeof window.uPlot !== 'function') {
      $('#graph-note').textContent = 'The graph library did not load; the table still shows the result.';
      $('#graph-note').hidden = false;
      return;
    }
    if (!result.length) {
      $('#graph-note').textContent = 'No series to draw.';
      $('#graph-note').hidden = false;
      return;
    }
    const utc = useUTC();
    const drawn = result.slice(0, MAX_SERIES_DRAWN);
    // Range results sit on the grid start + k*step.
    const xs = [];
    for (let t = q.start; t <= q.end + 1e-9; t += q.step) xs.push(t);
    const at = new Map(xs.map((t, i) => [Math.round(t * 1000), i]));
    const ys = drawn.map((s) => {
      const a = new Array(xs.length).fill(null);
      for (const [t, v] of s.values || []) {
        const i = at.get(Math.round(t * 1000));
        if (i !== undefined) a[i] = sampleValue(v);
      }
      return a;
    });
    $('#graph-note').textContent = result.length > drawn.length
      ? 'Drawing the first ' + drawn.length + ' of ' + result.length + ' series.' : '';
    $('#graph-note').hidden = !$('#graph-note').textContent;
    const differ = distinguishing(drawn.map((s) => s.metric || {}));
    const names = drawn.map((s) => shortName(s.metric || {}, differ, q.expr));
    const box = $('#graph');
    box.setAttribute('role', 'img');
    box.setAttribute('aria-label', 'Graph of ' + drawn.length + ' series over ' + fmtTs(q.start) + ' to ' + fmtTs(q.end) + ' ' + zoneLabel(utc) + '; the table below has the values.');
    const legend = buildLegend(drawn, names, ys);
    const opts = {
      width: Math.max(box.clientWidth, 300),
      height: 320,
      // Ticks fall on round times of the chosen zone.
      tzDate: (ts) => (utc ? window.uPlot.tzDate(new Date(ts * 1e3), 'Etc/UTC') : new Date(ts * 1e3)),
      series: [{ label: 'Time' }].concat(drawn.map((s, i) => ({
        label: names[i],
        stroke: PALETTE[i % PALETTE.length],
        width: 1.5,
        points: { show: false },
      }))),
      axes: [
        { size: 48, values: (u, splits, ax, space, incr) => timeTicks(splits, incr, utc) },
        { size: 64, values: (u, splits) => siTicks(splits) },
      ],
      scales: { x: { time: true, range: [q.start, q.end] } },
      legend: { show: false },
      hooks: { setCursor: [(u) => legend.update(u.cursor.idx)] },
    };
    st.plot = new window.uPlot(opts, [xs].concat(ys), box);
    box.uplot = st.plot; // for the console (and the browser tests): axes, scales, data
    legend.bind(st.plot);
    legend.update(null);
    const cursorBox = $('#graph-cursor');
    // Away from the plot: the dates shown and the zone; over it: the time
    // under the cursor.
    const day0 = fmtTs(q.start, utc).slice(0, 10);
    const day1 = fmtTs(q.end, utc).slice(0, 10);
    const idle = (day0 === day1 ? day0 : day0 + ' – ' + day1) + ' · ' + zoneLabel(utc, q.end);
    legend.onCursor = (idx) => {
      cursorBox.textContent = idx === null || idx === undefined ? idle : fmtTs(xs[idx], utc) + ' ' + zoneTag(utc);
    };
    legend.onCursor(null);
  }

  // buildLegend draws the series list under the graph: a colour, the
  // distinguishing labels, and the value under the cursor (the last value
  // when the cursor is away). Clicking an entry hides or shows its line.
  function buildLegend(drawn, names, ys) {
    const list = $('#graph-legend');
    const values = [];
    const lastOf = ys.map((a) => {
      for (let i = a.length - 1; i >= 0; i--) if (a[i] !== null) return a[i];
      return null;
    });
    const items = drawn.map((s, i) => {
      const sw = el('span', { class: 'swatch', 'aria-hidden': 'true' });
      sw.style.backgroundColor = PALETTE[i % PALETTE.length]; // CSSOM: allowed by the CSP
      const val = el('span', { class: 'legend-value' });
      values.push(val);
      const b = el('button', { type: 'button', class: 'legend-item', 'aria-pressed': 'true', title: seriesName(s.metric || {}) + ' (click to hide or show)' },
        sw, el('span', { class: 'legend-name' }, names[i]), val);
      return el('li', {}, b);
    });
    list.replaceChildren(...items);
    list.hidden = false;
    const legend = {
      onCursor: null,
      bind(plot) {
        items.forEach((li, i) => {
          const b = li.firstChild;
          b.addEventListener('click', () => {
            const show = b.getAttribute('aria-pressed') !== 'true';
            plot.setSeries(i + 1, { show });
            b.setAttribute('aria-pressed', show ? 'true' : 'false');
          });
        });
      },
      update(idx) {
        const hovering = idx !== null && idx !== undefined;
        ys.forEach((a, i) => {
          const v = hovering ? a[idx] : lastOf[i];
          values[i].textContent = v === null || v === undefined ? '' : fmtValue(v);
        });
        if (legend.onCursor) legend.onCursor(hovering ? idx : null);
      },
    };
    return legend;
  }

  // --- query history (this browser only) ---

  function historyKey(st) {
    const me = st.ctx.me || {};
    return 'promgate.explore.history.' + (me.login || me.credentialKey || 'anonymous');
  }

  function loadHistory(st) {
    let list;
    try { list = JSON.parse(storageGet(historyKey(st)) || '[]'); } catch (_) { list = []; }
    if (!Array.isArray(list)) return [];
    return list.filter((h) => h && typeof h.query === 'string' && h.query && typeof h.ds === 'string');
  }

  function addHistory(st, entry) {
    const list = [entry].concat(loadHistory(st).filter((h) => !(h.query === entry.query && h.ds === entry.ds))).slice(0, HISTORY_MAX);
    storageSet(historyKey(st), JSON.stringify(list));
    renderHistory(st);
  }

  function renderHistory(st) {
    const items = loadHistory(st);
    $('#q-history-count').textContent = String(items.length);
    $('#q-history-empty').hidden = items.length > 0;
    $('#q-history-clear').hidden = items.length === 0;
    $('#q-history-list').replaceChildren(...items.map((h, i) => el('li', {},
      el('button', { type: 'button', class: 'history-item', 'data-index': i, title: 'Run again: ' + h.query },
        el('code', {}, h.query),
        el('span', { class: 'muted' }, (st.dsNames[h.ds] || 'data source ' + h.ds) + ' · ' + (h.mode === 'range' ? 'range' : 'instant') +
          (h.at ? ' · ' + fmtTs(h.at / 1000).slice(0, 16) : ''))))));
  }

  function wireHistory(st, form) {
    renderHistory(st);
    $('#q-history-list').addEventListener('click', (ev) => {
      const b = ev.target.closest('button.history-item');
      if (!b) return;
      const h = loadHistory(st)[Number(b.dataset.index)];
      if (!h) return;
      const dsSel = $('#q-ds');
      if ($$('option', dsSel).some((o) => o.value === h.ds) && dsSel.value !== h.ds) {
        dsSel.value = h.ds;
        dsSel.dispatchEvent(new Event('change'));
      }
      $(h.mode === 'range' ? '#q-mode-range' : '#q-mode-instant').checked = true;
      st.syncMode();
      setExpr(st, h.query);
      form.requestSubmit();
    });
    $('#q-history-clear').addEventListener('click', () => {
      storageSet(historyKey(st), null);
      renderHistory(st);
    });
    window.addEventListener('storage', (ev) => {
      if (ev.key === historyKey(st)) renderHistory(st);
    });
  }

  // --- share: link, curl, Python ---

  // KEY:TOKEN stands for the reader's own API credential: the page has no
  // token and never puts one in a snippet.
  const CRED_PLACEHOLDER = 'KEY:TOKEN';

  function apiURL(path) { return location.protocol + '//' + CRED_PLACEHOLDER + '@' + location.host + path; }

  // pyStr is a single-quoted Python string literal, as in the reference's
  // script.
  function pyStr(s) {
    return "'" + String(s).replace(/[\\'\u0000-\u001f\u007f\u2028\u2029]/g, (c) => {
      const named = { '\\': '\\\\', "'": "\\'", '\n': '\\n', '\r': '\\r', '\t': '\\t' }[c];
      return named || '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0');
    }) + "'";
  }

  function curlSnippet(q) {
    // URLSearchParams escapes every shell-special character (", $, `, !),
    // so the URL is safe inside double quotes, as in the reference's curl.
    return 'curl "' + apiURL(q.path) + '?' + q.params.toString() + '"';
  }

  function pythonSnippet(q) {
    const params = ["'query': query"];
    for (const k of ['time', 'start', 'end', 'step']) if (q.params.has(k)) params.push(pyStr(k) + ': ' + pyStr(q.params.get(k)));
    return [
      'import csv',
      'import requests',
      'import sys',
      '',
      '"""',
      'Print the result of a PromQL query as CSV: name, timestamp, value, then',
      'one column per label. Replace ' + CRED_PLACEHOLDER + ' with your API credential\'s key and token.',
      'Usage: python3 query.py [PromQL]   (default: the query below)',
      '"""',
      '',
      'URL = ' + pyStr(apiURL(q.path)),
      'query = sys.argv[1] if len(sys.argv) > 1 else ' + pyStr(q.expr),
      '',
      'response = requests.get(URL, params={' + params.join(', ') + '})',
      'body = response.json()',
      "if body.get('status') != 'success':",
      "    sys.exit('HTTP {0} {1}: {2}'.format(response.status_code, body.get('errorType'), body.get('error')))",
      "data = body['data']",
      "results = data['result']",
      "if data['resultType'] in ('scalar', 'string'):",
      "    results = [{'metric': {}, 'value': results}]",
      '',
      '# Create list of all label names',
      'labelnames = set()',
      'for result in results:',
      "    labelnames.update(result['metric'].keys())",
      '',
      '# remove redundant __name__ label',
      "labelnames.discard('__name__')",
      'labelnames = sorted(labelnames)',
      '',
      'writer = csv.writer(sys.stdout)',
      '# Write the column headers',
      "writer.writerow(['name', 'timestamp', 'value'] + labelnames)",
      '',
      '# Write the results: one row per sample',
      'for result in results:',
      "    name = result['metric'].get('__name__', '')",
      "    labels = [result['metric'].get(label, '') for label in labelnames]",
      "    for sample in result['values'] if 'values' in result else [result['value']]:",
      '        writer.writerow([name] + sample + labels)',
      '',
    ].join('\n');
  }

  async function showSnippet(st, kind, button) {
    const errBox = $('#q-error');
    say(errBox, '');
    let q;
    try {
      q = buildQuery(st);
    } catch (e) {
      say(errBox, e.message);
      return;
    }
    const credHint = 'Replace ' + CRED_PLACEHOLDER + ' with the key and token of an API credential (Settings › API Credentials).';
    const fixed = q.mode === 'range' ? ' The range is fixed: ' + fmtTs(q.start) + ' to ' + fmtTs(q.end) + ' ' + zoneLabel(useUTC()) + '.' : '';
    const s = {
      link: { title: 'Link to this query', text: location.origin + '/explore?' + shareParams(q).toString(), rows: 2, hint: 'Opens Explore with this query, data source and range, and runs it.' },
      curl: { title: 'curl command', text: curlSnippet(q), rows: 3, hint: credHint + fixed },
      python: { title: 'Python script (prints CSV)', text: pythonSnippet(q), rows: 14, hint: credHint + ' Needs the requests package.' + fixed },
    }[kind];
    const box = $('#q-snippet');
    const ta = $('#q-snippet-text');
    $('#q-snippet-title').textContent = s.title;
    ta.value = s.text;
    ta.rows = s.rows;
    box.dataset.kind = kind;
    $('#q-snippet-hint').textContent = s.hint;
    box.hidden = false;
    const note = $('#q-snippet-note');
    const ok = await copyText(s.text);
    note.textContent = ok ? 'Copied to the clipboard' : 'Select the text below and press Ctrl+C';
    if (!ok) {
      ta.focus();
      ta.select();
    } else if (button) {
      button.focus();
    }
  }

  // --- start ---

  async function main() {
    const page = document.body.dataset.page;
    if (page === 'notfound') return;
    if (page === 'login') {
      await initLogin();
      return;
    }
    const ctx = { me: null, csrf: '', redirectOn401: true };
    try {
      ctx.me = await api(ctx, 'GET', API + '/me');
    } catch (e) {
      if (e.status !== 401) pageError('Could not find out who you are. ' + describe(e));
      return;
    }
    ctx.csrf = ctx.me.csrfToken || '';
    initHeader(ctx);
    const init = {
      explore: initExplore,
      datasources: initDataSources,
      credentials: (c) => initCredentials(c, false),
      'global-credentials': (c) => initCredentials(c, true),
      users: initUsers,
    }[page];
    try {
      if (init) await init(ctx);
    } catch (e) {
      pageError(describe(e));
    }
    document.body.dataset.ready = 'true';
  }

  main();
})();
