// Starts a local stand-in (sandboxes/microsoft, sandboxes/google) for the conformance tests and
// talks to its control API. Both binaries share the command line and the `listening on URL`
// line (sandboxes/common). Trust in their test CA comes from NODE_EXTRA_CA_CERTS (run.sh), the
// same way the providers' own libraries get it: nothing here turns certificate checks off.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

class StandIn {
  // A subclass names its binary (under BUILD_DIR/bin) and the provider it stands in for.
  static async start(buildDir) {
    const s = new this();
    s.work = fs.mkdtempSync(path.join(os.tmpdir(), `${this.binary}-conformance-`));
    s.buildDir = buildDir;
    s.log = path.join(s.work, 'sandbox.log');
    const out = path.join(s.work, 'sandbox.out');
    // The request log has methods, paths and statuses only (never queries, bodies or tokens).
    s.child = spawn(path.join(buildDir, 'bin', this.binary),
                    ['--port', '0', '--tls-dir', path.join(buildDir, 'sandbox-tls')],
                    { stdio: ['ignore', fs.openSync(out, 'w'), fs.openSync(s.log, 'w')] });
    s.child.on('error', () => {});
    s.onExit = () => s.child.kill('SIGTERM');
    process.on('exit', s.onExit);
    const deadline = Date.now() + 15000;
    while (Date.now() < deadline) {
      const m = (fs.existsSync(out) ? fs.readFileSync(out, 'utf8') : '').match(/^listening on (\S+)$/m);
      if (m) {
        s.url = m[1];
        s.host = new URL(s.url).host;
        return s;
      }
      if (s.child.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`the ${this.provider} stand-in did not start:\n${s.tail()}`);
  }

  async control(method, pathAndQuery, body) {
    const res = await fetch(new URL(pathAndQuery, this.url), {
      method,
      headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`stand-in ${method} ${pathAndQuery.split('?')[0]}: HTTP ${res.status} ${text}`);
    return text ? JSON.parse(text) : null;
  }

  tail(lines = 30) {
    return fs.existsSync(this.log) ? fs.readFileSync(this.log, 'utf8').trimEnd().split('\n').slice(-lines).join('\n') : '';
  }

  async stop() {
    process.off('exit', this.onExit);
    if (this.child.exitCode === null) {
      this.child.kill('SIGTERM');
      await new Promise((r) => { const t = setTimeout(() => { this.child.kill('SIGKILL'); r(); }, 5000); this.child.once('exit', () => { clearTimeout(t); r(); }); });
    }
    fs.rmSync(this.work, { recursive: true, force: true });
  }
}

export class MicrosoftStandIn extends StandIn {
  static binary = 'microsoft-sandbox';
  static provider = 'Microsoft';

  settings(patch) { return this.control('POST', '/_sandbox/settings', patch); }
  revoke(upn, reason) { return this.control('POST', `/_sandbox/users/${upn}/revoke`, { reason }); }
  async refreshCount(upn) {
    const c = await this.control('GET', '/_sandbox/counters');
    return c.token_requests.by_user[upn.toLowerCase()]?.refresh_token ?? 0;
  }

  // The sign-in pages, answered by the stand-in's autopilot (the same code as the HTML forms).
  // Returns the callback's query parameters; the code itself is never printed.
  async signIn(authorizeUrl, user, extra = {}) {
    const r = await this.control('POST', '/_sandbox/autopilot', { authorize_url: authorizeUrl, user, answer: 'accept', ...extra });
    if (!r.callback_url) throw new Error(`no redirect back to the app: page ${r.page} ${JSON.stringify(r.error_page ?? r.interrupt)}`);
    return new URL(r.callback_url).searchParams;
  }
}

export class GoogleStandIn extends StandIn {
  static binary = 'google-sandbox';
  static provider = 'Google';

  // The client secret the build generated for the default scenario's clients (never printed).
  clientSecret() {
    return fs.readFileSync(path.join(this.buildDir, 'sandbox-tls', 'google-client-secret.txt'), 'utf8').trim();
  }

  // The account chooser and consent pages, answered by the stand-in's autopilot (the same steps
  // as the HTML forms). Returns the callback's query parameters; the code itself is never printed.
  async signIn(authorizeUrl, user, extra = {}) {
    const r = await this.control('POST', '/_sandbox/autopilot', { authorize_url: authorizeUrl, user, answer: 'allow', ...extra });
    if (!r.callback_url) throw new Error(`no redirect back to the app: ${JSON.stringify(r.error_page)}`);
    return new URL(r.callback_url).searchParams;
  }
}
