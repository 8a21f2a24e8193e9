// Google's own client libraries against the local Google stand-in (sandboxes/google):
// google-auth-library's OAuth2Client does the code + PKCE flow, the ID token check, refresh and
// revoke; @googleapis/gmail sends through users.messages.send in JSON and upload form. Where the
// stand-in drifts from what these libraries expect of Google, a case here fails.
//
// Versions (package-lock.json): @googleapis/gmail 18.0.0 depends on googleapis-common 8.0.x,
// which pins google-auth-library 10.5.0; that is the google-auth-library this test uses, so npm
// installs one copy and gmail's requests go through the very OAuth2Client built here. (With
// google-auth-library 9 beside @googleapis/gmail 18, two copies, gmail was seen to send no
// Authorization header at all.)
//
// Every case names the source it follows (README.md lists them). Tokens are compared with
// assert.ok(boolean, message), so a failure never prints one; gaxios redacts secrets in its
// errors (its defaultErrorRedactor).
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';

import { gmail as gmailApi } from '@googleapis/gmail';
import { CodeChallengeMethod, OAuth2Client, gaxios } from 'google-auth-library';

import { GoogleStandIn } from './standin.mjs';

const CLIENT_ID = '1234567890-recruiting.apps.googleusercontent.com';  // the default scenario's app
const REDIRECT = 'http://127.0.0.1/callback';
const GMAIL_SEND = 'https://www.googleapis.com/auth/gmail.send';
const SCOPES = ['openid', 'email', GMAIL_SEND];
const GRACE = 'grace@gmail.example';
const ALAN = 'alan@acme.example';  // a Workspace account

let s;
before(async () => { s = await GoogleStandIn.start(process.env.CONFORMANCE_BUILD_DIR); });
after(async () => { await s?.stop(); });

// The library's `endpoints` option points every Google URL at the stand-in
// (google-auth-library-nodejs src/auth/oauth2client.ts, OAuth2ClientOptions.endpoints); the
// issuers stay the library's defaults, since the stand-in signs as https://accounts.google.com.
function newClient() {
  return new OAuth2Client({
    clientId: CLIENT_ID,
    clientSecret: s.clientSecret(),
    redirectUri: REDIRECT,
    endpoints: {
      oauth2AuthBaseUrl: `${s.url}/o/oauth2/v2/auth`,
      oauth2TokenUrl: `${s.url}/token`,
      oauth2RevokeUrl: `${s.url}/revoke`,
      oauth2FederatedSignonPemCertsUrl: `${s.url}/oauth2/v1/certs`,
      oauth2FederatedSignonJwkCertsUrl: `${s.url}/oauth2/v3/certs`,
    },
  });
}

// Sign-in: the library's authorize URL with PKCE (S256) and offline access, the stand-in's pages,
// the library's code redemption. Returns the client holding the tokens. Google gives a refresh
// token only on the first offline exchange of an account and client, or with prompt=consent
// (developers.google.com/identity/protocols/oauth2/web-server, "access_type" and "prompt"), so
// every later sign-in here asks for consent again.
async function connect(user = GRACE) {
  const client = newClient();
  const { codeVerifier, codeChallenge } = await client.generateCodeVerifierAsync();
  const url = client.generateAuthUrl({ access_type: 'offline', prompt: 'consent', scope: SCOPES, state: 'conformance-state',
                                       code_challenge_method: CodeChallengeMethod.S256, code_challenge: codeChallenge });
  const q = await s.signIn(url, user);
  assert.equal(q.get('state'), 'conformance-state');
  assert.ok(q.get('code'), 'the callback carries a code');
  const { tokens } = await client.getToken({ code: q.get('code'), codeVerifier });
  client.setCredentials(tokens);
  return client;
}

async function rejection(promise) {
  try {
    await promise;
  } catch (e) {
    return e;
  }
  assert.fail('expected the call to fail');
}

const aliveCount = async (refreshToken) =>
  (await s.control('POST', '/_sandbox/refresh-tokens/status', { refresh_token: refreshToken })).alive;

describe('google-auth-library OAuth2Client against the stand-in', () => {
  // PKCE and offline access: developers.google.com/identity/protocols/oauth2/native-app (step 1,
  // code_challenge_method S256) and /oauth2/web-server (access_type=offline brings a refresh
  // token); the library's generateCodeVerifierAsync makes a 128-character verifier
  // (google-auth-library-nodejs test/test.oauth2.ts "should generate a valid code verifier").
  test('generateAuthUrl with PKCE → stand-in pages → getToken({code, codeVerifier})', async () => {
    const client = newClient();
    const { codeVerifier, codeChallenge } = await client.generateCodeVerifierAsync();
    assert.equal(codeVerifier.length, 128);
    const url = new URL(client.generateAuthUrl({ access_type: 'offline', scope: SCOPES,
                                                 code_challenge_method: CodeChallengeMethod.S256, code_challenge: codeChallenge }));
    assert.equal(url.origin + url.pathname, `${s.url}/o/oauth2/v2/auth`);
    assert.equal(url.searchParams.get('code_challenge_method'), 'S256');
    assert.equal(url.searchParams.get('scope'), SCOPES.join(' '));
    const q = await s.signIn(url.toString(), GRACE);
    const { tokens } = await client.getToken({ code: q.get('code'), codeVerifier });
    assert.ok(/^ya29\./.test(tokens.access_token), 'the access token starts ya29.');
    assert.ok(/^1\/\/0/.test(tokens.refresh_token), 'the refresh token starts 1//0');
    assert.equal(tokens.token_type, 'Bearer');
    assert.ok(tokens.id_token, 'openid brings an id_token');
    assert.ok(tokens.scope.split(' ').includes(GMAIL_SEND), 'gmail.send was granted');
    // The library turns expires_in (3599 s) into an absolute expiry_date.
    assert.ok(Math.abs(tokens.expiry_date - (Date.now() + 3599 * 1000)) < 60 * 1000);
  });

  // oauth2/web-server "Refresh token expiration" / "access_type": the refresh token comes with
  // the first offline exchange; a later sign-in without prompt=consent, while that token lives,
  // brings none, and the library has none to keep.
  test('a second offline sign-in without prompt=consent brings no refresh token', async () => {
    const first = await connect(ALAN);
    assert.ok(first.credentials.refresh_token, 'the first sign-in brings a refresh token');
    const client = newClient();
    const { codeVerifier, codeChallenge } = await client.generateCodeVerifierAsync();
    const url = client.generateAuthUrl({ access_type: 'offline', scope: SCOPES, login_hint: ALAN,
                                         code_challenge_method: CodeChallengeMethod.S256, code_challenge: codeChallenge });
    const q = await s.signIn(url, ALAN);
    const { tokens } = await client.getToken({ code: q.get('code'), codeVerifier });
    assert.ok(/^ya29\./.test(tokens.access_token), 'the access token starts ya29.');
    assert.ok(tokens.refresh_token === undefined, 'no refresh token this time');
  });

  // oauth2/native-app step 5: the code_verifier must match the challenge; Google answers
  // invalid_grant, which the library throws as a GaxiosError carrying the answer.
  test('getToken with a wrong code verifier → GaxiosError invalid_grant', async () => {
    const client = newClient();
    const { codeChallenge } = await client.generateCodeVerifierAsync();
    const url = client.generateAuthUrl({ access_type: 'offline', scope: SCOPES,
                                         code_challenge_method: CodeChallengeMethod.S256, code_challenge: codeChallenge });
    const q = await s.signIn(url, GRACE);
    const other = await client.generateCodeVerifierAsync();
    const e = await rejection(client.getToken({ code: q.get('code'), codeVerifier: other.codeVerifier }));
    assert.ok(e instanceof gaxios.GaxiosError);
    assert.equal(e.status, 400);
    assert.equal(e.response.data.error, 'invalid_grant');
  });

  // developers.google.com/identity/openid-connect/openid-connect "Validating an ID token" (iss is
  // https://accounts.google.com, aud is the client id); the library fetches the PEM certs from
  // oauth2FederatedSignonPemCertsUrl and checks kid, signature, iat/exp, iss ∈ its default
  // issuers and aud (google-auth-library-nodejs src/auth/oauth2client.ts verifySignedJwtWithCertsAsync).
  test('verifyIdToken against the stand-in\'s certs, and a wrong audience refused', async () => {
    const client = await connect();
    const ticket = await client.verifyIdToken({ idToken: client.credentials.id_token, audience: CLIENT_ID });
    const p = ticket.getPayload();
    assert.equal(p.iss, 'https://accounts.google.com');
    assert.equal(p.aud, CLIENT_ID);
    assert.equal(p.email, GRACE);
    assert.equal(p.email_verified, true);
    assert.match(p.sub, /^\d+$/);
    const e = await rejection(client.verifyIdToken({ idToken: client.credentials.id_token, audience: 'someone-else.apps.googleusercontent.com' }));
    assert.match(e.message, /Wrong recipient/);
  });

  // oauth2/web-server "Refreshing an access token": the answer has a new access_token and no
  // refresh_token; the library keeps the one it had (oauth2client.ts refreshAccessTokenAsync,
  // getAccessTokenAsync refreshes when expiry_date has passed).
  test('getAccessToken after expiry refreshes and keeps the old refresh token', async () => {
    const client = await connect();
    const { access_token: oldAccess, refresh_token: refreshToken } = client.credentials;
    const answered = [];
    client.on('tokens', (t) => answered.push({ ...t }));  // a copy: the library then adds its refresh token to t
    client.credentials.expiry_date = Date.now() - 1000;
    await s.control('POST', '/_sandbox/clock', { advance_seconds: 3600 });
    const { token } = await client.getAccessToken();
    assert.ok(/^ya29\./.test(token), 'the access token starts ya29.');
    assert.ok(token !== oldAccess, 'a new access token');
    assert.equal(answered.length, 1);
    assert.ok(answered[0].refresh_token === undefined, 'Google\'s refresh answer leaves refresh_token out');
    assert.ok(client.credentials.refresh_token === refreshToken, 'the client keeps its refresh token');
    assert.ok(await aliveCount(refreshToken));
    const again = await client.refreshAccessToken();
    assert.ok(again.credentials.refresh_token === refreshToken, 'refreshAccessToken keeps it too');
  });

  // oauth2/web-server "Revoking a token": 200 on success, 400 with an error code otherwise; a
  // revoked refresh token then answers invalid_grant "Token has been expired or revoked."
  // (oauth2/web-server "Refresh token expiration").
  test('revokeToken: 200, then 400 on a second revoke, and the refresh token is dead', async () => {
    const client = await connect();
    const refreshToken = client.credentials.refresh_token;
    const res = await client.revokeToken(refreshToken);
    assert.equal(res.status, 200);
    assert.equal(await aliveCount(refreshToken), false);
    const second = await rejection(client.revokeToken(refreshToken));
    assert.ok(second instanceof gaxios.GaxiosError);
    assert.equal(second.status, 400);
    assert.equal(second.response.data.error, 'invalid_token');
    const refresh = await rejection(client.refreshAccessToken());
    assert.equal(refresh.status, 400);
    assert.equal(refresh.response.data.error, 'invalid_grant');
    assert.equal(refresh.response.data.error_description, 'Token has been expired or revoked.');
  });
});

describe('@googleapis/gmail users.messages.send against the stand-in', () => {
  let client;
  before(async () => { client = await connect(); });
  beforeEach(async () => { await s.control('DELETE', '/_sandbox/messages'); });  // also resets the quota

  // The per-API rootUrl rewrites only the JSON URL: the upload URL takes the per-call rootUrl
  // or defaults to gmail.googleapis.com (googleapis/google-api-nodejs-client#1921), so every
  // call passes it.
  const gmail = () => gmailApi({ version: 'v1', auth: client });
  const perCall = () => ({ rootUrl: `${s.url}/` });
  const mime = (to, subject) => [`From: ${GRACE}`, ...(to ? [`To: ${to}`] : []), `Subject: ${subject}`,
                                 'Content-Type: text/plain; charset=UTF-8', '', 'Hello from the conformance test', ''].join('\r\n');
  const sent = async () => (await s.control('GET', `/_sandbox/messages?user=${GRACE}`)).messages;

  // developers.google.com/workspace/gmail/api/guides/sending and reference/rest/v1/users.messages/send:
  // requestBody.raw is the base64url RFC 2822 message; the answer is a Message with SENT.
  test('requestBody.raw → id, threadId, labelIds SENT', async () => {
    const raw = Buffer.from(mime('candidate@example.org', 'Raw')).toString('base64url');
    const res = await gmail().users.messages.send({ userId: 'me', requestBody: { raw } }, perCall());
    assert.equal(res.status, 200);
    assert.match(res.data.id, /^[0-9a-f]+$/);
    assert.equal(res.data.threadId, res.data.id);
    assert.deepEqual(res.data.labelIds, ['SENT']);
    const [m] = await sent();
    assert.equal(m.subject, 'Raw');
    assert.deepEqual(m.to, ['candidate@example.org']);
  });

  // workspace/gmail/api/guides/uploads: with metadata the library sends uploadType=multipart
  // (multipart/related, JSON then the message), with media alone uploadType=media
  // (googleapis-common src/apirequest.ts).
  // The metadata part is the Message resource, so its threadId threads the upload (guides/threads).
  test('media with requestBody → multipart upload; media alone → media upload', async () => {
    const media = (subject, headers = []) =>
      ({ mimeType: 'message/rfc822', body: [...headers, mime('candidate@example.org', subject)].join('\r\n') });
    const plain = await gmail().users.messages.send(
      { userId: 'me', media: media('Media', ['Message-ID: <media.1@gmail.example>']) }, perCall());
    assert.deepEqual(plain.data.labelIds, ['SENT']);
    const multi = await gmail().users.messages.send(
      { userId: 'me', requestBody: { threadId: plain.data.threadId },
        media: media('Re: Media', ['In-Reply-To: <media.1@gmail.example>']) }, perCall());
    assert.deepEqual(multi.data.labelIds, ['SENT']);
    assert.equal(multi.data.threadId, plain.data.threadId);
    const byType = Object.fromEntries((await sent()).map((m) => [m.subject, m.upload_type]));
    assert.deepEqual(byType, { 'Re: Media': 'multipart', Media: 'media' });
  });

  // workspace/gmail/api/guides/threads "Adding drafts and messages to threads": the requested
  // threadId, References and In-Reply-To per RFC 2822, and a matching Subject; the answer is the
  // Message with the threadId it joined (Message.threadId in the discovery document).
  const threaded = (subject, headers) => Buffer.from([...headers, mime('candidate@example.org', subject)].join('\r\n')).toString('base64url');
  test('requestBody {raw, threadId}: a first message and two follow-ups share one threadId', async () => {
    const send = (requestBody) => gmail().users.messages.send({ userId: 'me', requestBody }, perCall());
    const first = await send({ raw: threaded('Interview', ['Message-ID: <t.1@gmail.example>']) });
    const thread = first.data.threadId;
    const second = await send({ threadId: thread, raw: threaded('Re: Interview',
      ['Message-ID: <t.2@gmail.example>', 'In-Reply-To: <t.1@gmail.example>', 'References: <t.1@gmail.example>']) });
    assert.equal(second.data.threadId, thread);
    const third = await send({ threadId: thread, raw: threaded('Re: Interview',
      ['Message-ID: <t.3@gmail.example>', 'In-Reply-To: <t.2@gmail.example>',
       'References: <t.1@gmail.example> <t.2@gmail.example>']) });
    assert.equal(third.data.threadId, thread);
    const recorded = await sent();
    assert.deepEqual(recorded.map((m) => m.threadId), [thread, thread, thread]);
    assert.deepEqual(recorded[2].references, ['<t.1@gmail.example>', '<t.2@gmail.example>']);
    assert.equal(recorded[2].in_reply_to, '<t.2@gmail.example>');
  });

  // A follow-up that misses a criterion (here the Subject) is answered with a new thread; a threadId
  // the mailbox has no thread of is refused (the text reported in PipedreamHQ/pipedream#15223).
  // Both are the stand-in's reading: sandboxes/google/README.md "Threads".
  test('another Subject → a new threadId; an unknown threadId → GaxiosError 400 "Invalid thread_id value"', async () => {
    const send = (requestBody) => gmail().users.messages.send({ userId: 'me', requestBody }, perCall());
    const first = await send({ raw: threaded('Interview', ['Message-ID: <u.1@gmail.example>']) });
    const other = await send({ threadId: first.data.threadId,
                               raw: threaded('Something else', ['In-Reply-To: <u.1@gmail.example>']) });
    assert.notEqual(other.data.threadId, first.data.threadId);
    assert.equal(other.data.threadId, other.data.id);
    const e = await rejection(send({ threadId: '18c0ffee00000001',
                                     raw: threaded('Re: Interview', ['In-Reply-To: <u.1@gmail.example>']) }));
    assert.ok(e instanceof gaxios.GaxiosError);
    assert.equal(e.status, 400);
    assert.equal(e.message, 'Invalid thread_id value');
    assert.equal(e.response.data.error.errors[0].reason, 'invalidArgument');
    assert.equal((await sent()).length, 2);
  });

  // workspace/gmail/api/guides/handle-errors: errors come as {"error": {code, message, errors[],
  // status}}; gaxios turns them into a GaxiosError whose message joins errors[].message and
  // whose code is error.code (gaxios src/common.ts extractAPIErrorFromResponse).
  test('a message without a recipient → GaxiosError 400 invalidArgument "Recipient address required"', async () => {
    const raw = Buffer.from(mime(null, 'Nobody')).toString('base64url');
    const e = await rejection(gmail().users.messages.send({ userId: 'me', requestBody: { raw } }, perCall()));
    assert.ok(e instanceof gaxios.GaxiosError);
    assert.equal(e.status, 400);
    assert.equal(e.code, 400);
    assert.equal(e.message, 'Recipient address required');
    assert.ok(Array.isArray(e.response.data.error?.errors), 'Google\'s error body carries errors[]');
    const [first] = e.response.data.error.errors;
    assert.equal(first.reason, 'invalidArgument');
    assert.equal(first.message, 'Recipient address required');
    assert.equal(e.response.data.error.status, 'INVALID_ARGUMENT');
    assert.deepEqual(await sent(), []);
  });

  // workspace/gmail/api/reference/quota: a send costs 100 units of the per-user quota (6,000 a
  // minute by default); over it, handle-errors "429: Too many requests" with
  // userRateLimitExceeded. The library does not retry a POST (gaxios src/retry.ts
  // httpMethodsToRetry), so the 429 reaches the caller.
  test('the per-user quota: the 61st send in a minute → GaxiosError 429 userRateLimitExceeded', async () => {
    const raw = Buffer.from(mime('candidate@example.org', 'Quota')).toString('base64url');
    for (let i = 0; i < 60; ++i) await gmail().users.messages.send({ userId: 'me', requestBody: { raw } }, perCall());
    const e = await rejection(gmail().users.messages.send({ userId: 'me', requestBody: { raw } }, perCall()));
    assert.ok(e instanceof gaxios.GaxiosError);
    assert.equal(e.status, 429);
    assert.equal(e.code, 429);
    assert.ok(Array.isArray(e.response.data.error?.errors), 'Google\'s error body carries errors[]');
    assert.equal(e.response.data.error.errors[0].reason, 'userRateLimitExceeded');
    assert.match(e.message, /^User-rate limit exceeded\./);
    assert.equal((await sent()).length, 60);
  });
});
