// The end-to-end harness: starts the local Microsoft stand-in and the reference host exactly as
// scripts/demo.sh does (fresh token key, free ports, users rita and sam, the Personal Outlook
// provider pointed at the stand-in and the mock provider writing to a temp folder), launches the
// Debian Chromium through playwright-core, and tears everything down again, also on failure.
// With `gmail: true` it also starts the local Google stand-in and adds the Personal Gmail
// provider, pointed at it, between the two.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

export const WORK_USER = 'adele@contoso.example';
export const APPROVAL_USER = 'ben@fabrikam.example';
export const CLIENT_ID = '11111111-2222-4333-8444-555555555555';
export const NO_WORKFLOW_USER = 'nora@northwind.example';  // a tenant without the admin consent workflow
export const PRODUCT_NAME = 'Recruiting Nudges';
// The Google stand-in's default scenario (sandboxes/google/scenarios/default.json): the host's
// OAuth client and two of its accounts.
export const GOOGLE_CLIENT_ID = '1234567890-recruiting.apps.googleusercontent.com';
export const GMAIL_USER = 'grace@gmail.example';           // a consumer account
export const GMAIL_BLOCKED_USER = 'bea@strict.example';    // a Workspace domain that blocks unverified apps
const GOOGLE_SCENARIO = new URL('../../sandboxes/google/scenarios/default.json', import.meta.url);

// Flags for a headless Chromium on a machine without a network: nothing may phone home.
export const CHROMIUM_FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

export function fail(message) {
  throw new Error(`e2e: ${message}`);
}

function resolveBuildDir(gmail) {
  const dir = process.env.E2E_BUILD_DIR;
  if (!dir) fail('E2E_BUILD_DIR is not set: point it at a build directory (e.g. build/dev), or use tests/e2e/run.sh BUILD_DIR');
  const abs = path.resolve(dir);
  const needed = ['bin/host_stub', 'bin/microsoft-sandbox', 'manifests/outlook.json', 'manifests/mock.json',
                  'lib/liboutlook_plugin.so', 'lib/libmock_provider.so', 'sandbox-tls/ca.pem', 'sandbox-tls/server-key.pem'];
  if (gmail) needed.push('bin/google-sandbox', 'manifests/gmail.json', 'lib/libgmail_plugin.so', 'sandbox-tls/google-client-secret.txt');
  for (const rel of needed)
    if (!fs.existsSync(path.join(abs, rel))) fail(`${path.join(abs, rel)} is missing: build first (cmake --build ${dir})`);
  return abs;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function waitForLine(file, regex, child, what, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
    const m = text.match(regex);
    if (m) return m[1];
    if (child.exitCode !== null || child.signalCode !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  fail(`${what} did not start (exit ${child.exitCode ?? child.signalCode ?? 'none'})`);
}

// SHA-256 of the DER SubjectPublicKeyInfo of the stand-in's server key, base64: what Chromium's
// --ignore-certificate-errors-spki-list pins.
function spkiHash(keyFile) {
  const der = execFileSync('openssl', ['pkey', '-in', keyFile, '-pubout', '-outform', 'DER']);
  return execFileSync('openssl', ['dgst', '-sha256', '-binary'], { input: der }).toString('base64');
}

// The outbox row of a nudge, by its subject, read in one step inside the page (the page's script
// replaces the outbox while it updates it, so cells read one by one could mix two versions):
// {id, state, to, subject, via, badge, details}, or null.
export async function readOutboxRow(page, subject) {
  return page.evaluate((s) => {
    const row = [...document.querySelectorAll('#outbox tr[data-state]')].find((tr) => [...tr.cells].some((td) => td.innerText.includes(s)));
    if (!row) return null;
    const cells = [...row.cells].map((td) => td.innerText);
    return { id: cells[0].trim(), state: row.dataset.state, to: cells[1], subject: cells[2], via: cells[3], badge: cells[4].trim(), details: cells[5] };
  }, subject);
}

export class Harness {
  // `name`: a subdirectory of the artifacts directory for this test file's screenshots.
  // `gmail`: also start the Google stand-in and configure Personal Gmail.
  constructor({ name, gmail = false } = {}) {
    this.name = name;
    this.gmail = gmail;
    this.children = [];
    this.logs = {};
    this.consoleErrors = [];
  }

  async start() {
    this.buildDir = resolveBuildDir(this.gmail);
    this.artifacts = path.resolve(process.env.E2E_ARTIFACTS_DIR || path.join(this.buildDir, 'e2e-artifacts'));
    if (this.name) this.artifacts = path.join(this.artifacts, this.name);
    fs.mkdirSync(this.artifacts, { recursive: true });
    // Empty it, but keep the other test files' subdirectories: run.sh runs the files in turn, and
    // an earlier one's screenshots must survive a later one's start.
    for (const entry of fs.readdirSync(this.artifacts, { withFileTypes: true }))
      if (this.name || !entry.isDirectory()) fs.rmSync(path.join(this.artifacts, entry.name), { recursive: true, force: true });
    this.work = fs.mkdtempSync(path.join(os.tmpdir(), 'ep-e2e-'));
    this.tlsDir = path.join(this.buildDir, 'sandbox-tls');
    this.ca = fs.readFileSync(path.join(this.tlsDir, 'ca.pem'));
    // Kill the servers even if the test process dies without running its after() hooks.
    this.onExit = () => this.killChildren();
    process.on('exit', this.onExit);

    // 1. The Microsoft stand-in (HTTPS, test CA from the build).
    const sandbox = this.spawn('sandbox', path.join(this.buildDir, 'bin/microsoft-sandbox'),
                               ['--port', '0', '--tls-dir', this.tlsDir, '--quiet']);
    this.sandboxUrl = await waitForLine(sandbox.out, /^listening on (\S+)$/m, sandbox.child, 'the Microsoft stand-in');
    this.sandboxOrigin = new URL(this.sandboxUrl).origin;

    // 2. The host: a fresh token-encryption key (never committed) and a config naming the providers.
    fs.writeFileSync(path.join(this.work, 'token-key'),
                     execFileSync('openssl', ['rand', '-hex', '32']).toString(), { mode: 0o600 });
    const hostPort = await freePort();
    this.hostUrl = `http://127.0.0.1:${hostPort}`;
    const gmailProvider = this.gmail ? [await this.startGoogle()] : [];
    const config = {
      store: { path: 'host.db' },
      log_level: 'info',
      users: [{ id: 'rita', display_name: 'Rita Recruiter' }, { id: 'sam', display_name: 'Sam Sourcer' }],
      web: { listen_address: '127.0.0.1', port: hostPort, debug_clock: true, product_name: PRODUCT_NAME,
             show_developer_providers: true },
      providers: [
        { manifest: path.join(this.buildDir, 'manifests/outlook.json'),
          config: {
            client_id: CLIENT_ID,
            authority: 'common',
            endpoints: { login: this.sandboxUrl, graph: `${this.sandboxUrl}/v1.0` },
            tls: { ca_file: path.join(this.tlsDir, 'ca.pem') },
            redirect_uri: `${this.hostUrl}/callback`,
            token_encryption: { active_key: 'e2e', keys: [{ id: 'e2e', file: '${config_dir}/token-key' }] },
          } },
        ...gmailProvider,
        { manifest: path.join(this.buildDir, 'manifests/mock.json'),
          config: { outbox_dir: '${config_dir}/mock-outbox', address: 'rita.recruiter@example.com',
                    display_name: 'Rita Recruiter' } },
      ],
    };
    this.config = config;
    this.configFile = path.join(this.work, 'host.json');
    this.pidFile = path.join(this.work, 'serve.pid');
    this.writeConfig(config);
    const host = this.spawn('host', path.join(this.buildDir, 'bin/host_stub'),
                            ['--config', this.configFile, 'serve', '--pid-file', this.pidFile]);
    this.settingsUrl = await waitForLine(host.out, /^Settings page: (\S+)$/m, host.child, 'the host');

    // 3. Chromium, trusting exactly the stand-in's server key (see README: TLS trust).
    const executablePath = process.env.E2E_CHROMIUM || '/usr/bin/chromium';
    if (!fs.existsSync(executablePath))
      fail(`Chromium not found at ${executablePath}: install the Debian package "chromium" (or set E2E_CHROMIUM)`);
    this.spki = spkiHash(path.join(this.tlsDir, 'server-key.pem'));
    this.browser = await chromium.launch({
      executablePath,
      args: [...CHROMIUM_FLAGS, `--ignore-certificate-errors-spki-list=${this.spki}`],
      timeout: 30000,
    });
  }

  // The Google stand-in (same TLS directory, so the same pinned key) and the Personal Gmail
  // provider's entry for the host config. Google matches redirect URIs exactly, port included
  // (https://developers.google.com/identity/protocols/oauth2/web-server#uri-validation), so the
  // default scenario's client gets this host's callback.
  async startGoogle() {
    const scenario = JSON.parse(fs.readFileSync(GOOGLE_SCENARIO, 'utf8'));
    const client = scenario.clients.find((c) => c.client_id === GOOGLE_CLIENT_ID);
    if (!client) fail(`${GOOGLE_SCENARIO.pathname} has no client ${GOOGLE_CLIENT_ID}`);
    client.redirect_uris.push(`${this.hostUrl}/callback`);
    const scenarioFile = path.join(this.work, 'google-scenario.json');
    fs.writeFileSync(scenarioFile, JSON.stringify(scenario, null, 2));
    const google = this.spawn('google', path.join(this.buildDir, 'bin/google-sandbox'),
                              ['--port', '0', '--tls-dir', this.tlsDir, '--scenario', scenarioFile, '--quiet']);
    this.googleUrl = await waitForLine(google.out, /^listening on (\S+)$/m, google.child, 'the Google stand-in');
    this.googleOrigin = new URL(this.googleUrl).origin;
    const endpoints = Object.fromEntries(['accounts', 'oauth2', 'openidconnect', 'googleapis', 'gmail'].map((k) => [k, this.googleUrl]));
    return {
      manifest: path.join(this.buildDir, 'manifests/gmail.json'),
      config: {
        client_id: GOOGLE_CLIENT_ID,
        client_secret: { file: path.join(this.tlsDir, 'google-client-secret.txt') },
        redirect_uri: `${this.hostUrl}/callback`,
        publishing_status: 'production',
        endpoints,
        tls: { ca_file: path.join(this.tlsDir, 'ca.pem') },
        token_encryption: { active_key: 'e2e', keys: [{ id: 'e2e', file: '${config_dir}/token-key' }] },
      },
    };
  }

  writeConfig(config) {
    this.config = config;
    fs.writeFileSync(this.configFile, JSON.stringify(config, null, 2));
  }

  // `host_stub reload` as an operator runs it after editing the config; resolves once the
  // running host logged the reload.
  async reloadHost() {
    const log = () => (fs.existsSync(this.logs.host.err) ? fs.readFileSync(this.logs.host.err, 'utf8') : '');
    const before = log().split('providers reloaded').length;
    execFileSync(path.join(this.buildDir, 'bin/host_stub'), ['--config', this.configFile, 'reload', '--pid-file', this.pidFile],
                 { stdio: ['ignore', 'pipe', 'pipe'] });
    const deadline = Date.now() + 15000;
    while (log().split('providers reloaded').length === before) {
      if (Date.now() > deadline) fail(`the host did not log a reload:\n${this.tail('host')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  spawn(name, file, args) {
    const out = path.join(this.work, `${name}.out`);
    const err = path.join(this.work, `${name}.log`);
    const child = spawn(file, args, {
      cwd: this.work,
      stdio: ['ignore', fs.openSync(out, 'w'), fs.openSync(err, 'w')],
    });
    child.on('error', () => {});
    this.children.push(child);
    this.logs[name] = { out, err };
    return { child, out, err };
  }

  // A new browser window with its own cookies (a different person at a different computer).
  async newPage() {
    const context = await this.browser.newContext({ viewport: { width: 1100, height: 900 } });
    const page = await context.newPage();
    // What a person would not see but a developer should: script errors and console errors
    // (e.g. a Content-Security-Policy refusal), listed after the run in browser-console.txt.
    // URLs without their query: an authorization code or state never lands in an artifact.
    const where = () => { const u = new URL(page.url()); return `${u.origin}${u.pathname}`; };
    page.on('console', (m) => { if (m.type() === 'error') this.consoleErrors.push(`${where()}: ${m.text()}`); });
    page.on('pageerror', (e) => this.consoleErrors.push(`${where()}: uncaught ${e.message}`));
    page.setDefaultTimeout(15000);
    page.setDefaultNavigationTimeout(15000);
    return page;
  }

  async screenshot(page, name, timeout = 15000) {
    const file = path.join(this.artifacts, `${name}.png`);
    await page.screenshot({ path: file, fullPage: true, timeout });
    return file;
  }

  // The Microsoft stand-in's control API over HTTPS, verified against the test CA (never unverified).
  sandbox(method, pathAndQuery, body) {
    return this.control(this.sandboxUrl, method, pathAndQuery, body);
  }

  // The Google stand-in's control API, the same way.
  google(method, pathAndQuery, body) {
    return this.control(this.googleUrl, method, pathAndQuery, body);
  }

  control(baseUrl, method, pathAndQuery, body) {
    const url = new URL(pathAndQuery, baseUrl);
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const req = https.request(url, {
        method, ca: this.ca, timeout: 10000,
        headers: data ? { 'Content-Type': 'application/json', 'Content-Length': data.length } : {},
      }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => { text += c; });
        res.on('end', () => {
          if (res.statusCode >= 300) return reject(new Error(`stand-in ${method} ${url.pathname}: HTTP ${res.statusCode} ${text}`));
          try { resolve(text ? JSON.parse(text) : null); } catch (e) { reject(e); }
        });
      });
      req.on('timeout', () => req.destroy(new Error(`stand-in ${method} ${url.pathname}: timed out`)));
      req.on('error', reject);
      req.end(data);
    });
  }

  async sandboxMessages(user) {
    const r = await this.sandbox('GET', `/_sandbox/messages?user=${encodeURIComponent(user)}`);
    return Array.isArray(r) ? r : r.messages;
  }

  // The host's debug clock (web.debug_clock: true). Guarded like every form: sent from the
  // signed-in settings page, with that page's CSRF token.
  async advanceHostClock(page, seconds) {
    const res = await page.evaluate(async (advance) => {
      const csrf = document.querySelector('input[name="csrf"]').value;
      const r = await fetch('/_debug/clock', {
        method: 'POST', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
        body: JSON.stringify({ advance_seconds: advance }),
      });
      return { ok: r.ok, status: r.status, text: await r.text() };
    }, seconds);
    if (!res.ok) fail(`host debug clock: HTTP ${res.status} ${res.text}`);
    return JSON.parse(res.text);
  }

  tail(name, lines = 40) {
    const out = [];
    for (const f of [this.logs[name]?.out, this.logs[name]?.err]) {
      if (f && fs.existsSync(f)) out.push(fs.readFileSync(f, 'utf8').trimEnd().split('\n').slice(-lines).join('\n'));
    }
    return out.filter(Boolean).join('\n');
  }

  killChildren() {
    for (const c of this.children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
  }

  async stop({ keepLogs = false } = {}) {
    try {
      if (this.browser) await this.browser.close();
    } catch { /* already gone */ }
    this.killChildren();
    await Promise.all(this.children.map((c) => (c.exitCode !== null || c.signalCode !== null)
      ? null
      : new Promise((r) => { const t = setTimeout(() => { c.kill('SIGKILL'); r(); }, 5000); c.once('exit', () => { clearTimeout(t); r(); }); })));
    process.off('exit', this.onExit);
    if (this.artifacts && this.consoleErrors.length)
      fs.writeFileSync(path.join(this.artifacts, 'browser-console.txt'), `${this.consoleErrors.join('\n')}\n`);
    if (this.work) {
      if (keepLogs) {
        for (const [name, f] of Object.entries(this.logs))
          for (const file of [f.out, f.err])
            if (fs.existsSync(file)) fs.copyFileSync(file, path.join(this.artifacts, path.basename(file)));
      }
      fs.rmSync(this.work, { recursive: true, force: true });
    }
  }
}
