#!/usr/bin/env python3
"""The packages as an operator installs them (README.md, "Operators"), in a throw-away root.

tests/package/run.sh extracts every .deb into ROOT (dpkg-deb -x); this script then starts the
Microsoft stand-in from the build tree, writes a host config that enables the providers by id only
(no manifest path: the host finds them through EP_PROVIDER_PATH=ROOT/usr/share/email-provider/
providers.d), runs ROOT/usr/bin/host_stub serve, connects a user's Outlook mailbox against the
stand-in, sends one nudge and checks that the stand-in received it, that the provider ran in the
runner from ROOT. Two hours later (both clocks moved) a second nudge needs a token refresh; /metrics
must count both sends and the refresh, and /readyz must answer ready. The recruiter's steps are
scripts/demo_headless.py's. Exits non-zero, with the host's log, if any step does not happen."""
import argparse
import json
import os
import pathlib
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.dont_write_bytecode = True  # no __pycache__ left in the source tree
sys.path.insert(0, str(REPO / "scripts"))
import demo_headless  # noqa: E402  (the recruiter's steps, shared with the demo)

OUTLOOK_CLIENT = "11111111-2222-4333-8444-555555555555"  # an app of the stand-in's default scenario
# README.md, "Metrics": sends by provider and outcome; token refreshes the provider counted (ABI 1.3).
SENT = 'ep_host_sends_total{outcome="sent",provider="outlook"}'
REFRESHED = 'ep_host_token_refreshes_total{provider="outlook",result="ok"}'


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_line(path, prefix, process, what):
    """The rest of the first line of `path` that starts with `prefix`, once the process prints it."""
    for _ in range(200):
        if path.exists():
            for line in path.read_text().splitlines():
                if line.startswith(prefix):
                    return line[len(prefix):].strip()
        if process.poll() is not None:
            break
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not start (no '{prefix}' line)")


class Run:
    def __init__(self, root, build, work):
        self.root, self.build, self.work = root, build, work
        self.processes = []

    def start(self, name, argv, env=None):
        out, err = self.work / f"{name}.out", self.work / f"{name}.log"
        p = subprocess.Popen(argv, stdout=out.open("w"), stderr=err.open("w"), env=env, cwd=self.work)
        self.processes.append((name, p))
        return p, out

    def stop_all(self):
        for _, p in reversed(self.processes):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for _, p in self.processes:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()

    def start_stand_in(self):
        """The Microsoft stand-in, on its default scenario plus the host's loopback callback."""
        scenario = json.loads((REPO / "sandboxes/microsoft/scenarios/default.json").read_text())
        app = next(a for a in scenario["apps"] if a["client_id"] == OUTLOOK_CLIENT)
        app["redirect_uris"].append("http://127.0.0.1/callback/outlook")  # any port on loopback
        (self.work / "microsoft-scenario.json").write_text(json.dumps(scenario))
        p, out = self.start("microsoft-sandbox", [str(self.build / "bin/microsoft-sandbox"), "--port", "0",
                                                  "--tls-dir", str(self.build / "sandbox-tls"), "--quiet",
                                                  "--scenario", str(self.work / "microsoft-scenario.json")])
        return wait_for_line(out, "listening on ", p, "the Microsoft stand-in")

    def host_config(self, port, microsoft):
        ca = str(self.build / "sandbox-tls/ca.pem")
        keys = {"active_key": "k1", "keys": [{"id": "k1", "file": "${config_dir}/token-key"}]}
        config = {
            "store": {"path": "host.db"},
            "log_level": "info",
            "users": [{"id": "rita", "display_name": "Rita Recruiter"}],
            "web": {"listen_address": "127.0.0.1", "port": port, "product_name": "Recruiting Nudges",
                    "debug_clock": True},  # two hours pass, so that a token is refreshed
            "metrics": {"listen": "127.0.0.1:0"},
            # By id only: the installed manifests are found on the search path.
            "providers": [
                {"id": "outlook", "config": {
                    "client_id": OUTLOOK_CLIENT, "authority": "common",
                    "endpoints": {"login": microsoft, "graph": microsoft + "/v1.0"}, "tls": {"ca_file": ca},
                    "redirect_uri": f"http://127.0.0.1:{port}/callback/outlook", "token_encryption": keys}},
                {"id": "gmail", "config": {
                    "client_id": "1234567890-recruiting.apps.googleusercontent.com",
                    "client_secret": {"file": str(self.build / "sandbox-tls/google-client-secret.txt")},
                    "redirect_uri": f"http://127.0.0.1:{port}/callback/gmail", "token_encryption": keys}},
            ],
        }
        return config

    def start_host(self, microsoft):
        port = free_port()
        (self.work / "token-key").write_text(os.urandom(32).hex() + "\n")
        (self.work / "host.json").write_text(json.dumps(self.host_config(port, microsoft), indent=2))
        env = {k: v for k, v in os.environ.items() if not k.startswith("EP_")}  # no build-tree runner
        env["EP_PROVIDER_PATH"] = str(self.root / "usr/share/email-provider/providers.d")
        host, out = self.start("host", [str(self.root / "usr/bin/host_stub"), "--config",
                                        str(self.work / "host.json"), "serve"], env=env)
        wait_for_line(out, "Settings page: ", host, "the installed host")
        return host, f"http://127.0.0.1:{port}"

    def runners_from_root(self, host):
        """The host's child processes that run the installed ep-provider-runner."""
        runner = (self.root / "usr/libexec/email-provider/ep-provider-runner").resolve()
        found = []
        for stat in pathlib.Path("/proc").glob("[0-9]*/stat"):
            try:
                ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
                if ppid == host.pid and pathlib.Path(os.readlink(stat.parent / "exe")) == runner:
                    found.append(int(stat.parent.name))
            except (OSError, IndexError, ValueError):
                continue
        return found

    def scrape_metrics(self):
        """Each sample of /metrics, whose address the host logs as it starts, by its series."""
        url = self.wait_for_log(re.compile(r"serving (http://\S+/metrics)"), "the metrics endpoint")
        text = urllib.request.urlopen(url, timeout=10).read().decode()
        return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
                for line in text.splitlines() if line and not line.startswith("#")}

    def check_counted(self, sent, refreshed):
        samples = self.scrape_metrics()
        for series, least in ((SENT, sent), (REFRESHED, refreshed)):
            if samples.get(series, 0) < least:
                raise RuntimeError(f"/metrics has {series} = {samples.get(series)}, expected at least {least}")
        return f"{SENT} {samples[SENT]:g}, {REFRESHED} {samples.get(REFRESHED, 0):g}"

    def wait_for_log(self, pattern, what):
        for _ in range(100):
            found = pattern.search((self.work / "host.log").read_text())
            if found:
                return found.group(1)
            time.sleep(0.1)
        raise RuntimeError(f"the host's log does not name {what}")

    def run(self):
        microsoft = self.start_stand_in()
        host, host_url = self.start_host(microsoft)
        demo = demo_headless.Demo(host_url, microsoft, microsoft, str(self.build / "sandbox-tls/ca.pem"))
        demo.sign_in("rita")
        providers = demo.state()["providers"]
        for provider in ("outlook", "gmail"):
            if providers.get(provider, {}).get("state", "unavailable") == "unavailable":
                raise RuntimeError(f"the installed host did not load '{provider}': {providers.get(provider)}")
        demo.connect_outlook()
        demo.choose("outlook", "Personal Outlook")
        subject = "Installed from packages"
        demo.nudge(subject, "outlook")
        demo.wait_until_sent([subject])
        recorded = demo.microsoft.subjects(demo_headless.WORK_USER)
        if recorded != [subject]:
            raise RuntimeError(f"the Microsoft stand-in recorded {recorded}, expected [{subject!r}]")
        runners = self.runners_from_root(host)
        if not runners:
            raise RuntimeError("no provider runner from the installed root is running under the host")
        print(f"  - the stand-in received the nudge; {len(runners)} provider runner(s) from {self.root}")
        print(f"  - /metrics: {self.check_counted(sent=1, refreshed=0)}")

        # Two hours later the access token has expired: the next nudge needs a refresh.
        demo.microsoft.control("POST", "/_sandbox/clock", {"advance_seconds": 7200})
        demo.host_json("/_debug/clock", {"advance_seconds": 7200}, csrf=demo.csrf())
        later = "Installed from packages, two hours later"
        demo.nudge(later, "outlook")
        demo.wait_until_sent([later])
        print(f"  - two hours later: /metrics: {self.check_counted(sent=2, refreshed=1)}")
        ready = urllib.request.urlopen(f"{host_url}/readyz", timeout=10)
        print(f"  - /readyz: {ready.status} {ready.read().decode().strip()}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--root", required=True, type=pathlib.Path, help="the packages, extracted")
    p.add_argument("--build", required=True, type=pathlib.Path, help="the build tree with the stand-in")
    a = p.parse_args()
    print(f"Installed packages in {a.root}:")
    with tempfile.TemporaryDirectory(prefix="ep-package-test-") as work:
        run = Run(a.root.resolve(), a.build.resolve(), pathlib.Path(work))
        try:
            run.run()
        except (RuntimeError, SystemExit, OSError) as e:
            run.stop_all()
            for name in ("host", "microsoft-sandbox"):
                log = pathlib.Path(work) / f"{name}.log"
                if log.exists():
                    print(f"--- {name} log:\n{log.read_text()[-4000:]}", file=sys.stderr)
            print(f"package test: FAIL: {e}", file=sys.stderr)
            return 1
        run.stop_all()
    print("package test: PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
