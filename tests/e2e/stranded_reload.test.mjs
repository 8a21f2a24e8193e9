// Stranded nudges and reload in a real headless Chromium: Rita's held nudges wait for the mock
// provider; the operator edits the host config (the mock provider is replaced, then removed
// and a spare provider added) and runs `host_stub reload` while the host keeps serving. The page
// shows the new integration without a restart, each held nudge says why it cannot go out as it
// is, and Rita sends one with her new provider and discards the other, with the page's buttons.
// Last, a held nudge queued from one mailbox waits for Rita's confirmation after she reconnects
// as another.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Harness } from './harness.mjs';

const CANDIDATE = 'casey.candidate@example.org';
const SUBJECT_SEND = 'E2E stranded 1: send it with the new provider';
const SUBJECT_DISCARD = 'E2E stranded 2: discard it';
const SUBJECT_MAILBOX = 'E2E stranded 3: queued from the old mailbox';

const h = new Harness({ name: 'stranded_reload' });
let page;
let failedStep = null;
let shotNo = 0;

async function shot(name) {
  shotNo += 1;
  return h.screenshot(page, `${String(shotNo).padStart(2, '0')}-${name}`);
}

// Steps depend on each other: after a failure the later ones are skipped, not failed again.
function step(name, fn) {
  it(name, { timeout: 60000 }, async (t) => {
    if (failedStep) return t.skip(`an earlier step failed: ${failedStep}`);
    try {
      await fn();
    } catch (e) {
      failedStep = name;
      if (page) await h.screenshot(page, `FAILED-${name.replace(/[^A-Za-z0-9]+/g, '-').slice(0, 60)}`, 5000).catch(() => {});
      e.stack = `${e.stack}\n--- host log (last lines) ---\n${h.tail('host')}`;
      throw e;
    }
  });
}

const text = async (selector) => (await page.locator(selector).first().innerText()).replace(/\s+/g, ' ').trim();
const onSettings = (url) => url.origin === h.hostUrl && url.pathname === '/settings/communication';

async function assertFlash(kind, pattern) {
  const flashes = await page.locator(`.flash.${kind}`).allInnerTexts();
  assert.ok(flashes.some((f) => pattern.test(f)), `expected a ${kind} message matching ${pattern}, the page shows: ${JSON.stringify(flashes)}`);
}

// The outbox row of a nudge, by its subject.
async function outboxRow(subject) {
  const row = page.locator('#outbox tr[data-state]').filter({ has: page.locator('td', { hasText: subject }) });
  if ((await row.count()) === 0) return null;
  const cells = await row.first().locator('td').allInnerTexts();
  return { id: cells[0].trim(), state: await row.first().getAttribute('data-state'), via: cells[3], details: cells[5] };
}

// Reloads the page (as a person would) until `done(row)` holds.
async function waitForRow(subject, done, what, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const row = await outboxRow(subject);
    if (row && done(row)) return row;
    if (Date.now() > deadline) assert.fail(`nudge "${subject}" never ${what} (last seen: ${JSON.stringify(row)})`);
    await new Promise((r) => setTimeout(r, 300));
    await page.reload();
  }
}

async function submit(selector) {
  await Promise.all([page.waitForURL(onSettings), page.click(selector)]);
}

async function sendNudge(subject) {
  await page.fill('#nudge-to', CANDIDATE);
  await page.fill('#nudge-subject', subject);
  await page.fill('#nudge-text', 'Hi Casey! (sent by the stranded-nudge e2e test)');
  await submit('#send-nudge');
  await assertFlash('success', /^Nudge #\d+ queued\.$/);
}

// The host config's providers, by manifest file name: mock settings changed in place.
function providers() {
  return h.config.providers;
}

function emlCount(dir) {
  const d = path.join(h.work, dir);
  return fs.existsSync(d) ? fs.readdirSync(d).filter((f) => f.endsWith('.eml')).length : 0;
}

describe('Stranded nudges and reload in Chromium', { concurrency: 1 }, () => {
  before(async () => {
    await h.start();
    page = await h.newPage();
  }, { timeout: 60000 });

  after(async () => {
    await h.stop({ keepLogs: failedStep !== null });
    console.log(`screenshots: ${h.artifacts}`);
  });

  step('1. Rita connects the mock provider and chooses it', async () => {
    await page.goto(`${h.hostUrl}/`);
    await page.check('#user-rita');
    await Promise.all([page.waitForNavigation(), page.click('#sign-in')]);
    await submit('#connect-mock');
    assert.equal(await page.getAttribute('#status-mock', 'data-state'), 'connected');
    await page.check('#channel-email');
    await page.check('#provider-mock');
    await submit('#save-preferences');
    await assertFlash('success', /Preferences saved/);
  });

  step('2. the operator replaces the mock provider (its connection has expired) without a restart; nudges are held', async () => {
    const mock = providers().find((p) => p.manifest.endsWith('mock.json'));
    mock.config.outcome = 'auth_expired';
    h.writeConfig(h.config);
    await h.reloadHost();
    await page.reload();
    await sendNudge(SUBJECT_SEND);
    await sendNudge(SUBJECT_DISCARD);
    for (const subject of [SUBJECT_SEND, SUBJECT_DISCARD]) {
      const row = await waitForRow(subject, (r) => r.state === 'held', 'was held');
      assert.match(row.details, /Held: it goes out when you connect again\./);
      assert.equal(await page.locator(`#send-held-${row.id}`).count(), 0, 'no decision is asked while the promise holds');
    }
    await shot('held');
  });

  step('3. the operator removes the mock provider and adds a spare one: the page changes, the nudges say why they wait', async () => {
    const spareManifest = path.join(h.work, 'spare.json');
    fs.writeFileSync(spareManifest, JSON.stringify({
      file_format_version: '1.0.0',
      provider: { id: 'spare', display_name: 'Spare provider', library_path: path.join(h.buildDir, 'lib/libmock_provider.so'),
                  abi_version: '1.1', capabilities: ['html_body', 'attachments', 'custom_headers'] },
    }));
    h.config.providers = providers().filter((p) => !p.manifest.endsWith('mock.json'));
    h.config.providers.push({ manifest: spareManifest,
                              config: { outbox_dir: '${config_dir}/spare-outbox', address: 'rita@spare.example' } });
    h.writeConfig(h.config);
    await h.reloadHost();
    await page.reload();
    assert.ok(await page.isVisible('#integration-spare'), 'the added provider has its card without a restart');
    assert.equal(await page.locator('#integration-mock').count(), 0, 'the removed provider is gone from the page');
    for (const subject of [SUBJECT_SEND, SUBJECT_DISCARD]) {
      const row = await waitForRow(subject, (r) => /was removed from this host/.test(r.details), 'said its provider was removed');
      assert.equal(row.state, 'held');
      assert.doesNotMatch(row.details, /goes out when you connect again/, 'no promise that cannot be kept');
      assert.match(await text(`#send-held-${row.id}`), /^Send with current provider$/);
      assert.match(await text(`#discard-${row.id}`), /^Discard$/);
    }
    await shot('stranded');
  });

  step('4. Rita switches to the spare provider, sends one nudge with it and discards the other', async () => {
    await submit('#connect-spare');
    await page.check('#provider-spare');
    await submit('#save-preferences');
    const send = await outboxRow(SUBJECT_SEND);
    await submit(`#send-held-${send.id}`);
    await assertFlash('success', new RegExp(`^Nudge #${send.id} will be sent now\\.$`));
    const sent = await waitForRow(SUBJECT_SEND, (r) => r.state === 'sent', 'was sent');
    assert.equal(sent.via, 'Spare provider');
    assert.equal(emlCount('spare-outbox'), 1, 'sent once, by the spare provider');

    const discard = await outboxRow(SUBJECT_DISCARD);
    await submit(`#discard-${discard.id}`);
    await assertFlash('success', new RegExp(`^Nudge #${discard.id} was discarded\\.$`));
    const failed = await outboxRow(SUBJECT_DISCARD);
    assert.equal(failed.state, 'failed');
    assert.match(failed.details, /Discarded by you\./);
    assert.equal(await page.locator(`#discard-${discard.id}`).count(), 0);
    await shot('decided');
    assert.equal(emlCount('mock-outbox'), 0, 'nothing left from the removed provider');
  });

  step('5. a held nudge queued from one mailbox waits for Rita to confirm after she reconnects as another', async () => {
    const spare = () => providers().find((p) => p.manifest.endsWith('spare.json'));
    spare().config.outcome = 'auth_expired';
    h.writeConfig(h.config);
    await h.reloadHost();
    await page.reload();
    await sendNudge(SUBJECT_MAILBOX);
    await waitForRow(SUBJECT_MAILBOX, (r) => r.state === 'held', 'was held');

    // Her connection moves to another mailbox (the provider still cannot send).
    spare().config.address = 'rita.new@spare.example';
    h.writeConfig(h.config);
    await h.reloadHost();
    await page.reload();
    await submit('#disconnect-spare');
    await submit('#connect-spare');
    assert.equal(await text('#email-spare'), 'rita.new@spare.example');
    const row = await waitForRow(SUBJECT_MAILBOX, (r) => /Confirm to send it from/.test(r.details), 'asked for a confirmation');
    assert.equal(row.state, 'held');
    assert.match(row.details, /Queued to leave from rita@spare\.example, but the connected mailbox is now rita\.new@spare\.example/);
    assert.match(await text(`#send-held-${row.id}`), /^Confirm and send$/);
    // The provider can send again: the nudge still waits for Rita.
    delete spare().config.outcome;
    h.writeConfig(h.config);
    await h.reloadHost();
    await new Promise((r) => setTimeout(r, 1500));
    await page.reload();
    assert.equal((await outboxRow(SUBJECT_MAILBOX)).state, 'held', 'not sent without the confirmation');
    assert.equal(emlCount('spare-outbox'), 1);
    await shot('confirm-mailbox');

    await submit(`#send-held-${row.id}`);
    await waitForRow(SUBJECT_MAILBOX, (r) => r.state === 'sent', 'was sent after the confirmation');
    assert.equal(emlCount('spare-outbox'), 2);
  });
});
