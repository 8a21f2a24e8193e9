// The settings page's story (README.md, "The two commands": the demo) in a real headless
// Chromium: a recruiter signs in to the host, connects Microsoft Outlook through the stand-in's
// sign-in and consent pages, chooses Personal Outlook, sends a nudge; the grant dies, a nudge is
// held, the recruiter connects again and it goes out; a colleague in a tenant that needs admin
// approval gets the "Approval required" guidance, what he does apart from what he sends IT; in a
// tenant without the approval workflow, its own text; Disconnect and Delete ask first and say
// what happened. The outbox and the cards update without a reload. Every step asserts what the
// person sees and leaves a screenshot in the artifacts directory. The browser-less version is
// scripts/demo_headless.py.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { APPROVAL_USER, CLIENT_ID, Harness, NO_WORKFLOW_USER, PRODUCT_NAME, WORK_USER, readOutboxRow } from './harness.mjs';

const CANDIDATE = 'casey.candidate@example.org';
const SUBJECT_1 = 'E2E nudge 1: following up on your application';
const SUBJECT_2 = 'E2E nudge 2: sent after the password change';
const SUBJECT_3 = 'E2E nudge 3: queued while Outlook is not connected';
const JUSTIFICATION = 'Required for recruiting communications via email through the reference host';

const h = new Harness();
let page;            // Rita's browser window, later Sam's sign-in in the same window
let failedStep = null;
let adminConsentLink;  // from step 5, for the administrator in step 6
let shotNo = 0;

async function shot(name, p = page) {
  shotNo += 1;
  return h.screenshot(p, `${String(shotNo).padStart(2, '0')}-${name}`);
}

// Steps depend on each other: after a failure the later ones are reported as skipped, not as
// confusing follow-on failures. A failing step leaves a FAILED-*.png and the server logs.
function step(name, fn) {
  it(name, { timeout: 60000 }, async (t) => {
    if (failedStep) return t.skip(`an earlier step failed: ${failedStep}`);
    try {
      await fn();
    } catch (e) {
      failedStep = name;
      if (page) await h.screenshot(page, `FAILED-${name.replace(/[^A-Za-z0-9]+/g, '-').slice(0, 60)}`, 5000).catch(() => {});
      const logs = ['host', 'sandbox'].map((n) => `--- ${n} log (last lines) ---\n${h.tail(n)}`).join('\n');
      const at = page ? new URL(page.url()) : null;  // without the query: no code or state in the output
      e.stack = `${e.stack}\n  the browser was at: ${at ? at.origin + at.pathname : '(no page)'}\n${logs}`;
      throw e;
    }
  });
}

const text = async (selector, p = page) => (await p.locator(selector).first().innerText()).replace(/\s+/g, ' ').trim();
const onHost = (path = '/settings/communication') => (url) => url.origin === h.hostUrl && url.pathname === path;
const onStandIn = (url) => url.origin === h.sandboxOrigin;

async function assertFlash(kind, pattern) {
  const flashes = await page.locator(`.flash.${kind}`).allInnerTexts();
  assert.ok(flashes.some((f) => pattern.test(f)), `expected a ${kind} message matching ${pattern}, the page shows: ${JSON.stringify(flashes)}`);
}

const outboxRow = (subject) => readOutboxRow(page, subject);

// Wait, without reloading (the page's script keeps the outbox live), until the nudge reaches `state`.
async function waitForNudge(subject, state, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs;
  let row = null;
  for (;;) {
    row = await outboxRow(subject);
    if (row?.state === state) return row;
    if (Date.now() > deadline) assert.fail(`nudge "${subject}" did not reach "${state}" without a reload (last seen: ${JSON.stringify(row)})`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

// Wait, without reloading, until a card's status element shows `state`.
async function waitForCardState(provider, state, timeoutMs = 20000) {
  await page.waitForFunction(([id, s]) => document.getElementById(`status-${id}`)?.dataset.state === s, [provider, state],
                             { timeout: timeoutMs }).catch(async () => {
    assert.fail(`the ${provider} card did not turn "${state}" without a reload (it shows ${JSON.stringify(await text(`#integration-${provider}`))})`);
  });
}

// Sends a test nudge; `flash` is the message kind expected: success (queued, the provider is
// connected) or warning (it waits for the provider), or 'either' when the host cannot know yet.
async function sendNudge(subject, flash = 'success') {
  await page.fill('#nudge-to', CANDIDATE);
  await page.fill('#nudge-subject', subject);
  await page.fill('#nudge-text', 'Hi Casey! Just following up on your application. (sent by the e2e test)');
  await Promise.all([page.waitForURL(onHost()), page.click('#send-nudge')]);
  const queued = /^Nudge #\d+ queued\.$/;
  const waits = /^Nudge #\d+ is waiting: Personal Outlook is not connected, so it goes out once you connect it again\.$/;
  if (flash === 'success') await assertFlash('success', queued);
  else if (flash === 'warning') await assertFlash('warning', waits);
  else assert.ok((await page.locator('.flash').allInnerTexts()).some((f) => queued.test(f) || waits.test(f)));
}

// Clicks a button whose form asks first: dismissing changes nothing, accepting goes ahead.
async function clickAndAnswer(selector, accept, expected) {
  const dialog = new Promise((resolve) => page.once('dialog', async (d) => {
    const message = d.message();
    await (accept ? d.accept() : d.dismiss());
    resolve(message);
  }));
  if (accept) {
    const [message] = await Promise.all([dialog, page.waitForNavigation(), page.click(selector)]);
    assert.match(message, expected);
  } else {
    const url = page.url();
    await page.click(selector);
    assert.match(await dialog, expected);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(page.url(), url, 'dismissing the question changes nothing');
  }
}

async function signInToHost(userId, displayName) {
  await page.goto(`${h.hostUrl}/`);
  await page.waitForURL(onHost('/signin'));
  assert.equal(await text('h1'), 'Sign in');
  assert.match(await text(`label:has(#user-${userId})`), new RegExp(`^${displayName} \\(${userId}\\)$`));
  await page.check(`#user-${userId}`);
  await Promise.all([page.waitForNavigation(), page.click('#sign-in')]);
  if (!onHost()(new URL(page.url())))
    assert.fail(`signing in as ${userId} did not reach the settings page; the host shows: ` +
                JSON.stringify(await page.locator('.flash').allInnerTexts()));
  assert.equal(await text('#signed-in-as'), displayName);
  assert.equal(await text('h1'), 'Communication');
  assert.equal(await text('.crumb'), 'Settings > Communication');
}

// The stand-in's sign-in page, as a person fills it in.
async function signInAtStandIn(upn, p = page, password = 'any password will do at the stand-in') {
  assert.equal(await text('#page-title', p), 'Sign in');
  assert.equal(await text('#app-name', p), 'Recruiting Nudges (desktop)');
  assert.equal(await text('#app-client-id', p), CLIENT_ID);
  await p.fill('#i0116', upn);
  await p.fill('#i0118', password);
  await Promise.all([p.waitForLoadState(), p.click('#idSIButton9')]);
}

describe('Settings > Communication in Chromium', { concurrency: 1 }, () => {
  before(async () => {
    await h.start();
    page = await h.newPage();
  }, { timeout: 60000 });

  after(async () => {
    await h.stop({ keepLogs: failedStep !== null });
    console.log(`screenshots: ${h.artifacts}`);
  });

  step('1. Rita signs in and sees the integrations, Outlook not connected', async () => {
    await page.goto(`${h.hostUrl}/`);
    await page.waitForURL(onHost('/signin'));
    assert.equal(await page.locator('input[name=user_id]').count(), 2, 'the user picker lists rita and sam');
    await shot('host-sign-in');
    await signInToHost('rita', 'Rita Recruiter');

    assert.equal(await text('#product-name'), PRODUCT_NAME, 'the product name comes from the config');
    assert.equal(await text('#integration-outlook h3'), 'Microsoft Outlook', "the card's title comes from the provider");
    assert.deepEqual(await page.locator('main h2').allInnerTexts(),
                     ['Integrations', 'Preferences', 'Send a test nudge', 'Outbox', 'Delete my account']);
    assert.notEqual(await page.getAttribute('#status-outlook', 'data-state'), 'connected');
    assert.match(await text('#status-outlook'), /^Not connected You will sign in at Microsoft\b/);
    assert.equal(await text('#connect-outlook'), 'Connect');
    assert.ok(await page.isVisible('#connect-outlook'));
    assert.equal(await text('#integration-mock h3'), 'Mock provider');
    assert.ok(await page.isVisible('#status-mock'), 'the mock provider shows a status (the config shows developer providers)');
    assert.equal(await page.locator('#connect-mock').count(), 0, 'a provider that needs no sign-in has no Connect button');
    assert.equal(await text('label:has(#provider-outlook)'), 'Personal Outlook (not connected: connect it above first)');
    assert.ok(await page.isDisabled('#provider-outlook'), 'a provider that is not connected cannot be chosen');
    assert.deepEqual(await page.locator('fieldset legend').allInnerTexts(), ['Preferred channel', 'Email provider']);
    assert.equal(await page.locator('#outbox th:empty').count(), 0, 'no empty table headers');
    await shot('settings-outlook-not-connected');
  });

  step('2. Connect: sign in at the stand-in as Adele, accept the permissions, back Connected', async () => {
    await Promise.all([page.waitForURL(onStandIn), page.click('#connect-outlook')]);
    await shot('stand-in-sign-in');
    await signInAtStandIn(WORK_USER);

    assert.equal(await text('#page-title'), 'Permissions requested');
    assert.equal(await text('#signed-in-as'), WORK_USER);
    const permissions = Object.fromEntries(await page.locator('#permissions li[data-scope]').evaluateAll(
      (lis) => lis.map((li) => [li.dataset.scope, li.innerText.trim()])));
    assert.equal(permissions['User.Read'], 'Sign you in and read your profile', JSON.stringify(permissions));
    assert.equal(permissions['Mail.Send'], 'Send mail as you', JSON.stringify(permissions));
    assert.equal(permissions.offline_access, 'Maintain access to data you have given it access to', JSON.stringify(permissions));
    assert.ok(!Object.keys(permissions).some((s) => /^Mail\.Read/i.test(s)), `no mail-reading permission: ${JSON.stringify(permissions)}`);
    await shot('stand-in-consent');

    await Promise.all([page.waitForURL(onHost()), page.click('#idBtn_Accept')]);
    assert.equal(await page.getAttribute('#status-outlook', 'data-state'), 'connected');
    assert.match(await text('#status-outlook'), /^Connected adele@contoso\.example Adele Vance$/);
    assert.equal(await text('#email-outlook'), WORK_USER);
    assert.ok(await page.isVisible('#disconnect-outlook'));
    assert.equal(await page.locator('.flash.error').count(), 0, 'no error message after connecting');
    await assertFlash('info', /^Use Personal Outlook for your nudges\?/);
    assert.match(await text('#offer-outlook'), /^Send your nudges through Personal Outlook \(adele@contoso\.example\)\? Use for nudges$/);
    assert.equal(await page.getAttribute('#revoke-link-outlook', 'href'), 'https://myapps.microsoft.com');
    // The page starts a connection check and shows its result without a reload.
    await page.waitForFunction(() => /^Last checked with the provider: .+\.$/.test(document.getElementById('checked-outlook')?.textContent ?? ''),
                               null, { timeout: 15000 }).catch(async () => {
      assert.fail(`the connection check's result did not appear without a reload: ${JSON.stringify(await text('#checked-outlook'))}`);
    });
    await shot('settings-outlook-connected');
  });

  step('3. Use Personal Outlook for nudges (the offer), send a test nudge, it is sent live and the stand-in has it', async () => {
    await Promise.all([page.waitForURL(onHost()), page.click('#use-outlook')]);
    await assertFlash('success', /^Preferences saved: your nudges go out by email through Personal Outlook\.$/);
    assert.ok(await page.isChecked('#channel-email'), 'Email is chosen');
    assert.ok(await page.isChecked('#provider-outlook'), 'Personal Outlook is chosen');
    assert.equal(await page.locator('#use-outlook').count(), 0, 'no offer once it is used');
    await shot('preferences-saved');

    await sendNudge(SUBJECT_1);
    const row = await waitForNudge(SUBJECT_1, 'sent');
    assert.equal(row.badge, 'sent');
    assert.equal(row.to, CANDIDATE);
    assert.equal(row.via, `Personal Outlook\n${WORK_USER}`, 'the outbox names the provider and the mailbox');
    // A readable time in the browser's own form, with the exact UTC time kept for machines.
    assert.match(row.details, /^sent \S.*\d/);
    assert.doesNotMatch(row.details, /\d{4}-\d\d-\d\dT/, 'not an ISO timestamp');
    const iso = await page.locator('#outbox tr[data-state=sent] time').first().getAttribute('datetime');
    assert.match(iso, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    await shot('nudge-sent');

    const messages = await h.sandboxMessages(WORK_USER);
    assert.equal(messages.length, 1, `the stand-in recorded one message: ${JSON.stringify(messages.map((m) => m.subject))}`);
    assert.equal(messages[0].subject, SUBJECT_1);
    assert.equal(messages[0].sender.toLowerCase(), WORK_USER);
    assert.deepEqual(messages[0].to.map((r) => r.address), [CANDIDATE]);
  });

  step('4. The grant dies: Expired with the reason, nudge held; Connect again; the held nudge goes out', async () => {
    await h.sandbox('POST', `/_sandbox/users/${WORK_USER}/revoke`, { reason: 'password_change' });
    await h.sandbox('POST', '/_sandbox/clock', { advance_seconds: 3600 });
    await h.advanceHostClock(page, 3600);

    // The host may not know yet that the grant died: queued, or waiting, both are true.
    await sendNudge(SUBJECT_2, 'either');
    const held = await waitForNudge(SUBJECT_2, 'held');
    assert.equal(held.badge, 'held');
    await waitForCardState('outlook', 'expired');
    assert.match(await text('#status-outlook'), /^Expired\b/);
    assert.match(await text('#reason-outlook'), /password was changed/i);
    assert.equal(await text('#connect-outlook'), 'Connect again');
    assert.equal((await outboxRow(SUBJECT_1)).state, 'sent', 'the first nudge is still shown as sent');
    assert.equal((await outboxRow(SUBJECT_1)).via, `Personal Outlook\n${WORK_USER}`, 'with the mailbox that sent it');
    assert.match((await outboxRow(SUBJECT_2)).details, /^Held: it goes out when you connect Personal Outlook again\.$/);
    await shot('outlook-expired-nudge-held');

    // Known expired now: a new nudge says it waits, not a green "queued".
    await sendNudge(SUBJECT_3, 'warning');
    assert.equal(await page.locator('.flash.success').count(), 0);
    await shot('nudge-waits-while-not-connected');

    await page.click('#connect-outlook');
    // The stand-in may remember Adele (SSO) and her consent: handle every page it may show.
    await page.waitForURL((url) => onHost()(url) || onStandIn(url));
    const seen = [];
    while (onStandIn(new URL(page.url()))) {
      const title = await text('#page-title');
      seen.push(title);
      await shot(`reconnect-stand-in-${title.replace(/\W+/g, '-').toLowerCase()}`);
      if (title === 'Sign in') {
        assert.equal(await page.inputValue('#i0116'), WORK_USER, 'the sign-in page is pre-filled with the same account');
        await signInAtStandIn(WORK_USER);
      } else if (title === 'Permissions requested') {
        await page.click('#idBtn_Accept');
        await page.waitForLoadState();
      } else {
        assert.fail(`unexpected stand-in page while reconnecting: ${title}`);
      }
      assert.ok(seen.length <= 3, `reconnecting loops at the stand-in: ${seen}`);
    }
    await page.waitForURL(onHost());
    console.log(`  reconnect went through the stand-in's pages: ${seen.length ? seen.join(' > ') : '(none: signed in already, consented already)'}`);
    assert.equal(await page.getAttribute('#status-outlook', 'data-state'), 'connected');
    assert.match(await text('#status-outlook'), /^Connected adele@contoso\.example Adele Vance$/);

    const sent = await waitForNudge(SUBJECT_2, 'sent');
    assert.equal(sent.badge, 'sent');
    assert.equal((await waitForNudge(SUBJECT_3, 'sent')).badge, 'sent');
    await shot('reconnected-held-nudge-sent');

    const messages = await h.sandboxMessages(WORK_USER);
    assert.deepEqual(messages.map((m) => m.subject).sort(), [SUBJECT_1, SUBJECT_2, SUBJECT_3].sort(),
                     'three messages, none lost, none twice');
  });

  step('5. Sam in an approval-required tenant: request approval, the host explains what to tell IT', async () => {
    await Promise.all([page.waitForURL(onHost('/signin')), page.click('#sign-out')]);
    assert.equal(await text('h1'), 'Sign in');
    await signInToHost('sam', 'Sam Sourcer');
    assert.notEqual(await page.getAttribute('#status-outlook', 'data-state'), 'connected', "Rita's connection is not Sam's");
    await shot('sam-settings-not-connected');

    // Same browser: the stand-in still has Adele's sign-in session (SSO cookie). A first connect
    // must still let Sam choose his own Microsoft account, not connect Adele's mailbox silently.
    await page.click('#connect-outlook');
    await page.waitForURL((url) => onStandIn(url) || onHost()(url));
    if (!onStandIn(new URL(page.url())))
      assert.fail(`Sam was not asked which Microsoft account to use: the host shows ${JSON.stringify(await text('#status-outlook'))} ` +
                  '(the browser was still signed in at Microsoft as Adele; a first connect should send prompt=select_account)');
    await signInAtStandIn(APPROVAL_USER);
    assert.equal(await text('#page-title'), 'Approval required');
    assert.equal(await text('#error-code'), 'AADSTS90095');
    assert.ok(await page.isVisible('#justification'), 'a justification box');
    await page.fill('#justification', JUSTIFICATION);
    await shot('stand-in-approval-required');

    await Promise.all([page.waitForLoadState(), page.click('#idBtn_RequestApproval')]);
    assert.equal(await text('#page-title'), 'Request sent');
    const requestId = await text('#approval-request-id');
    assert.ok(requestId.length > 0);
    await shot('stand-in-request-sent');
    const { requests } = await h.sandbox('GET', '/_sandbox/approval-requests');
    const filed = requests.find((r) => r.id === requestId);
    assert.ok(filed, `the stand-in filed request ${requestId}: ${JSON.stringify(requests)}`);
    assert.equal(filed.user.toLowerCase(), APPROVAL_USER);
    assert.equal(filed.justification, JUSTIFICATION);
    assert.equal(filed.client_id, CLIENT_ID);

    await Promise.all([page.waitForURL(onHost()), page.click('#return-to-app')]);
    assert.equal(await page.getAttribute('#status-outlook', 'data-state'), 'admin_approval_required');
    assert.match(await text('#status-outlook'), /^Approval required\b/);
    // Whether a request is with IT: this tenant has the workflow, and Microsoft does not tell the
    // app whether Sam used it, so the page says both what happens if he did and what if not.
    assert.equal(await page.getAttribute('#approval-request-outlook', 'data-request'), 'possible');
    assert.deepEqual(await page.locator('#integration-outlook h4').allInnerTexts(), ['What you do', 'What to send your IT administrator']);
    assert.match(await text('#user-action-outlook'), /If you clicked Request approval at Microsoft, .*you will get an email/);
    assert.match(await text('#admin-instructions-outlook'), /Enterprise applications > Admin consent requests/);
    assert.equal(await text('#application-id'), CLIENT_ID);
    assert.equal(await page.getAttribute('#for-it-outlook button[data-copy]', 'data-copy'), CLIENT_ID, 'the application id can be copied');
    assert.match(await page.getAttribute('#copy-for-it-outlook', 'data-copy'), new RegExp(`Application ID: ${CLIENT_ID}\nApproval link: https://`));
    const link = new URL(await page.getAttribute('#admin-consent-link', 'href'));
    assert.equal(link.origin, h.sandboxOrigin);
    // Fabrikam's own admin-consent endpoint, or Microsoft's generic "organizations" one (the host
    // cannot know the tenant when Microsoft refuses before it learns who signed in): the next step
    // proves the link works for Fabrikam's administrator.
    assert.match(link.pathname, /^\/(fabrikam\.example|0b2e4f6a-8c1d-4e3f-a5b7-c9d1e3f5a7b9|organizations)\/v2\.0\/adminconsent$/,
                 `admin-consent link: ${link}`);
    assert.equal(link.searchParams.get('client_id'), CLIENT_ID);
    adminConsentLink = link.href;
    assert.equal(await text('#connect-outlook'), 'Connect again after approval');
    await shot('sam-approval-required');
  });

  step("6. Fabrikam's IT admin approves through the link; Sam connects again and is Connected", async () => {
    // The administrator, at another computer: only the link Sam passed on.
    const adminPage = await h.newPage();
    try {
      await adminPage.goto(adminConsentLink);
      assert.equal(await text('#page-title', adminPage), 'Sign in');
      await shot('admin-consent-sign-in', adminPage);
      await signInAtStandIn('admin@fabrikam.example', adminPage);
      assert.equal(await text('#page-title', adminPage), 'Permissions requested: accept for your organization');
      const scopes = await adminPage.locator('#permissions li[data-scope]').evaluateAll((lis) => lis.map((li) => li.dataset.scope));
      assert.ok(scopes.includes('User.Read') && scopes.includes('Mail.Send'), `the admin reviews the permissions: ${scopes}`);
      await shot('admin-consent-review', adminPage);
      await Promise.all([adminPage.waitForURL(onHost('/callback')), adminPage.click('#idBtn_Accept')]);
      assert.equal(await text('h1', adminPage), 'Thank you');
      assert.match(await text('#admin-consent-done', adminPage), /approved for your organisation/);
      await shot('admin-consent-done', adminPage);
    } finally {
      await adminPage.context().close();
    }
    const { requests } = await h.sandbox('GET', '/_sandbox/approval-requests');
    assert.ok(requests.some((r) => r.user.toLowerCase() === APPROVAL_USER && r.status === 'approved'),
              `Sam's request is approved at the stand-in: ${JSON.stringify(requests)}`);

    await page.click('#connect-outlook');
    await page.waitForURL((url) => onStandIn(url) || onHost()(url));
    if (onStandIn(new URL(page.url()))) {
      if (await text('#page-title') === 'Sign in') await signInAtStandIn(APPROVAL_USER);
      if (onStandIn(new URL(page.url())) && await text('#page-title') === 'Permissions requested')
        await page.click('#idBtn_Accept');
      await page.waitForURL(onHost());
    }
    assert.equal(await page.getAttribute('#status-outlook', 'data-state'), 'connected');
    assert.match(await text('#status-outlook'), /^Connected ben@fabrikam\.example Ben Walters$/);
    assert.equal(await text('#signed-in-as'), 'Sam Sourcer');
    await shot('sam-connected-after-approval');
  });

  step('7. Disconnect asks first and says what happened; a tenant without the approval workflow gets its own text', async () => {
    await clickAndAnswer('#disconnect-outlook', false, /^Disconnect Microsoft Outlook\?/);
    assert.equal(await page.getAttribute('#status-outlook', 'data-state'), 'connected', 'still connected after "Cancel"');
    await clickAndAnswer('#disconnect-outlook', true, /^Disconnect Microsoft Outlook\?/);
    await page.waitForURL(onHost());
    await assertFlash('info', /^Disconnected: this app deleted your Microsoft sign-in and can no longer send mail as you\. .*https:\/\/myapps\.microsoft\.com\.$/);
    assert.equal(await page.getAttribute('#status-outlook', 'data-state'), 'not_connected');
    await shot('sam-disconnected');

    await page.click('#connect-outlook');
    await page.waitForURL(onStandIn);
    await signInAtStandIn(NO_WORKFLOW_USER, page, 'Passw0rd!');
    assert.equal(await text('#page-title'), 'Need admin approval');
    await Promise.all([page.waitForURL(onHost()), page.click('#return-to-app')]);
    assert.equal(await page.getAttribute('#status-outlook', 'data-state'), 'admin_approval_required');
    assert.equal(await page.getAttribute('#approval-request-outlook', 'data-request'), 'unavailable');
    assert.match(await text('#approval-request-outlook'), /^No request was sent/);
    assert.match(await text('#user-action-outlook'), /does not let people request approval/);
    assert.equal(await text('#application-id'), CLIENT_ID);
    await shot('no-workflow-approval-required');
  });

  step('8. Delete my account asks first, then signs out and says what happened', async () => {
    await clickAndAnswer('#delete-account', false, /^Delete your account\?/);
    assert.equal(await text('#signed-in-as'), 'Sam Sourcer', 'still signed in after "Cancel"');
    await clickAndAnswer('#delete-account', true, /^Delete your account\?.*cannot be undone/);
    await page.waitForURL(onHost('/signin'));
    assert.match(await text('#signin-notice'), /^Your account was deleted/);
    assert.equal(await page.locator('#user-sam').count(), 0, 'Sam is gone from the user picker');
    await shot('account-deleted');
  });
});
