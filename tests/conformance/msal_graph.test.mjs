// Microsoft's own client libraries against the local Microsoft stand-in: @azure/msal-node does
// the code + PKCE flow, its token cache and silent refresh; @microsoft/microsoft-graph-client
// calls /me and sendMail with its default middleware (auth, retry, telemetry). Where the
// stand-in drifts from what these libraries expect of Microsoft, a case here fails.
// Every case names the Microsoft source it follows (README.md lists them).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import * as msal from '@azure/msal-node';
import { Client, GraphError } from '@microsoft/microsoft-graph-client';

import { MicrosoftStandIn } from './standin.mjs';

const CLIENT_ID = '11111111-2222-4333-8444-555555555555';  // the default scenario's public app
const REDIRECT = 'http://127.0.0.1/callback';
const SCOPES = ['User.Read', 'Mail.Send'];
const ADELE = 'adele@contoso.example';
const MEGAN = 'megan.personal@outlook.com';

let s;
before(async () => { s = await MicrosoftStandIn.start(process.env.CONFORMANCE_BUILD_DIR); });
after(async () => { await s?.stop(); });

function newApp() {
  return new msal.PublicClientApplication({
    // knownAuthorities: MSAL trusts this host and reads its openid-configuration (no call to
    // login.microsoftonline.com's instance discovery).
    auth: { clientId: CLIENT_ID, authority: `${s.url}/common`, knownAuthorities: [s.host] },
    system: { loggerOptions: { logLevel: msal.LogLevel.Error, piiLoggingEnabled: false, loggerCallback: () => {} } },
  });
}

// Interactive sign-in: MSAL's authorize URL and PKCE, the stand-in's pages, MSAL's code redemption.
async function connect(app, user, { claims, autopilot = {} } = {}) {
  const { verifier, challenge } = await new msal.CryptoProvider().generatePkceCodes();
  const url = await app.getAuthCodeUrl({ scopes: SCOPES, redirectUri: REDIRECT, codeChallenge: challenge,
                                         codeChallengeMethod: 'S256', state: 'conformance-state', claims });
  const q = await s.signIn(url, user, autopilot);
  assert.equal(q.get('state'), 'conformance-state');
  assert.ok(q.get('code'), 'the callback carries a code');
  return app.acquireTokenByCode({ code: q.get('code'), scopes: SCOPES, redirectUri: REDIRECT, codeVerifier: verifier, claims });
}

// The access token has expired, for MSAL (its cache says so) and for the stand-in (its clock).
async function expire(app) {
  const cache = app.getTokenCache();
  const data = JSON.parse(cache.serialize());
  const past = String(Math.floor(Date.now() / 1000) - 60);
  for (const at of Object.values(data.AccessToken ?? {})) {
    at.expires_on = past;
    at.extended_expires_on = past;
  }
  await cache.deserialize(JSON.stringify(data));
  await s.control('POST', '/_sandbox/clock', { advance_seconds: 3600 });
}

function graph(app, account) {
  return Client.init({
    baseUrl: `${s.url}/`,
    customHosts: new Set(['127.0.0.1']),  // graph-client sends the bearer token only to Graph hosts
    authProvider: (done) => app.acquireTokenSilent({ account, scopes: SCOPES })
      .then((r) => done(null, r.accessToken), (e) => done(e, null)),
  });
}

const message = (subject) => ({ message: { subject, body: { contentType: 'Text', content: 'Hello' },
                                           toRecipients: [{ emailAddress: { address: 'candidate@example.org' } }] } });

async function rejection(promise) {
  try {
    await promise;
  } catch (e) {
    return e;
  }
  assert.fail('expected the call to fail');
}

describe('msal-node against the stand-in', () => {
  // Code + PKCE (learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow); token
  // shapes as in outlook_plugin/docs/microsoft-behaviour.md §9 (work-account Graph tokens are ~1.5-2.5 KB JWTs).
  test('code + PKCE: MSAL redeems the code and caches a real-sized token for the account', async () => {
    const app = newApp();
    const r = await connect(app, ADELE);
    assert.equal(r.account.username, ADELE);
    assert.equal(r.tenantId, '6f1c7c1e-3d2a-4c5b-9a8e-2b1d0c9e8f71');
    assert.ok(r.scopes.includes('Mail.Send') && r.scopes.includes('User.Read'), `granted: ${r.scopes.join(' ')}`);
    assert.ok(r.accessToken.length >= 1500 && r.accessToken.length <= 2500, `access token of ${r.accessToken.length} chars`);
    assert.equal(r.accessToken.split('.').length, 3, 'a work account gets a JWT');
    const accounts = await app.getTokenCache().getAllAccounts();
    assert.equal(accounts.length, 1);
  });

  // MSAL answers acquireTokenSilent from its cache when the cached token's scopes cover the
  // request (msal-common ScopeSet.containsScopeSet). Microsoft returns short names to short
  // requests (msal-common test_kit StringConstants.ts: "openid profile User.Read email"); a
  // stand-in answering URIs makes every silent call a network refresh.
  test('acquireTokenSilent with short scope names is served from MSAL\'s cache', async () => {
    const app = newApp();
    const first = await connect(app, ADELE);
    const before = await s.refreshCount(ADELE);
    const again = await app.acquireTokenSilent({ account: first.account, scopes: ['User.Read', 'Mail.Send'] });
    assert.ok(again.accessToken === first.accessToken, 'the cached access token is returned');
    assert.equal(again.fromCache, true);
    assert.equal(await s.refreshCount(ADELE), before, 'no refresh_token request was made');
  });

  // Refresh after expiry with rotation (refresh-tokens doc: a new refresh token on every use;
  // old ones stay valid at Microsoft, and the stand-in can also invalidate them on use).
  for (const oldStaysValid of [true, false]) {
    test(`silent refresh after expiry (old refresh token stays valid: ${oldStaysValid})`, async () => {
      await s.settings({ old_refresh_token_stays_valid: oldStaysValid });
      try {
        const app = newApp();
        const first = await connect(app, ADELE);
        for (let round = 1; round <= 2; ++round) {
          await expire(app);
          const before = await s.refreshCount(ADELE);
          const r = await app.acquireTokenSilent({ account: first.account, scopes: SCOPES });
          assert.equal(r.fromCache, false, `round ${round}: a network refresh`);
          assert.equal(await s.refreshCount(ADELE), before + 1, `round ${round}: exactly one refresh_token request`);
          assert.ok(r.scopes.includes('Mail.Send'), `round ${round}: ${r.scopes.join(' ')}`);
          // Round 2 only works if MSAL kept the rotated refresh token from round 1.
        }
      } finally {
        await s.settings({ old_refresh_token_stays_valid: true });
      }
    });
  }

  // Dead grants (outlook_plugin/docs/microsoft-behaviour.md §3/§9; msal-common InteractionRequiredAuthError.ts: suberrors
  // bad_token, consent_required, basic_action ... make it "interaction required").
  const deadGrants = [
    { reason: 'password_change', errorCode: 'invalid_grant', subError: 'bad_token', aadsts: 50173 },
    { reason: 'inactivity', errorCode: 'invalid_grant', subError: 'bad_token', aadsts: 700082 },
    { reason: 'consent_revoked', errorCode: 'invalid_grant', subError: 'consent_required', aadsts: 65001 },
    { reason: 'mfa_required', errorCode: 'interaction_required', subError: 'basic_action', aadsts: 50076 },
  ];
  for (const c of deadGrants) {
    test(`dead grant AADSTS${c.aadsts} surfaces as InteractionRequiredAuthError (${c.subError})`, async () => {
      const app = newApp();
      const first = await connect(app, ADELE);
      await s.revoke(ADELE, c.reason);
      await expire(app);
      const e = await rejection(app.acquireTokenSilent({ account: first.account, scopes: SCOPES }));
      assert.ok(e instanceof msal.InteractionRequiredAuthError, `${e.name}: ${e.errorCode} ${e.subError}`);
      assert.equal(e.errorCode, c.errorCode);
      assert.equal(e.subError, c.subError);
      assert.match(e.errorMessage, new RegExp(`^AADSTS${c.aadsts}:`));
    });
  }

  // A refresh token already rotated away (two copies of one cache): 70008 + bad_token.
  test('dead grant AADSTS70008 (rotated refresh token) surfaces as InteractionRequiredAuthError (bad_token)', async () => {
    await s.settings({ old_refresh_token_stays_valid: false });
    try {
      const app = newApp();
      const first = await connect(app, ADELE);
      const stale = app.getTokenCache().serialize();
      await expire(app);
      await app.acquireTokenSilent({ account: first.account, scopes: SCOPES });
      await app.getTokenCache().deserialize(stale);
      await expire(app);
      const e = await rejection(app.acquireTokenSilent({ account: first.account, scopes: SCOPES }));
      assert.ok(e instanceof msal.InteractionRequiredAuthError, `${e.name}: ${e.errorCode} ${e.subError}`);
      assert.equal(e.subError, 'bad_token');
      assert.match(e.errorMessage, /^AADSTS70008:/);
    } finally {
      await s.settings({ old_refresh_token_stays_valid: true });
    }
  });

  // AADSTS70043 (sign-in frequency) comes with suberror token_expired, which MSAL does not
  // list as "interaction required": it surfaces as a ServerError carrying the suberror.
  test('AADSTS70043 surfaces as ServerError with subError token_expired', async () => {
    const app = newApp();
    const first = await connect(app, ADELE);
    await s.revoke(ADELE, 'signin_frequency');
    await expire(app);
    const e = await rejection(app.acquireTokenSilent({ account: first.account, scopes: SCOPES }));
    assert.ok(e instanceof msal.ServerError && !(e instanceof msal.InteractionRequiredAuthError), `${e.name}`);
    assert.equal(e.errorCode, 'invalid_grant');
    assert.equal(e.subError, 'token_expired');
  });

  // MSAL puts its correlation id in the token URL's query (client-request-id); Microsoft
  // echoes it as correlation_id, which MSAL reports on errors.
  test('errors carry the correlation id MSAL sent', async () => {
    const app = newApp();
    const first = await connect(app, ADELE);
    await s.revoke(ADELE, 'password_change');
    await expire(app);
    const correlationId = '0c0ffee0-1234-4abc-8def-0123456789ab';
    const e = await rejection(app.acquireTokenSilent({ account: first.account, scopes: SCOPES, correlationId }));
    assert.equal(e.correlationId, correlationId);
    assert.match(e.errorMessage, new RegExp(`Correlation ID: ${correlationId}`));
  });

  // Additive consent (Microsoft Q&A 78683; outlook_plugin/docs/microsoft-behaviour.md §9): an earlier tenant-wide consent
  // shows up in the token; MSAL caches it and still serves the narrower request from cache.
  test('earlier consents in the token: MSAL keeps them and serves SCOPES from its cache', async () => {
    await s.control('POST', '/_sandbox/tenants/contoso.example/consents', { add: ['Calendars.Read'] });
    try {
      const app = newApp();
      const r = await connect(app, ADELE);
      assert.ok(r.scopes.includes('Calendars.Read'), `granted: ${r.scopes.join(' ')}`);
      const before = await s.refreshCount(ADELE);
      const again = await app.acquireTokenSilent({ account: r.account, scopes: SCOPES });
      assert.equal(again.fromCache, true);
      assert.equal(await s.refreshCount(ADELE), before);
    } finally {
      await s.control('POST', '/_sandbox/tenants/contoso.example/consents', { remove: ['Calendars.Read'] });
    }
  });

  // Without "scope" in the answer (outlook_plugin/docs/microsoft-behaviour.md §2: "may be absent"), MSAL records the token for
  // the scopes it asked for (msal-common ResponseHandler); URIs asked -> URIs answered and cached.
  test('an absent scope and fully qualified scopes are cached for what was asked', async () => {
    await s.settings({ token_scope_omitted: true });
    try {
      const app = newApp();
      const r = await connect(app, ADELE);
      assert.deepEqual(r.scopes.filter((x) => SCOPES.includes(x)).sort(), [...SCOPES].sort());
      assert.equal((await app.acquireTokenSilent({ account: r.account, scopes: SCOPES })).fromCache, true);
    } finally {
      await s.settings({ token_scope_omitted: false });
    }
    const uris = SCOPES.map((x) => `https://graph.microsoft.com/${x}`);
    const app = newApp();
    const { verifier, challenge } = await new msal.CryptoProvider().generatePkceCodes();
    const url = await app.getAuthCodeUrl({ scopes: uris, redirectUri: REDIRECT, codeChallenge: challenge, codeChallengeMethod: 'S256' });
    const q = await s.signIn(url, ADELE);
    const r = await app.acquireTokenByCode({ code: q.get('code'), scopes: uris, redirectUri: REDIRECT, codeVerifier: verifier });
    assert.ok(uris.every((x) => r.scopes.includes(x)), `granted: ${r.scopes.join(' ')}`);
    assert.equal((await app.acquireTokenSilent({ account: r.account, scopes: uris })).fromCache, true);
  });

  // Personal accounts get opaque tokens (outlook_plugin/docs/microsoft-behaviour.md §9); MSAL handles them the same way.
  test('a personal account signs in through /common', async () => {
    const r = await connect(newApp(), MEGAN);
    assert.equal(r.account.username, MEGAN);
    assert.equal(r.tenantId, '9188040d-6c67-4c5b-b112-36a304b66dad');
    assert.equal(r.accessToken.split('.').length, 1, 'not a JWT');
  });
});

// acquireTokenInteractive: MSAL's own loopback server (http://localhost:<port>, form_post)
// receives the stand-in's answer. "The browser" is the autopilot, whose form_post fields are
// posted to MSAL's listener as the auto-submitting page would.
async function interactive(app, user, answer = 'accept') {
  return app.acquireTokenInteractive({
    scopes: SCOPES,
    openBrowser: async (url) => {
      const r = await s.control('POST', '/_sandbox/autopilot', { authorize_url: url, user, answer });
      assert.ok(r.form_post, `page ${r.page}: no form_post back to MSAL`);
      await fetch(r.form_post.action, { method: 'POST', body: new URLSearchParams(r.form_post.fields) });
    },
  });
}

describe('msal-node acquireTokenInteractive against the stand-in', () => {
  // form_post to a loopback redirect (v2-oauth2-auth-code-flow: response_mode=form_post;
  // reply-url doc: the port of a loopback redirect URI is ignored).
  test('sign-in through MSAL\'s loopback listener', async () => {
    const r = await interactive(newApp(), ADELE);
    assert.equal(r.account.username, ADELE);
  });

  // The Cancel shapes (MicrosoftDocs/azure-docs #114009 and #59872; MSAL.NET #1736): MSAL
  // reports them as they come; consent_required is one MSAL would call "interaction required".
  test('Cancel on the consent page: access_denied with AADSTS65004', async () => {
    await s.revoke(ADELE, 'consent_revoked');
    const e = await rejection(interactive(newApp(), ADELE, 'cancel'));
    assert.equal(e.errorCode, 'access_denied', `${e.name}: ${e.errorCode}`);
    assert.match(e.errorMessage, /^AADSTS65004:/);
  });

  test('the Back button: access_denied without a description', async () => {
    const e = await rejection(interactive(newApp(), ADELE, 'back'));
    assert.equal(e.errorCode, 'access_denied', `${e.name}: ${e.errorCode}`);
    assert.doesNotMatch(e.errorMessage, /AADSTS/, 'no error_description, so MSAL has only its own text');
  });

  test('a tenant that reports Cancel as consent_required', async () => {
    await s.control('POST', '/_sandbox/tenants/contoso.example/options', { cancel_as_consent_required: true });
    try {
      const e = await rejection(interactive(newApp(), ADELE, 'cancel'));
      assert.equal(e.errorCode, 'consent_required', `${e.name}: ${e.errorCode}`);
      assert.doesNotMatch(e.errorMessage, /AADSTS/);
    } finally {
      await s.control('POST', '/_sandbox/tenants/contoso.example/options', { cancel_as_consent_required: false });
    }
    // Consenting again afterwards works.
    assert.equal((await interactive(newApp(), ADELE)).account.username, ADELE);
  });
});

describe('graph-client against the stand-in', () => {
  // GET /me (learn.microsoft.com/graph/api/user-get) and sendMail (.../user-sendmail: 202).
  test('/me and sendMail through graph-client with MSAL as auth provider', async () => {
    const app = newApp();
    const { account } = await connect(app, ADELE);
    const client = graph(app, account);
    const me = await client.api('/me').select('displayName,mail,userPrincipalName').get();
    assert.equal(me.userPrincipalName, ADELE);
    assert.equal(me.mail, ADELE);
    await s.control('DELETE', '/_sandbox/messages');
    await client.api('/me/sendMail').post(message('conformance: hello'));
    const { messages } = await s.control('GET', `/_sandbox/messages?user=${ADELE}`);
    assert.deepEqual(messages.map((m) => m.subject), ['conformance: hello']);
  });

  // MIME sendMail (learn.microsoft.com/graph/api/user-sendmail, "Example 4: Send a new message
  // using MIME format"): Content-Type text/plain, the RFC 5322 message base64-encoded; 202.
  // graph-client sends a string body as it is. The stand-in records the threading headers.
  test('MIME sendMail through graph-client: accepted and recorded with its headers', async () => {
    const app = newApp();
    const { account } = await connect(app, ADELE);
    await s.control('DELETE', '/_sandbox/messages');
    const mime = [
      `From: Adele Vance <${ADELE}>`,
      'To: Candidate <candidate@example.org>',
      'Subject: conformance: mime follow-up',
      'Message-ID: <nudge.3@contoso.example>',
      'In-Reply-To: <nudge.2@contoso.example>',
      'References: <nudge.1@contoso.example> <nudge.2@contoso.example>',
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=utf-8',
      '',
      'Hello again',
      '',
    ].join('\r\n');
    await graph(app, account).api('/me/sendMail').header('Content-Type', 'text/plain')
      .post(Buffer.from(mime).toString('base64'));
    const { messages } = await s.control('GET', `/_sandbox/messages?user=${ADELE}`);
    assert.equal(messages.length, 1);
    const [m] = messages;
    assert.equal(m.mime, true);
    assert.equal(m.subject, 'conformance: mime follow-up');
    assert.equal(m.from, ADELE);
    assert.deepEqual(m.to.map((r) => r.address), ['candidate@example.org']);
    assert.equal(m.message_id, '<nudge.3@contoso.example>');
    assert.equal(m.in_reply_to, '<nudge.2@contoso.example>');
    assert.deepEqual(m.references, ['<nudge.1@contoso.example>', '<nudge.2@contoso.example>']);
  });

  // The same page: malformed MIME content is 400 ErrorMimeContentInvalidBase64String.
  test('MIME sendMail with a body that is not base64 is a 400 GraphError', async () => {
    const app = newApp();
    const { account } = await connect(app, ADELE);
    await s.control('DELETE', '/_sandbox/messages');
    const e = await rejection(graph(app, account).api('/me/sendMail').header('Content-Type', 'text/plain')
      .post('!!! not base64 !!!'));
    assert.ok(e instanceof GraphError, e.name);
    assert.equal(e.statusCode, 400);
    assert.equal(e.code, 'ErrorMimeContentInvalidBase64String');
    const { messages } = await s.control('GET', `/_sandbox/messages?user=${ADELE}`);
    assert.equal(messages.length, 0);
  });

  // Graph error JSON (learn.microsoft.com/graph/errors) parsed into GraphError.
  test('a 403 ErrorAccessDenied becomes a GraphError with code and request id', async () => {
    const app = newApp();
    const { account } = await connect(app, ADELE);
    await s.control('POST', '/_sandbox/faults', { endpoint: 'sendMail', action: 'access_denied', times: 1 });
    const e = await rejection(graph(app, account).api('/me/sendMail').post(message('denied')));
    assert.ok(e instanceof GraphError, e.name);
    assert.equal(e.statusCode, 403);
    assert.equal(e.code, 'ErrorAccessDenied');
    assert.match(e.requestId ?? '', /^[0-9a-f-]{36}$/);
  });

  // Throttling (learn.microsoft.com/graph/throttling): 429 + Retry-After; graph-client's
  // RetryHandler waits and sends again; the mail goes out once.
  test('429 with Retry-After is retried by graph-client\'s RetryHandler', async () => {
    const app = newApp();
    const { account } = await connect(app, ADELE);
    await s.control('DELETE', '/_sandbox/messages');
    await s.control('POST', '/_sandbox/reset-counters');
    await s.control('POST', '/_sandbox/faults', { endpoint: 'sendMail', action: 'status', status: 429, retry_after: '1', times: 1 });
    await graph(app, account).api('/me/sendMail').post(message('after throttling'));
    const counters = await s.control('GET', '/_sandbox/counters');
    assert.equal(counters.requests.sendMail, 2, 'one 429, one retry');
    const { messages } = await s.control('GET', `/_sandbox/messages?user=${ADELE}`);
    assert.equal(messages.length, 1);
  });

  // Continuous access evaluation (MicrosoftDocs azure-docs claims-challenge.md; Azure SDK CAE
  // recordings): 401 + WWW-Authenticate error="insufficient_claims", claims="<base64>"; a
  // refresh with the claims does not cure it, an interactive sign-in carrying them does.
  test('CAE: the claims challenge reaches graph-client, and MSAL\'s interactive sign-in with the claims cures it', async () => {
    const app = newApp();
    const { account } = await connect(app, ADELE);
    const client = graph(app, account);
    await client.api('/me').get();
    await s.control('POST', `/_sandbox/users/${ADELE}/cae-event`, { event: 'session_revoked' });
    const e = await rejection(client.api('/me').get());
    assert.ok(e instanceof GraphError, e.name);
    assert.equal(e.statusCode, 401);
    assert.equal(e.code, 'InvalidAuthenticationToken');
    const www = e.headers?.get('www-authenticate') ?? '';
    assert.match(www, /error="insufficient_claims"/);
    const claims = Buffer.from(www.match(/claims="([^"]+)"/)[1], 'base64').toString('utf8');
    assert.equal(JSON.parse(claims).access_token.nbf.essential, true);

    const silent = await app.acquireTokenSilent({ account, scopes: SCOPES, claims });
    assert.equal(silent.fromCache, false, 'claims make MSAL skip its cache');
    const still = await rejection(Client.init({ baseUrl: `${s.url}/`, customHosts: new Set(['127.0.0.1']),
                                                authProvider: (done) => done(null, silent.accessToken) }).api('/me').get());
    assert.equal(still.statusCode, 401, 'a refreshed token is challenged too');

    const cured = await connect(app, ADELE, { claims });
    const me = await Client.init({ baseUrl: `${s.url}/`, customHosts: new Set(['127.0.0.1']),
                                   authProvider: (done) => done(null, cured.accessToken) }).api('/me').get();
    assert.equal(me.userPrincipalName, ADELE);
  });

  // An administrator removes Mail.Send (outlook_plugin/docs/microsoft-behaviour.md §9): the next refresh succeeds without it;
  // sendMail is 403 ErrorAccessDenied.
  test('a removed Mail.Send: MSAL\'s next token lacks it and sendMail is ErrorAccessDenied', async () => {
    const app = newApp();
    const { account } = await connect(app, ADELE);
    await s.control('POST', `/_sandbox/users/${ADELE}/consents`, { remove: ['Mail.Send'] });
    try {
      await expire(app);
      const r = await app.acquireTokenSilent({ account, scopes: SCOPES });
      assert.ok(!r.scopes.map((x) => x.toLowerCase()).includes('mail.send'), `granted: ${r.scopes.join(' ')}`);
      const e = await rejection(graph(app, account).api('/me/sendMail').post(message('not allowed')));
      assert.equal(e.statusCode, 403);
      assert.equal(e.code, 'ErrorAccessDenied');
    } finally {
      await s.control('POST', `/_sandbox/users/${ADELE}/consents`, { add: ['Mail.Send'] });
    }
  });
});
