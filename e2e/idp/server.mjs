// The identity provider of mcplink's end-to-end tests: the oidc-provider
// package configured as a real authorization server on 127.0.0.1, with an
// interactive login and consent page, dynamic client registration, PKCE
// required, resource indicators issuing JWT access tokens (audience = the
// resource), refresh tokens with rotation (offline_access), revocation,
// introspection and the device authorization grant.
//
// It listens on a free loopback port (IDP_PORT, default 0 = any) and prints
// one line "IDP_ISSUER=http://127.0.0.1:PORT" on stdout once it is ready.
//
// Environment:
//   IDP_PORT                  port to listen on (default 0: a free port)
//   IDP_RESOURCES             comma-separated resource indicators it issues
//                             JWT access tokens for (required)
//   IDP_ACCESS_TOKEN_TTL      access-token lifetime in seconds (default 3600)
//   IDP_USER, IDP_PASSWORD    the one account the login page accepts
//                             (default alice / wonderland)
//   IDP_INTROSPECTOR_SECRET   client_secret of the confidential client
//                             "e2e-introspector", which may introspect any
//                             token (required)
//   IDP_REFRESH_TOKENS        offline_access (default): refresh tokens only
//                             when offline_access was granted, which stock
//                             oidc-provider (OpenID Connect Core 11) only
//                             keeps with prompt=consent; always: to every
//                             client allowed the refresh_token grant
//   IDP_DPOP                  on (default, as stock oidc-provider) or off:
//                             whether DPoP (RFC 9449) is offered
//   IDP_DEBUG                 when set, every provider error goes to stderr
//   IDP_WATCH_STDIN           1: exit when stdin reaches its end
import crypto from 'node:crypto';
import http from 'node:http';

import Provider, { errors } from 'oidc-provider';

const env = (name, def) => {
  const v = process.env[name];
  if (v === undefined || v === '') {
    if (def === undefined) {
      console.error(`idp: ${name} is required`);
      process.exit(2);
    }
    return def;
  }
  return v;
};

const resources = new Set(env('IDP_RESOURCES').split(',').map((s) => s.trim()).filter(Boolean));
const accessTokenTTL = Number.parseInt(env('IDP_ACCESS_TOKEN_TTL', '3600'), 10);
if (!Number.isInteger(accessTokenTTL) || accessTokenTTL <= 0) {
  console.error('idp: IDP_ACCESS_TOKEN_TTL must be a positive number of seconds');
  process.exit(2);
}
const user = env('IDP_USER', 'alice');
const password = env('IDP_PASSWORD', 'wonderland');
const introspectorSecret = env('IDP_INTROSPECTOR_SECRET');
const refreshPolicy = env('IDP_REFRESH_TOKENS', 'offline_access');
if (refreshPolicy !== 'offline_access' && refreshPolicy !== 'always') {
  console.error('idp: IDP_REFRESH_TOKENS must be offline_access or always');
  process.exit(2);
}
const dpop = env('IDP_DPOP', 'on');
if (dpop !== 'on' && dpop !== 'off') {
  console.error('idp: IDP_DPOP must be on or off');
  process.exit(2);
}
const RESOURCE_SCOPE = 'mcp:tools';

// ---- pages (no external resources: the test machine has no network) -------

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({
  '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
}[c]));

const page = (title, body) => `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>${esc(title)}</title></head>
<body><h1>${esc(title)}</h1>${body}</body></html>`;

const loginPage = (uid, clientName, error) => page('Sign in', `
<p>Sign in to continue to <strong>${esc(clientName)}</strong>.</p>
${error ? `<p id="error">${esc(error)}</p>` : ''}
<form method="post" action="/interaction/${esc(uid)}/login" autocomplete="off">
  <label>User <input id="login" name="login" type="text" required></label>
  <label>Password <input id="password" name="password" type="password" required></label>
  <button id="signin" type="submit">Sign in</button>
</form>`);

const consentPage = (uid, clientName, details) => {
  const lines = [];
  for (const s of details.missingOIDCScope ?? []) lines.push(`<li>scope ${esc(s)}</li>`);
  for (const [res, scopes] of Object.entries(details.missingResourceScopes ?? {})) {
    lines.push(`<li>access to <code>${esc(res)}</code>: ${esc(scopes.join(' '))}</li>`);
  }
  return page('Authorize', `
<p><strong>${esc(clientName)}</strong> asks for:</p>
<ul>${lines.join('') || '<li>confirm a previous authorization</li>'}</ul>
<form method="post" action="/interaction/${esc(uid)}/consent">
  <button id="approve" name="decision" value="approve" type="submit">Approve</button>
  <button id="deny" name="decision" value="deny" type="submit">Deny</button>
</form>`);
};

// ---- provider ---------------------------------------------------------------

// Start-up stages go to stderr under IDP_DEBUG, so that a provider that does
// not come up tells where it stopped.
const t0 = performance.now();
const stage = (what) => {
  if (process.env.IDP_DEBUG) console.error(`idp: ${what} after ${Math.round(performance.now() - t0)} ms`);
};
stage('modules loaded');

const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
stage('signing key generated');
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: crypto.randomUUID(), alg: 'RS256', use: 'sig' };

const server = http.createServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(Number.parseInt(env('IDP_PORT', '0'), 10), '127.0.0.1', resolve);
});
const issuer = `http://127.0.0.1:${server.address().port}`;
stage(`listening on ${issuer}`);

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'e2e-introspector',
    client_secret: introspectorSecret,
    grant_types: [],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  jwks: { keys: [signingKey] },
  cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
  scopes: ['openid', 'offline_access'],
  claims: { openid: ['sub'] },
  async findAccount(_ctx, id) {
    if (id !== user) return undefined;
    return { accountId: id, async claims() { return { sub: id }; } };
  },
  pkce: { required: () => true },
  async issueRefreshToken(_ctx, client, source) {
    if (!client.grantTypeAllowed('refresh_token')) return false;
    return refreshPolicy === 'always' || source.scopes.has('offline_access');
  },
  rotateRefreshToken: true,
  ttl: {
    AccessToken: accessTokenTTL,
    AuthorizationCode: 60,
    DeviceCode: 600,
    Grant: 14 * 24 * 3600,
    Interaction: 600,
    RefreshToken: 14 * 24 * 3600,
    Session: 14 * 24 * 3600,
  },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  features: {
    devInteractions: { enabled: false },
    dPoP: { enabled: dpop === 'on' },
    registration: { enabled: true },
    revocation: { enabled: true },
    introspection: { enabled: true },
    deviceFlow: {
      enabled: true,
      async userCodeInputSource(ctx, form, _out, err) {
        const msg = err ? '<p id="error">The code you entered is incorrect. Try again.</p>' : '<p>Enter the code shown by your device.</p>';
        ctx.body = page('Device sign-in', `${msg}${form}<button id="continue" type="submit" form="op.deviceInputForm">Continue</button>`);
      },
      async userCodeConfirmSource(ctx, form, client, _deviceInfo, userCode) {
        ctx.body = page('Confirm device', `<p><strong>${esc(client.clientName || client.clientId)}</strong> shows the code <code id="user-code">${esc(userCode)}</code>.</p>${form}<button id="confirm" type="submit" form="op.deviceConfirmForm">Continue</button>`);
      },
      async successSource(ctx) {
        ctx.body = page('Device signed in', '<p id="device-success">Your device is signed in. You can close this page.</p>');
      },
    },
    resourceIndicators: {
      enabled: true,
      // Without a resource parameter, use the only resource there is.
      defaultResource: (_ctx, _client, oneOf) => oneOf ?? (resources.size === 1 ? [...resources][0] : undefined),
      useGrantedResource: () => true,
      async getResourceServerInfo(_ctx, resourceIndicator) {
        if (!resources.has(resourceIndicator)) throw new errors.InvalidTarget();
        return {
          scope: RESOURCE_SCOPE,
          audience: resourceIndicator,
          accessTokenTTL,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
  async renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = page('Error', `<p id="error">${esc(out.error)}: ${esc(out.error_description ?? '')}</p>`);
  },
});

if (process.env.IDP_DEBUG) {
  for (const ev of ['server_error', 'grant.error', 'authorization.error', 'registration_create.error',
    'revocation.error', 'introspection.error', 'device_authorization.error', 'backchannel.error']) {
    provider.on(ev, (_ctx, err) => console.error(`idp: ${ev}: ${err?.message} ${err?.error_description ?? ''}`));
  }
  provider.on('grant.success', (ctx) => {
    const at = ctx.oidc.entities.AccessToken;
    console.error(`idp: grant.success ${ctx.oidc.params.grant_type} resource=${ctx.oidc.params.resource ?? '-'} at.aud=${at?.aud ?? at?.resourceServer?.audience ?? '-'} format=${at?.resourceServer?.accessTokenFormat ?? 'opaque'}`);
  });
} else {
  provider.on('server_error', (_ctx, err) => console.error(`idp: server_error: ${err?.message}`));
}

// ---- interactions -------------------------------------------------------------

const readForm = (req) => new Promise((resolve, reject) => {
  let size = 0;
  const chunks = [];
  req.on('data', (c) => {
    size += c.length;
    if (size > 64 * 1024) {
      reject(new Error('form too large'));
      req.destroy();
      return;
    }
    chunks.push(c);
  });
  req.on('end', () => resolve(new URLSearchParams(Buffer.concat(chunks).toString('utf8'))));
  req.on('error', reject);
});

const sendHTML = (res, status, html) => {
  res.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(html);
};

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) {
    sendHTML(res, 400, page('Error', '<p id="error">interaction mismatch</p>'));
    return;
  }
  const client = await provider.Client.find(details.params.client_id);
  const clientName = client?.clientName || details.params.client_id;
  const { prompt } = details;

  if (req.method === 'GET') {
    if (prompt.name === 'login') sendHTML(res, 200, loginPage(uid, clientName));
    else sendHTML(res, 200, consentPage(uid, clientName, prompt.details));
    return;
  }
  if (req.method !== 'POST') {
    sendHTML(res, 405, page('Error', '<p id="error">method not allowed</p>'));
    return;
  }
  const form = await readForm(req);
  if (action === 'login' && prompt.name === 'login') {
    const a = Buffer.from(`${form.get('login') ?? ''}\0${form.get('password') ?? ''}`);
    const b = Buffer.from(`${user}\0${password}`);
    if (a.length !== b.length || !crypto.timingSafeEqual(a, b)) {
      sendHTML(res, 200, loginPage(uid, clientName, 'Wrong user or password.'));
      return;
    }
    await provider.interactionFinished(req, res, { login: { accountId: user } }, { mergeWithLastSubmission: false });
    return;
  }
  if (action === 'consent' && prompt.name === 'consent') {
    if (form.get('decision') !== 'approve') {
      await provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'the user denied the request' }, { mergeWithLastSubmission: false });
      return;
    }
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
    const d = prompt.details;
    if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
    if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(d.missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const grantId = await grant.save();
    await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    return;
  }
  sendHTML(res, 400, page('Error', `<p id="error">unexpected ${esc(action)} for prompt ${esc(prompt.name)}</p>`));
}

stage('provider configured');
const providerCallback = provider.callback();
server.on('request', (req, res) => {
  const m = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login|consent))?$/.exec(req.url.split('?')[0]);
  if (!m) {
    providerCallback(req, res);
    return;
  }
  interaction(req, res, m[1], m[2]).catch((err) => {
    if (process.env.IDP_DEBUG) console.error(`idp: interaction: ${err?.message}`);
    if (!res.headersSent) sendHTML(res, 400, page('Error', `<p id="error">${esc(err?.name ?? 'error')}: ${esc(err?.message ?? '')}</p>`));
    else res.end();
  });
});

const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
// IDP_WATCH_STDIN=1: the parent owns this process through a pipe on stdin,
// and its end (the parent exited, even by a crash) stops the provider.
if (process.env.IDP_WATCH_STDIN === '1') {
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('error', () => process.exit(0));
  process.stdin.resume();
}

console.log(`IDP_ISSUER=${issuer}`);
