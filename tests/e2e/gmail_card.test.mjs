// The Gmail card in a real headless Chromium, beside Outlook's: a recruiter sees both cards and
// both email providers (neither can be chosen before it is connected), connects Gmail through the
// Google stand-in's account chooser and consent page but unticks "Send email on your behalf"
// (Google's granular consent: the host says which permission is missing and that connecting again
// with the box ticked fixes it), connects again with the box ticked, chooses Personal Gmail, sends
// a nudge that goes out without a reload, disconnects (Google's grant to the app is gone), and
// last picks a Workspace account whose administrator blocks unverified apps: Google shows its own
// "Error 400: admin_policy_enforced" page and never sends the browser back, so nothing changes on
// the host. Every step asserts what the person sees and leaves a screenshot in
// e2e-artifacts/gmail_card/.
//
// Google's behaviour relied on here (the stand-in, sandboxes/google, follows it):
// - one checkbox per permission on the consent screen, ticked by default, and a token answer
//   whose `scope` lacks an unticked one:
//   https://developers.google.com/identity/protocols/oauth2/resources/granular-permissions
// - the account chooser, and revoking a token ends the user's whole grant to the app, so the
//   next sign-in asks for consent again:
//   https://developers.google.com/identity/protocols/oauth2/web-server ("Revoking a token")
// - an administrator who allows only trusted apps blocks an unverified app that asks for a
//   sensitive scope on Google's own page, "Error 400: admin_policy_enforced":
//   https://developers.google.com/identity/protocols/oauth2/production-readiness/sensitive-scope-verification,
//   GAM-team/got-your-back#284
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { GMAIL_BLOCKED_USER, GMAIL_USER, GOOGLE_CLIENT_ID, Harness, readOutboxRow } from './harness.mjs';

const CANDIDATE = 'casey.candidate@example.org';
const SUBJECT = 'E2E Gmail nudge: following up on your application';
const GMAIL_SEND = 'https://www.googleapis.com/auth/gmail.send';
const GMAIL_REVOKE_URL = 'https://myaccount.google.com/connections';

const h = new Harness({ name: 'gmail_card', gmail: true });
let page;
let failedStep = null;
let shotNo = 0;

async function shot(name) {
  shotNo += 1;
  return h.screenshot(page, `${String(shotNo).padStart(2, '0')}-${name}`);
}

// Steps depend on each other: after a failure the later ones are skipped, not failed again. A
// failing step leaves a FAILED-*.png and the servers' logs.
function step(name, fn) {
  it(name, { timeout: 60000 }, async (t) => {
    if (failedStep) return t.skip(`an earlier step failed: ${failedStep}`);
    try {
      await fn();
    } catch (e) {
      failedStep = name;
      if (page) await h.screenshot(page, `FAILED-${name.replace(/[^A-Za-z0-9]+/g, '-').slice(0, 60)}`, 5000).catch(() => {});
      const logs = ['host', 'google'].map((n) => `--- ${n} log (last lines) ---\n${h.tail(n)}`).join('\n');
      const at = page ? new URL(page.url()) : null;  // without the query: no code or state in the output
      e.stack = `${e.stack}\n  the browser was at: ${at ? at.origin + at.pathname : '(no page)'}\n${logs}`;
      throw e;
    }
  });
}

const text = async (selector) => (await page.locator(selector).first().innerText()).replace(/\s+/g, ' ').trim();
const onSettings = (url) => url.origin === h.hostUrl && url.pathname === '/settings/communication';
const onGoogle = (url) => url.origin === h.googleOrigin;
const flashes = async () => (await page.locator('.flash').allInnerTexts()).map((f) => f.replace(/\s+/g, ' ').trim());

async function assertFlash(kind, pattern) {
  const shown = await page.locator(`.flash.${kind}`).allInnerTexts();
  assert.ok(shown.some((f) => pattern.test(f)), `expected a ${kind} message matching ${pattern}, the page shows: ${JSON.stringify(await flashes())}`);
}

async function signInAsRita() {
  await page.goto(`${h.hostUrl}/`);
  assert.equal(await text('h1'), 'Sign in');
  await page.check('#user-rita');
  await Promise.all([page.waitForURL(onSettings), page.click('#sign-in')]);
  assert.equal(await text('#signed-in-as'), 'Rita Recruiter');
}

// Connect on the Gmail card, then Google's account chooser: pick `email`.
async function connectAndChoose(email) {
  await Promise.all([page.waitForURL(onGoogle), page.click('#connect-gmail')]);
  assert.equal(await text('#page-title'), 'Choose an account', 'a first connect lets the person choose the Google account');
  assert.equal(await text('#app-name'), 'Recruiting Nudges');
  await shot(`google-chooser-${email.split('@')[0]}`);
  await Promise.all([page.waitForLoadState(), page.click(`#accounts button[data-email="${email}"]`)]);
}

// Google's consent page: one box per permission beyond signing in, and only Gmail's send one.
async function readConsentPage() {
  assert.equal(await text('#page-title'), 'Sign in with Google');
  assert.equal(await text('#signed-in-as'), GMAIL_USER);
  const boxes = await page.locator('#scopes input[type=checkbox]').evaluateAll(
    (inputs) => inputs.map((i) => ({ scope: i.dataset.scope, checked: i.checked, label: i.closest('label').innerText.trim() })));
  assert.deepEqual(boxes.map((b) => b.scope), [GMAIL_SEND], `the app asks for gmail.send and nothing more: ${JSON.stringify(boxes)}`);
  assert.ok(boxes[0].checked, 'Google ticks every box to begin with');
  return boxes[0].label;
}

// Wait, without reloading (the page's script keeps the outbox live), until the nudge reaches `state`.
async function waitForNudge(subject, state, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const row = await readOutboxRow(page, subject);
    if (row?.state === state) return row;
    if (Date.now() > deadline) assert.fail(`nudge "${subject}" did not reach "${state}" without a reload (last seen: ${JSON.stringify(row)})`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

// Clicks a button whose form asks first (window.confirm): dismissing changes nothing, accepting goes ahead.
async function clickAndAnswer(selector, accept, expected) {
  const dialog = new Promise((resolve) => page.once('dialog', async (d) => {
    const message = d.message();
    await (accept ? d.accept() : d.dismiss());
    resolve(message);
  }));
  if (accept) {
    const [message] = await Promise.all([dialog, page.waitForURL(onSettings), page.click(selector)]);
    assert.match(message, expected);
  } else {
    const url = page.url();
    await page.click(selector);
    assert.match(await dialog, expected);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(page.url(), url, 'dismissing the question changes nothing');
  }
}

// Whether Google still holds Grace's consent for the app, asked of the stand-in without changing
// it: a sign-in without prompt=consent skips the consent page exactly when every permission is
// already granted; the autopilot answers "deny" on that page, so no grant is added.
async function googleHoldsGrant() {
  const authorize = new URL('/o/oauth2/v2/auth', h.googleUrl);
  authorize.search = new URLSearchParams({
    client_id: GOOGLE_CLIENT_ID, redirect_uri: `${h.hostUrl}/callback`, response_type: 'code',
    scope: `openid email ${GMAIL_SEND}`, login_hint: GMAIL_USER,
  }).toString();
  const r = await h.google('POST', '/_sandbox/autopilot', { authorize_url: authorize.href, user: GMAIL_USER, answer: 'deny' });
  assert.equal(r.error_page, undefined, `the stand-in refused the probe: ${JSON.stringify(r.error_page)}`);
  return !r.consent_page_shown;
}

describe('The Gmail card in Chromium', { concurrency: 1 }, () => {
  before(async () => {
    await h.start();
    page = await h.newPage();
  }, { timeout: 60000 });

  after(async () => {
    await h.stop({ keepLogs: failedStep !== null });
    console.log(`screenshots: ${h.artifacts}`);
  });

  step('1. Both cards and both email providers, Gmail not connected', async () => {
    await signInAsRita();
    assert.equal(await text('#integration-outlook h3'), 'Microsoft Outlook');
    assert.equal(await text('#integration-gmail h3'), 'Gmail', "the card's title is the provider's service name");
    assert.equal(await page.getAttribute('#status-gmail', 'data-state'), 'not_connected');
    assert.match(await text('#status-gmail'), /^Not connected\b/);
    assert.match(await text('#connect-hint-gmail'), /^You will sign in at Google\b.*It cannot read your mail\./, "the provider's connect hint");
    assert.equal(await text('#connect-gmail'), 'Connect');
    assert.equal(await page.getAttribute('#status-outlook', 'data-state'), 'not_connected');
    for (const [id, name] of [['gmail', 'Personal Gmail'], ['outlook', 'Personal Outlook']]) {
      assert.equal(await text(`label:has(#provider-${id})`), `${name} (not connected: connect it above first)`);
      assert.ok(await page.isDisabled(`#provider-${id}`), `${name} cannot be chosen before it is connected`);
    }
    await shot('settings-gmail-not-connected');
  });

  step('2. Connect with "Send email" unticked: not connected, told what to tick; again ticked: Connected', async () => {
    await connectAndChoose(GMAIL_USER);
    const sendPermissionLabel = await readConsentPage();  // the consent page's words for gmail.send
    assert.equal(sendPermissionLabel, 'Send email on your behalf');
    await page.uncheck(`#scopes input[data-scope="${GMAIL_SEND}"]`);
    await shot('google-consent-send-unticked');
    await Promise.all([page.waitForURL(onSettings), page.click('#allow')]);

    assert.equal(await page.getAttribute('#status-gmail', 'data-state'), 'not_connected', 'no connection without gmail.send');
    assert.equal(await page.locator('.flash.success').count(), 0, `no success message: ${JSON.stringify(await flashes())}`);
    const told = (await flashes()).find((f) => f.includes(sendPermissionLabel));
    assert.ok(told, `a message names the missing permission ("${sendPermissionLabel}"): ${JSON.stringify(await flashes())}`);
    assert.match(told, /connect again/i, 'and says to connect again');
    assert.match(told, /\btick\b/i, 'with the box ticked');
    assert.ok(await page.isDisabled('#provider-gmail'), 'Personal Gmail still cannot be chosen');
    await shot('settings-gmail-permission-missing');

    await connectAndChoose(GMAIL_USER);
    await readConsentPage();  // asked again, every box ticked again
    await shot('google-consent-all-ticked');
    await Promise.all([page.waitForURL(onSettings), page.click('#allow')]);
    assert.equal(await page.getAttribute('#status-gmail', 'data-state'), 'connected');
    assert.match(await text('#status-gmail'), /^Connected grace@gmail\.example\b/);
    assert.equal(await text('#email-gmail'), GMAIL_USER);
    assert.equal(await page.locator('.flash.error').count(), 0, `no error message: ${JSON.stringify(await flashes())}`);
    await assertFlash('success', /^Connected as grace@gmail\.example\.$/);
    await assertFlash('info', /^Use Personal Gmail for your nudges\?/);
    assert.equal(await text('#offer-gmail'), `Send your nudges through Personal Gmail (${GMAIL_USER})? Use for nudges`);
    assert.equal(await page.getAttribute('#revoke-link-gmail', 'href'), GMAIL_REVOKE_URL);
    assert.ok(await page.isEnabled('#provider-gmail'), 'Personal Gmail can be chosen now');
    assert.equal(await page.getAttribute('#status-outlook', 'data-state'), 'not_connected', 'Outlook is untouched');
    // The page starts a connection check (a refresh and "who is this" at Google) and shows its
    // result without a reload.
    await page.waitForFunction(() => /^Last checked with the provider: .+\.$/.test(document.getElementById('checked-gmail')?.textContent ?? ''),
                               null, { timeout: 15000 }).catch(async () => {
      assert.fail(`the connection check's result did not appear without a reload: ${JSON.stringify(await text('#checked-gmail'))}`);
    });
    assert.equal(await page.getAttribute('#status-gmail', 'data-state'), 'connected', 'still connected after the check');
    await shot('settings-gmail-connected');
  });

  step('3. Use Personal Gmail for nudges, send a test nudge: sent live, and Google has exactly it', async () => {
    await Promise.all([page.waitForURL(onSettings), page.click('#use-gmail')]);
    await assertFlash('success', /^Preferences saved: your nudges go out by email through Personal Gmail\.$/);
    assert.ok(await page.isChecked('#provider-gmail'), 'Personal Gmail is chosen');
    assert.equal(await page.locator('#use-gmail').count(), 0, 'no offer once it is used');

    await page.fill('#nudge-to', CANDIDATE);
    await page.fill('#nudge-subject', SUBJECT);
    await page.fill('#nudge-text', 'Hi Casey! Just following up on your application. (sent by the e2e test)');
    await Promise.all([page.waitForURL(onSettings), page.click('#send-nudge')]);
    await assertFlash('success', /^Nudge #\d+ queued\.$/);
    const row = await waitForNudge(SUBJECT, 'sent');
    assert.equal(row.badge, 'sent');
    assert.equal(row.to, CANDIDATE);
    assert.equal(row.via, `Personal Gmail\n${GMAIL_USER}`, 'the outbox names the provider and the mailbox');
    await shot('gmail-nudge-sent');

    const { messages } = await h.google('GET', '/_sandbox/messages');
    assert.equal(messages.length, 1, `Google recorded one message: ${JSON.stringify(messages.map((m) => [m.user, m.subject]))}`);
    assert.equal(messages[0].user, GMAIL_USER);
    assert.equal(messages[0].from, GMAIL_USER);
    assert.equal(messages[0].subject, SUBJECT);
    assert.deepEqual(messages[0].to, [CANDIDATE]);
  });

  step("4. Disconnect asks first, says what happened, and Google's grant to the app is gone", async () => {
    assert.ok(await googleHoldsGrant(), 'while connected, Google holds the grant (the probe can tell)');
    await clickAndAnswer('#disconnect-gmail', false, /^Disconnect Gmail\?/);
    assert.equal(await page.getAttribute('#status-gmail', 'data-state'), 'connected', 'still connected after "Cancel"');
    await clickAndAnswer('#disconnect-gmail', true, /^Disconnect Gmail\?/);

    const info = await page.locator('.flash.info').allInnerTexts();
    assert.equal(info.length, 1, `one message: ${JSON.stringify(await flashes())}`);
    assert.notEqual(info[0], 'Personal Gmail was disconnected.', "the provider's own words, not the host's fallback");
    assert.match(info[0], /^Disconnected\b.*\bGoogle\b/, 'it says what happened, at Google too');
    assert.equal(await page.getAttribute('#status-gmail', 'data-state'), 'not_connected');
    assert.equal(await text('#connect-gmail'), 'Connect');
    assert.ok(await page.isDisabled('#provider-gmail'), 'Personal Gmail cannot be used until connected again');
    assert.equal((await readOutboxRow(page, SUBJECT)).state, 'sent', 'the sent nudge stays sent');
    await shot('gmail-disconnected');
    assert.ok(!(await googleHoldsGrant()), 'Disconnect revoked the grant at Google: the next sign-in asks for consent again');
  });

  step("5. A Workspace admin blocks unverified apps: Google's own error page, nothing changes on the host", async () => {
    const integrationsBefore = await text('#integrations');
    const outboxBefore = await text('#outbox');
    await connectAndChoose(GMAIL_BLOCKED_USER);
    assert.ok(onGoogle(new URL(page.url())), 'the browser stays at Google');
    assert.equal(await text('#page-title'), 'Access blocked');
    assert.equal(await text('#error-code'), 'Error 400: admin_policy_enforced');
    assert.equal(await text('#error-message'), "Access blocked: strict.example's admin needs to review Recruiting Nudges.");
    await shot('google-admin-policy-enforced');
    await new Promise((r) => setTimeout(r, 500));
    assert.ok(onGoogle(new URL(page.url())), 'Google never sends the browser back');

    // The person gives up and opens the settings page again.
    await page.goto(`${h.hostUrl}/settings/communication`);
    assert.deepEqual(await flashes(), [], 'no message: the host heard nothing');
    assert.equal(await page.getAttribute('#status-gmail', 'data-state'), 'not_connected');
    assert.equal(await text('#integrations'), integrationsBefore, 'the cards are as before');
    assert.equal(await text('#outbox'), outboxBefore, 'the outbox is as before');
    // What the person can do about it is on the card: the hint names the code Google showed, and
    // the app's ID to give IT is below it.
    assert.match(await text('#connect-hint-gmail'), /"admin_policy_enforced".*ask your IT administrator/);
    const card = await text('#integration-gmail');
    assert.ok(card.includes(`Application ID, for your IT administrator: ${GOOGLE_CLIENT_ID}`), `the card gives the app's ID: ${card}`);
    const { messages } = await h.google('GET', '/_sandbox/messages');
    assert.equal(messages.length, 1, 'nothing more was sent');
    await shot('settings-unchanged-after-admin-block');
  });
});
