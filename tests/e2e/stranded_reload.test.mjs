// Stranded nudges and reload in a real headless Chromium: Rita chooses the mock provider (it
// needs no sign-in: choosing it connects it); the operator edits the host config and runs
// `host_stub reload` while the host keeps serving (the mock provider is replaced by one whose
// sends answer auth_expired, and Rita's connection to it ends, so her nudges are held with the
// promise to go out when she connects again; then the mock provider is removed and a spare one
// added). The page shows the new integration without a restart, each held nudge says why it
// cannot go out as it is, and Rita sends one with her new provider (chosen in Preferences) and
// discards the other, with the page's buttons. Last, a held nudge queued from one mailbox waits
// for Rita's confirmation after she reconnects as another. Disconnect asks first (window.confirm).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Harness, readOutboxRow } from './harness.mjs';

const CANDIDATE = 'casey.candidate@example.org';
const SUBJECT_SEND = 'E2E stranded 1: send it with the new provider';
const SUBJECT_DISCARD = 'E2E stranded 2: discard it';
const SUBJECT_MAILBOX = 'E2E stranded 3: queued from the old mailbox';

const MOCK_ADDRESS = 'rita.recruiter@example.com';  // the harness config's mock provider address
const SPARE_NAME = 'Spare provider';
const SPARE_ADDRESS = 'rita@spare.example';
const NEW_SPARE_ADDRESS = 'rita.new@spare.example';

const h = new Harness({ name: 'stranded_reload' });
let MOCK_NAME;  // the mock manifest's display name: what the page calls it outside its card
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
const re = (literal) => literal.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const onSettings = (url) => url.origin === h.hostUrl && url.pathname === '/settings/communication';

async function assertFlash(kind, pattern) {
  const flashes = await page.locator(`.flash.${kind}`).allInnerTexts();
  assert.ok(flashes.some((f) => pattern.test(f)), `expected a ${kind} message matching ${pattern}, the page shows: ${JSON.stringify(flashes)}`);
}

const outboxRow = (subject) => readOutboxRow(page, subject);

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

// `flash`: success (queued, the provider is connected) or warning (it waits for `providerName`).
async function sendNudge(subject, flash = 'success', providerName = '') {
  await page.fill('#nudge-to', CANDIDATE);
  await page.fill('#nudge-subject', subject);
  await page.fill('#nudge-text', 'Hi Casey! (sent by the stranded-nudge e2e test)');
  await submit('#send-nudge');
  if (flash === 'success') await assertFlash('success', /^Nudge #\d+ queued\.$/);
  else await assertFlash('warning', new RegExp(`^Nudge #\\d+ is waiting: ${re(providerName)} is not connected, so it goes out once you connect it again\\.$`));
}

// Clicks a button whose form asks first (window.confirm) and accepts; returns once the page is back.
async function clickAndAccept(selector, expected) {
  const dialog = new Promise((resolve) => page.once('dialog', async (d) => {
    const message = d.message();
    await d.accept();
    resolve(message);
  }));
  const [message] = await Promise.all([dialog, page.waitForNavigation(), page.click(selector)]);
  assert.match(message, expected);
  assert.ok(onSettings(new URL(page.url())), `back on the settings page, not ${page.url()}`);
}

// The host config's providers, by manifest file name: mock settings changed in place.
function providers() {
  return h.config.providers;
}

// The header block of every .eml file the provider writing to `dir` wrote.
function emlHeaders(dir) {
  const d = path.join(h.work, dir);
  return fs.readdirSync(d).filter((f) => f.endsWith('.eml')).map((f) => fs.readFileSync(path.join(d, f), 'utf8').split('\r\n\r\n')[0]);
}

function emlCount(dir) {
  const d = path.join(h.work, dir);
  return fs.existsSync(d) ? fs.readdirSync(d).filter((f) => f.endsWith('.eml')).length : 0;
}

describe('Stranded nudges and reload in Chromium', { concurrency: 1 }, () => {
  before(async () => {
    await h.start();
    MOCK_NAME = JSON.parse(fs.readFileSync(path.join(h.buildDir, 'manifests/mock.json'), 'utf8')).provider.display_name;
    page = await h.newPage();
  }, { timeout: 60000 });

  after(async () => {
    await h.stop({ keepLogs: failedStep !== null });
    console.log(`screenshots: ${h.artifacts}`);
  });

  step('1. Rita chooses the mock provider, which connects it (it has no Connect button)', async () => {
    await page.goto(`${h.hostUrl}/`);
    await page.check('#user-rita');
    await Promise.all([page.waitForNavigation(), page.click('#sign-in')]);
    assert.equal(await page.locator('#connect-mock').count(), 0, 'a provider that needs no sign-in has no Connect button');
    assert.notEqual(await page.getAttribute('#status-mock', 'data-state'), 'connected');
    assert.match(await text('label:has(#provider-mock)'), /\(connects when you choose it\)$/);
    await page.check('#channel-email');
    await page.check('#provider-mock');
    await submit('#save-preferences');
    await assertFlash('success', new RegExp(`^Preferences saved: your nudges go out by email through ${re(MOCK_NAME)}\\.$`));
    assert.equal(await page.getAttribute('#status-mock', 'data-state'), 'connected');
    assert.equal(await text('#email-mock'), MOCK_ADDRESS);
    assert.ok(await page.isChecked('#provider-mock'), 'the mock provider is chosen');
  });

  step('2. the operator replaces the mock provider without a restart; Rita\'s connection has ended; nudges are held with the promise', async () => {
    // The replacement answers every send "auth_expired": nothing may go out through it.
    const mock = providers().find((p) => p.manifest.endsWith('mock.json'));
    mock.config.outcome = 'auth_expired';
    h.writeConfig(h.config);
    await h.reloadHost();
    await page.reload();
    assert.ok(await page.isChecked('#provider-mock'), 'the replaced provider is still Rita\'s choice');
    // The mock's status cannot expire by itself: her connection ends the way a person ends it,
    // and the card asks first.
    await clickAndAccept('#disconnect-mock', /^Disconnect Mock provider\? Nudges are not sent through it until you connect again\.$/);
    await assertFlash('info', /^Disconnected: the mock provider forgot this account\.$/);
    assert.equal(await page.getAttribute('#status-mock', 'data-state'), 'not_connected');
    assert.match(await text('label:has(#provider-mock)'), /\(connects when you choose it\)$/);

    await sendNudge(SUBJECT_SEND, 'warning', MOCK_NAME);
    await sendNudge(SUBJECT_DISCARD, 'warning', MOCK_NAME);
    for (const subject of [SUBJECT_SEND, SUBJECT_DISCARD]) {
      const row = await waitForRow(subject, (r) => r.state === 'held', 'was held');
      assert.equal(row.details, `Held: it goes out when you connect ${MOCK_NAME} again.`);
      assert.equal(row.via, MOCK_NAME, 'queued while not connected: no mailbox to name');
      assert.equal(await page.locator(`#send-held-${row.id}`).count(), 0, 'no decision is asked while the promise holds');
      assert.equal(await page.locator(`#discard-${row.id}`).count(), 0, 'no decision is asked while the promise holds');
    }
    assert.equal(emlCount('mock-outbox'), 0, 'nothing went out through the mock provider');
    await shot('held');
  });

  step('3. the operator removes the mock provider and adds a spare one: the page changes, the nudges say why they wait', async () => {
    const spareManifest = path.join(h.work, 'spare.json');
    fs.writeFileSync(spareManifest, JSON.stringify({
      file_format_version: '1.0.0',
      provider: { id: 'spare', display_name: SPARE_NAME, library_path: path.join(h.buildDir, 'lib/libmock_provider.so'),
                  abi_version: '1.1', capabilities: ['html_body', 'attachments', 'custom_headers'] },
    }));
    h.config.providers = providers().filter((p) => !p.manifest.endsWith('mock.json'));
    h.config.providers.push({ manifest: spareManifest,
                              config: { outbox_dir: '${config_dir}/spare-outbox', address: SPARE_ADDRESS } });
    h.writeConfig(h.config);
    await h.reloadHost();
    await page.reload();
    assert.ok(await page.isVisible('#integration-spare'), 'the added provider has its card without a restart');
    assert.equal(await page.locator('#integration-mock').count(), 0, 'the removed provider is gone from the page');
    assert.equal(await page.locator('#provider-mock').count(), 0, 'and from the choice of email provider');
    assert.equal(await page.getAttribute('#status-spare', 'data-state'), 'not_connected');
    assert.equal(await page.locator('#connect-spare').count(), 0, 'the spare provider needs no sign-in: no Connect button');
    assert.match(await text('label:has(#provider-spare)'), /^Spare provider \(connects when you choose it\)$/);
    for (const subject of [SUBJECT_SEND, SUBJECT_DISCARD]) {
      const row = await waitForRow(subject, (r) => /was removed from this host/.test(r.details), 'said its provider was removed');
      assert.equal(row.state, 'held');
      assert.equal(row.details, "Its email provider 'mock' was removed from this host: send it with your current email provider, or discard it.");
      assert.doesNotMatch(row.details, /goes out when you connect/, 'no promise that cannot be kept');
      assert.match(await text(`#send-held-${row.id}`), /^Send with current provider$/);
      assert.match(await text(`#discard-${row.id}`), /^Discard$/);
    }
    await shot('stranded');
  });

  step('4. Rita switches to the spare provider, sends one nudge with it and discards the other', async () => {
    // Choosing the spare provider connects it (it needs no sign-in).
    await page.check('#provider-spare');
    await submit('#save-preferences');
    await assertFlash('success', new RegExp(`^Preferences saved: your nudges go out by email through ${SPARE_NAME}\\.$`));
    assert.equal(await page.getAttribute('#status-spare', 'data-state'), 'connected');
    assert.equal(await text('#email-spare'), SPARE_ADDRESS);
    assert.ok(await page.isChecked('#provider-spare'));
    // Still stranded: the spare provider is not where they were queued.
    const send = await outboxRow(SUBJECT_SEND);
    assert.equal(send.state, 'held');
    assert.match(send.details, /was removed from this host/);
    await submit(`#send-held-${send.id}`);
    await assertFlash('success', new RegExp(`^Nudge #${send.id} will be sent now\\.$`));
    const sent = await waitForRow(SUBJECT_SEND, (r) => r.state === 'sent', 'was sent');
    assert.equal(sent.via, `${SPARE_NAME}\n${SPARE_ADDRESS}`, 'sent by the spare provider, from its mailbox');
    assert.match(sent.details, /^sent \S/);
    assert.equal(emlCount('spare-outbox'), 1, 'sent once, by the spare provider');
    assert.match(emlHeaders('spare-outbox').find((e) => e.includes(SUBJECT_SEND)) ?? '', new RegExp(`^From: .*${re(SPARE_ADDRESS)}`, 'm'),
                 'the message leaves from the spare mailbox');

    const discard = await outboxRow(SUBJECT_DISCARD);
    assert.equal(discard.state, 'held');
    await submit(`#discard-${discard.id}`);
    await assertFlash('success', new RegExp(`^Nudge #${discard.id} was discarded\\.$`));
    const failed = await outboxRow(SUBJECT_DISCARD);
    assert.equal(failed.state, 'failed');
    assert.equal(failed.details, 'Discarded by you.');
    assert.equal(await page.locator(`#discard-${discard.id}`).count(), 0);
    assert.equal(await page.locator(`#send-held-${discard.id}`).count(), 0);
    await shot('decided');
    assert.equal(emlCount('spare-outbox'), 1, 'the discarded nudge did not go out');
    assert.equal(emlCount('mock-outbox'), 0, 'nothing left from the removed provider');
  });

  step('5. a held nudge queued from one mailbox waits for Rita to confirm after she reconnects as another', async () => {
    const spare = () => providers().find((p) => p.manifest.endsWith('spare.json'));
    spare().config.outcome = 'auth_expired';
    h.writeConfig(h.config);
    await h.reloadHost();
    await page.reload();
    await sendNudge(SUBJECT_MAILBOX);
    const held = await waitForRow(SUBJECT_MAILBOX, (r) => r.state === 'held', 'was held');
    assert.equal(held.via, `${SPARE_NAME}\n${SPARE_ADDRESS}`, 'queued from the mailbox connected then');

    // Her connection moves to another mailbox (the provider still cannot send): she disconnects
    // (the card asks first) and connects again by choosing the provider.
    spare().config.address = NEW_SPARE_ADDRESS;
    h.writeConfig(h.config);
    await h.reloadHost();
    await page.reload();
    await clickAndAccept('#disconnect-spare', /^Disconnect Mock provider\? Nudges are not sent through it until you connect again\.$/);
    assert.equal(await page.getAttribute('#status-spare', 'data-state'), 'not_connected');
    assert.equal(await page.locator('#connect-spare').count(), 0);
    await page.check('#provider-spare');
    await submit('#save-preferences');
    await assertFlash('success', new RegExp(`^Preferences saved: your nudges go out by email through ${SPARE_NAME}\\.$`));
    assert.equal(await page.getAttribute('#status-spare', 'data-state'), 'connected');
    assert.equal(await text('#email-spare'), NEW_SPARE_ADDRESS);
    const row = await waitForRow(SUBJECT_MAILBOX, (r) => /Confirm to send it from/.test(r.details), 'asked for a confirmation');
    assert.equal(row.state, 'held');
    assert.match(row.details, /Queued to leave from rita@spare\.example, but the connected mailbox is now rita\.new@spare\.example/);
    assert.equal(row.via, `${SPARE_NAME}\n${SPARE_ADDRESS}`, 'the mailbox it was queued from');
    assert.match(await text(`#send-held-${row.id}`), /^Confirm and send$/);
    assert.match(await text(`#discard-${row.id}`), /^Discard$/);
    // The provider can send again: the nudge still waits for Rita.
    delete spare().config.outcome;
    h.writeConfig(h.config);
    await h.reloadHost();
    await new Promise((r) => setTimeout(r, 1500));
    await page.reload();
    const waiting = await outboxRow(SUBJECT_MAILBOX);
    assert.equal(waiting.state, 'held', 'not sent without the confirmation');
    assert.match(waiting.details, /Confirm to send it from/);
    assert.equal(emlCount('spare-outbox'), 1);
    await shot('confirm-mailbox');

    await submit(`#send-held-${row.id}`);
    await assertFlash('success', new RegExp(`^Nudge #${row.id} will be sent now\\.$`));
    const sent = await waitForRow(SUBJECT_MAILBOX, (r) => r.state === 'sent', 'was sent after the confirmation');
    assert.equal(sent.via, `${SPARE_NAME}\n${NEW_SPARE_ADDRESS}`, 'sent from the mailbox Rita confirmed');
    assert.equal(emlCount('spare-outbox'), 2);
    await shot('confirmed-sent');
  });
});
