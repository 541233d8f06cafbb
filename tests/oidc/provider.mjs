// The OpenID provider the sign-in tests run on this machine: panva's oidc-provider (a certified
// OpenID Provider), configured like a company's identity provider, with its own login page and a
// small test-control API. Started by tests/oidc_provider.py:
//
//     node tests/oidc/provider.mjs CONFIG.json
//
// CONFIG.json: {
//   "issuer": "http://127.0.0.1:PORT", "port": PORT,
//   "clients": [oidc-provider client metadata, ...],
//   "accounts": {"alice": {"sub", "password", "email", "preferred_username", "name",
//                          "groups": [...], "disabled": false, ...}},
//   "jwks": {"keys": [one private JWK, RS256 or ES256]},
//   "ttl": {"IdToken": seconds, "AccessToken": seconds, ...},       (optional)
//   "cookie_keys": ["..."],                                          (optional)
//   "control_token": "...",                                          (optional)
//   "state_file": "/path/state.json"                                 (optional)
// }
//
// The test-control API (JSON; with `control_token`, only with `Authorization: Bearer TOKEN`):
//   GET    /_test/accounts              every account
//   PUT    /_test/accounts/LOGIN        create or replace an account
//   DELETE /_test/accounts/LOGIN        remove an account: its sign-ins, refreshes and userinfo fail
//   PUT    /_test/clients/CLIENT_ID     add or replace a client (metadata as in "clients"),
//                                       those of the config file included
//
// Sessions, grants and tokens live in memory; with `state_file` they are written there on
// SIGTERM and read back at the next start, so a provider that was stopped and started again
// still knows the refresh tokens it issued, as a real one does after a restart.

import { timingSafeEqual, createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync, renameSync, existsSync } from 'node:fs';
import { createServer } from 'node:http';

import Provider, { errors } from 'oidc-provider';

const configPath = process.argv[2];
if (!configPath) {
  console.error('usage: node provider.mjs CONFIG.json');
  process.exit(2);
}
const config = JSON.parse(readFileSync(configPath, 'utf8'));

function log(...parts) {
  console.log(new Date().toISOString(), ...parts);
}

// ---------------------------------------------------------------------------------------------
// Accounts: login -> account. The map is replaced in place by the control API, and findAccount
// reads it on every call, so a change is seen by the next token, refresh or userinfo request.

const accounts = new Map(Object.entries(config.accounts || {}));

function validateAccount(login, account) {
  if (typeof login !== 'string' || !login) return 'the login must be a non-empty string';
  if (!account || typeof account !== 'object' || Array.isArray(account)) return 'the account must be a JSON object';
  if (typeof account.sub !== 'string' || !account.sub) return 'the account needs a "sub" (a non-empty string)';
  if (typeof account.password !== 'string' || !account.password) return 'the account needs a "password" (a non-empty string)';
  if (account.groups !== undefined
      && (!Array.isArray(account.groups) || !account.groups.every((g) => typeof g === 'string'))) {
    return '"groups" must be an array of strings';
  }
  for (const [other, existing] of accounts) {
    if (other !== login && existing.sub === account.sub) return `the sub ${account.sub} belongs to ${other}`;
  }
  return undefined;
}

for (const [login, account] of accounts) {
  const problem = validateAccount(login, account);
  if (problem) {
    console.error(`account ${login}: ${problem}`);
    process.exit(2);
  }
}

function accountBySub(sub) {
  for (const [login, account] of accounts) {
    if (account.sub === sub) return [login, account];
  }
  return [undefined, undefined];
}

// Every field of an account but these is a claim; oidc-provider hands out only the claims of the
// scopes (or the claims parameter) the client was granted.
const NOT_CLAIMS = new Set(['password', 'disabled', 'sub']);

async function findAccount(ctx, sub) {
  const [login, account] = accountBySub(sub);
  // A removed or disabled account is not found: oidc-provider then refuses its refresh tokens
  // (invalid_grant), its access tokens at userinfo and its existing sessions.
  if (!account || account.disabled) return undefined;
  return {
    accountId: sub,
    async claims() {
      const claims = { sub, preferred_username: login, email_verified: true, groups: [] };
      for (const [name, value] of Object.entries(account)) {
        if (!NOT_CLAIMS.has(name)) claims[name] = value;
      }
      return claims;
    },
  };
}

function passwordMatches(account, password) {
  // Hash both sides so that the comparison takes the same time whatever their lengths.
  const digest = (value) => createHash('sha256').update(String(value)).digest();
  return timingSafeEqual(digest(account.password), digest(password));
}

// ---------------------------------------------------------------------------------------------
// Storage: an in-memory adapter (oidc-provider's own is not exported), which also serves the
// clients added through the control API and can be written to and read from `state_file`.

const runtimeClients = new Map();
const store = new Map(); // "Model:id" -> { payload, expiresAt (ms) }
const index = new Map(); // "grant:id" -> Set of keys; "sessionUid:uid" / "userCode:code" -> id

const GRANTABLE = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode',
  'BackchannelAuthenticationRequest']);

function live(key) {
  const entry = store.get(key);
  if (!entry) return undefined;
  if (entry.expiresAt && entry.expiresAt <= Date.now()) {
    store.delete(key);
    return undefined;
  }
  return entry;
}

class Adapter {
  constructor(model) {
    this.model = model;
  }

  key(id) {
    return `${this.model}:${id}`;
  }

  async upsert(id, payload, expiresIn) {
    const key = this.key(id);
    const expiresAt = expiresIn ? Date.now() + expiresIn * 1000 : undefined;
    store.set(key, { payload, expiresAt });
    if (this.model === 'Session' && payload.uid) index.set(`sessionUid:${payload.uid}`, id);
    if (payload.userCode) index.set(`userCode:${payload.userCode}`, id);
    if (GRANTABLE.has(this.model) && payload.grantId) {
      const grantKey = `grant:${payload.grantId}`;
      if (!index.has(grantKey)) index.set(grantKey, new Set());
      index.get(grantKey).add(key);
    }
  }

  async find(id) {
    if (this.model === 'Client') return runtimeClients.get(id);
    return live(this.key(id))?.payload;
  }

  async findByUid(uid) {
    const id = index.get(`sessionUid:${uid}`);
    return id === undefined ? undefined : this.find(id);
  }

  async findByUserCode(userCode) {
    const id = index.get(`userCode:${userCode}`);
    return id === undefined ? undefined : this.find(id);
  }

  async consume(id) {
    const entry = live(this.key(id));
    if (entry) entry.payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) {
    store.delete(this.key(id));
  }

  async revokeByGrantId(grantId) {
    const grantKey = `grant:${grantId}`;
    for (const key of index.get(grantKey) || []) store.delete(key);
    index.delete(grantKey);
  }
}

function loadState(path) {
  if (!path || !existsSync(path)) return;
  const { entries } = JSON.parse(readFileSync(path, 'utf8'));
  for (const [key, { payload, expiresAt }] of entries) {
    if (expiresAt && expiresAt <= Date.now()) continue;
    const split = key.indexOf(':');
    // Through upsert, so that the indexes are rebuilt with the entries.
    new Adapter(key.slice(0, split)).upsert(
      key.slice(split + 1),
      payload,
      expiresAt ? (expiresAt - Date.now()) / 1000 : undefined,
    );
  }
  log(`read ${entries.length} stored sessions, grants and tokens from ${path}`);
}

function saveState(path) {
  if (!path) return;
  const entries = [...store.keys()].filter((key) => live(key)).map((key) => [key, store.get(key)]);
  writeFileSync(`${path}.tmp`, JSON.stringify({ entries }));
  renameSync(`${path}.tmp`, path);
}

// A session whose account is gone (removed, disabled, or absent from this run's config) is
// ended, as a company's provider signs a removed person out: oidc-provider would otherwise find
// no account for the session, ask for no login, and fail on the next authorization request.
function endOrphanSessions() {
  const live = new Set([...accounts.values()].filter((a) => !a.disabled).map((a) => a.sub));
  for (const [key, { payload }] of store) {
    if (key.startsWith('Session:') && payload.accountId && !live.has(payload.accountId)) {
      store.delete(key);
      log('session ended: its account', payload.accountId, 'is gone');
    }
  }
}

loadState(config.state_file);
endOrphanSessions();

// ---------------------------------------------------------------------------------------------
// The provider.

const [signingKey] = config.jwks?.keys || [];
if (!signingKey) {
  console.error('the config has no signing key (jwks.keys)');
  process.exit(2);
}
const signingAlg = signingKey.alg || (signingKey.kty === 'EC' ? 'ES256' : 'RS256');

const ttl = {
  AccessToken: 3600,
  AuthorizationCode: 60,
  BackchannelAuthenticationRequest: 600,
  ClientCredentials: 600,
  DeviceCode: 600,
  Grant: 14 * 24 * 3600,
  IdToken: 3600,
  Interaction: 3600,
  RefreshToken: 14 * 24 * 3600,
  Session: 14 * 24 * 3600,
  ...(config.ttl || {}),
};

function escapeHtml(value) {
  return String(value ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(title, body) {
  // Plain HTML: no script, no external stylesheet or font (the tests' browsers have no network).
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} - Test identity provider</title>
<style>
body{font-family:system-ui,sans-serif;max-width:22rem;margin:3rem auto;padding:0 1rem}
label{display:block;margin-top:.75rem}input{width:100%;padding:.4rem;box-sizing:border-box}
button{margin-top:1rem;padding:.5rem 1rem}.error{color:#b00020}
</style>
</head>
<body>
${body}
</body>
</html>
`;
}

const provider = new Provider(config.issuer, {
  adapter: Adapter,
  // No static clients: every client is served by the adapter from runtimeClients, so that the
  // control API can replace any of them (a test learns its redirect URI's port late).
  clients: [],
  // The code flow only: what the console uses, and what discovery then says.
  responseTypes: ['code'],
  clientDefaults: {
    grant_types: ['authorization_code', 'refresh_token'],
    id_token_signed_response_alg: signingAlg,
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  },
  jwks: config.jwks,
  findAccount,
  // The authorization code flow needs PKCE with S256, whatever the client.
  pkce: { methods: ['S256'], required: () => true },
  scopes: ['openid', 'offline_access', 'profile', 'email', 'groups'],
  claims: {
    openid: ['sub'],
    profile: ['name', 'family_name', 'given_name', 'middle_name', 'nickname', 'preferred_username',
      'profile', 'picture', 'website', 'gender', 'birthdate', 'zoneinfo', 'locale', 'updated_at'],
    email: ['email', 'email_verified'],
    groups: ['groups'],
  },
  // Claims asked for with scopes go into the ID token too, not only to userinfo, as most company
  // providers do: the console reads the groups from the ID token of each sign-in and refresh.
  conformIdTokenClaims: false,
  // A company's own application is trusted: the person is never asked to consent. Each
  // authorization request records every scope and claim it asks for in the grant, so the consent
  // checks find nothing missing.
  async loadExistingGrant(ctx) {
    const { oidc } = ctx;
    const grantId = oidc.result?.consent?.grantId || oidc.session.grantIdFor(oidc.client.clientId);
    let grant = grantId ? await oidc.provider.Grant.find(grantId) : undefined;
    if (!grant || grant.accountId !== oidc.account.accountId) {
      grant = new oidc.provider.Grant({ accountId: oidc.account.accountId, clientId: oidc.client.clientId });
    }
    if (oidc.requestParamOIDCScopes.size) grant.addOIDCScope([...oidc.requestParamOIDCScopes].join(' '));
    if (oidc.requestParamClaims.size) grant.addOIDCClaims([...oidc.requestParamClaims]);
    await grant.save();
    return grant;
  },
  ttl,
  cookies: {
    // Named apart from the console's cookies: both servers are on 127.0.0.1, and a browser keeps
    // one cookie jar per host whatever the port.
    names: { session: 'op_session', interaction: 'op_interaction', resume: 'op_interaction_resume' },
    keys: config.cookie_keys || [randomBytes(32).toString('hex')],
    // The issuer is plain http: a SameSite=None cookie must be Secure, and browsers drop it.
    long: { httpOnly: true, sameSite: 'lax' },
    short: { httpOnly: true, sameSite: 'lax' },
  },
  features: {
    devInteractions: { enabled: false },
    revocation: { enabled: true },
    rpInitiatedLogout: {
      enabled: true,
      async logoutSource(ctx, form) {
        ctx.body = page('Sign out', `<h1>Sign out of ${escapeHtml(ctx.host)}?</h1>
${form}
<button autofocus type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button>
<button type="submit" form="op.logoutForm">No, stay signed in</button>`);
      },
      async postLogoutSuccessSource(ctx) {
        ctx.body = page('Signed out', '<h1>Signed out</h1><p>You have signed out.</p>');
      },
    },
  },
  async renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = page('Error', `<h1>Something went wrong</h1>
${Object.entries(out).map(([key, value]) => `<p><strong>${escapeHtml(key)}</strong>: ${escapeHtml(value)}</p>`).join('\n')}`);
  },
});

for (const event of ['server_error', 'authorization.error', 'grant.error', 'userinfo.error',
  'revocation.error', 'end_session.error', 'discovery.error', 'jwks.error']) {
  provider.on(event, (ctx, err) => {
    const detail = err?.error_description ? ` (${err.error_description})` : '';
    log(event, err?.error || err?.message || err, detail);
    if (event === 'server_error' && err?.stack) console.log(err.stack);
  });
}
provider.on('grant.success', (ctx) => log('grant.success', ctx.oidc.params.grant_type,
  'client', ctx.oidc.client?.clientId, 'account', ctx.oidc.account?.accountId));

for (const metadata of config.clients || []) {
  try {
    await provider.Client.validate(metadata);
  } catch (err) {
    console.error(`client ${metadata.client_id}: ${err.error_description || err.message}`);
    process.exit(2);
  }
  runtimeClients.set(metadata.client_id, metadata);
}

// ---------------------------------------------------------------------------------------------
// The login page, through oidc-provider's interaction API.

function loginPage(uid, client, { username = '', error = '' } = {}) {
  const clientName = client?.clientName || client?.clientId || 'an application';
  return page('Sign in', `<h1>Sign in</h1>
<p>to continue to ${escapeHtml(clientName)}</p>
${error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : ''}
<form method="post" action="/interaction/${escapeHtml(uid)}/login" autocomplete="on">
<label for="username">Username</label>
<input id="username" name="username" autocomplete="username" required value="${escapeHtml(username)}"${username ? '' : ' autofocus'}>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required${username ? ' autofocus' : ''}>
<button type="submit">Sign in</button>
</form>`);
}

function send(res, status, body, type = 'text/html; charset=utf-8') {
  res.statusCode = status;
  res.setHeader('Content-Type', type);
  res.setHeader('Cache-Control', 'no-store');
  res.end(body);
}

function sendJson(res, status, value) {
  send(res, status, `${JSON.stringify(value)}\n`, 'application/json');
}

async function readBody(req, limit = 1024 * 1024) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > limit) throw Object.assign(new Error('request body too large'), { status: 413 });
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function interaction(req, res, url) {
  const match = url.pathname.match(/^\/interaction\/([^/]+)(\/login)?$/);
  if (!match) return send(res, 404, page('Not found', '<h1>Not found</h1>'));
  let details;
  try {
    details = await provider.interactionDetails(req, res);
  } catch (err) {
    if (err instanceof errors.SessionNotFound) {
      return send(res, 400, page('Sign-in expired', `<h1>This sign-in has expired</h1>
<p>Go back to the application and sign in again.</p>`));
    }
    throw err;
  }
  const { uid, prompt, params } = details;
  if (uid !== match[1]) return send(res, 400, page('Sign-in expired', '<h1>This sign-in has expired</h1>'));
  const client = await provider.Client.find(params.client_id);

  if (prompt.name === 'consent') {
    // Reached only when the person already has a session here and the client asked for
    // prompt=consent (as it must for offline_access): consent is given without a screen, and
    // loadExistingGrant records what was asked.
    return provider.interactionFinished(req, res, { consent: {} }, { mergeWithLastSubmission: true });
  }
  if (prompt.name !== 'login') {
    return send(res, 400, page('Error', `<h1>Unsupported prompt ${escapeHtml(prompt.name)}</h1>`));
  }

  if (req.method === 'GET' && !match[2]) return send(res, 200, loginPage(uid, client));
  if (req.method !== 'POST' || !match[2]) return send(res, 405, page('Error', '<h1>Method not allowed</h1>'));

  const form = new URLSearchParams(await readBody(req));
  const username = form.get('username') || '';
  const account = accounts.get(username);
  if (!account || !passwordMatches(account, form.get('password') || '')) {
    log('login failed for', JSON.stringify(username));
    return send(res, 200, loginPage(uid, client, { username, error: 'Wrong username or password' }));
  }
  if (account.disabled) {
    log('login refused for disabled account', JSON.stringify(username));
    return send(res, 200, loginPage(uid, client, { username, error: 'This account is disabled' }));
  }
  log('login succeeded for', JSON.stringify(username));
  // `consent` resolves a prompt=consent in the same round trip: nothing is asked of the person.
  return provider.interactionFinished(req, res, {
    login: { accountId: account.sub },
    consent: {},
  }, { mergeWithLastSubmission: false });
}

// ---------------------------------------------------------------------------------------------
// The test-control API.

function authorized(req) {
  if (!config.control_token) return true;
  const expected = Buffer.from(`Bearer ${config.control_token}`);
  const given = Buffer.from(req.headers.authorization || '');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

async function control(req, res, url) {
  if (!authorized(req)) return sendJson(res, 401, { error: 'the control API needs the control token' });
  const parts = url.pathname.split('/').slice(2).map(decodeURIComponent); // ['accounts', login]
  const readJson = async () => {
    try {
      return JSON.parse(await readBody(req));
    } catch (err) {
      throw Object.assign(new Error(`the body is not JSON: ${err.message}`), { status: 400 });
    }
  };

  if (parts[0] === 'accounts' && parts.length === 1 && req.method === 'GET') {
    return sendJson(res, 200, Object.fromEntries(accounts));
  }
  if (parts[0] === 'accounts' && parts.length === 2 && req.method === 'PUT') {
    const account = await readJson();
    const problem = validateAccount(parts[1], account);
    if (problem) return sendJson(res, 400, { error: problem });
    accounts.set(parts[1], account);
    endOrphanSessions();
    log('account set:', parts[1], JSON.stringify({ ...account, password: '***' }));
    return sendJson(res, 200, { login: parts[1], sub: account.sub });
  }
  if (parts[0] === 'accounts' && parts.length === 2 && req.method === 'DELETE') {
    const existed = accounts.delete(parts[1]);
    endOrphanSessions();
    log('account removed:', parts[1], existed ? '' : '(there was none)');
    return sendJson(res, existed ? 200 : 404, { login: parts[1], removed: existed });
  }
  if (parts[0] === 'clients' && parts.length === 2 && req.method === 'PUT') {
    const metadata = { ...(await readJson()), client_id: parts[1] };
    try {
      await provider.Client.validate(metadata);
    } catch (err) {
      return sendJson(res, 400, { error: err.error_description || err.message });
    }
    runtimeClients.set(parts[1], metadata);
    log('client set:', parts[1], JSON.stringify(metadata.redirect_uris));
    return sendJson(res, 200, { client_id: parts[1] });
  }
  return sendJson(res, 404, { error: `no such control route: ${req.method} ${url.pathname}` });
}

// ---------------------------------------------------------------------------------------------
// The server: the login page and the control API here, every other path to oidc-provider.

const providerHandler = provider.callback();

const server = createServer((req, res) => {
  const started = Date.now();
  res.on('finish', () => log(req.method, req.url.split('?')[0], res.statusCode, `${Date.now() - started}ms`));
  const url = new URL(req.url, config.issuer);
  let handled;
  if (url.pathname.startsWith('/interaction/')) handled = interaction(req, res, url);
  else if (url.pathname.startsWith('/_test/')) handled = control(req, res, url);
  else return providerHandler(req, res);
  handled.catch((err) => {
    log('error in', req.method, url.pathname, err.stack || err);
    if (!res.headersSent) {
      const status = err.status || 500;
      if (url.pathname.startsWith('/_test/')) sendJson(res, status, { error: err.message });
      else send(res, status, page('Error', '<h1>Something went wrong</h1>'));
    }
  });
});

server.listen(config.port, '127.0.0.1', () => {
  log(`oidc-provider listening at ${config.issuer} (discovery: ${config.issuer}/.well-known/openid-configuration)`);
});

function shutdown(signal) {
  log(`${signal}: stopping`);
  saveState(config.state_file);
  server.close(() => process.exit(0));
  // Keep-alive connections (a browser's, a test's session) would hold close() open.
  server.closeAllConnections();
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
