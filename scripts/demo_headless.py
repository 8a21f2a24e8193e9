#!/usr/bin/env python3
"""The seed page's story, driven without a browser against a running demo (scripts/demo.sh):
a recruiter signs in to the host, connects Microsoft Outlook through the stand-in's pages,
chooses Personal Outlook, sends three nudges, sees them recorded by the stand-in; then the
grant dies (password changed), a nudge is held, the recruiter connects again and the held
nudge goes out. Prints a short summary; exits non-zero if any step does not happen."""
import argparse
import http.cookiejar
import json
import re
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

WORK_USER = "adele@contoso.example"


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Demo:
    def __init__(self, host, sandbox, ca):
        self.host = host
        self.sandbox = sandbox
        self.tls = ssl.create_default_context(cafile=ca)
        self.jar = http.cookiejar.CookieJar()
        self.browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), NoRedirect())
        self.steps = []

    # --- HTTP helpers -------------------------------------------------------------------
    def request(self, method, url, form=None, follow=True):
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        req = urllib.request.Request(url, data=data, method=method)
        try:
            resp = self.browser.open(req, timeout=30)
            return resp.status, resp.headers, resp.read().decode()
        except urllib.error.HTTPError as e:
            if e.code in (301, 302, 303) and follow:
                location = urllib.parse.urljoin(url, e.headers["Location"])
                if location.startswith(self.host):
                    return self.request("GET", location)
                return e.code, e.headers, ""
            if e.code in (301, 302, 303):
                return e.code, e.headers, ""
            raise

    def sandbox_control(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.sandbox + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, context=self.tls, timeout=30) as resp:
            return json.loads(resp.read().decode() or "null")

    def host_json(self, path, body=None, csrf=None):
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"}
        if csrf:
            headers["X-CSRF-Token"] = csrf  # the debug clock is guarded like every form
        req = urllib.request.Request(self.host + path, data=data, method="POST" if body is not None else "GET",
                                     headers=headers)
        return json.loads(self.browser.open(req, timeout=30).read().decode())

    def csrf(self):
        _, _, page = self.request("GET", self.host + "/settings/communication")
        return re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1), page

    def state(self):
        return self.host_json("/api/state")

    def wait_for(self, what, predicate, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.2)
        raise SystemExit(f"demo: timed out waiting for {what}")

    def step(self, text):
        self.steps.append(text)
        print(f"  - {text}")

    # --- the story -----------------------------------------------------------------------
    def sign_in(self, user):
        _, _, page = self.request("GET", self.host + "/signin")
        token = re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)
        self.request("POST", self.host + "/signin", {"csrf": token, "user_id": user})
        self.step(f"signed in to the host as {user}")

    def connect_outlook(self):
        token, _ = self.csrf()
        status, headers, _ = self.request("POST", self.host + "/settings/communication/connect",
                                          {"csrf": token, "provider": "outlook"}, follow=False)
        authorize_url = headers["Location"]
        assert authorize_url.startswith(self.sandbox), authorize_url
        pilot = self.sandbox_control("POST", "/_sandbox/autopilot",
                                     {"authorize_url": authorize_url, "user": WORK_USER, "answer": "accept"})
        callback = pilot["callback_url"]
        self.request("GET", callback)
        outlook = self.state()["providers"]["outlook"]
        if outlook["state"] != "connected":
            raise SystemExit(f"demo: connect did not succeed: {outlook}")
        self.step(f"connected Microsoft Outlook: {outlook['email']} ({outlook['display_name']}), "
                  f"application {outlook['application_id']}")

    def choose_outlook(self):
        token, _ = self.csrf()
        self.request("POST", self.host + "/settings/communication/preferences",
                     {"csrf": token, "channel": "email", "email_provider": "outlook"})
        state = self.state()
        assert state["email_provider"] == "outlook", state
        self.step("chose Email as preferred channel and Personal Outlook as email provider")

    def nudge(self, to, subject):
        token, _ = self.csrf()
        self.request("POST", self.host + "/settings/communication/nudge",
                     {"csrf": token, "to": to, "subject": subject, "text": "Hi! Following up on your application."})

    def outbox_states(self):
        return {n["subject"]: n["state"] for n in self.state()["outbox"]}

    def run(self):
        print("Sandbox demo (headless):")
        self.sign_in("rita")
        self.connect_outlook()
        self.choose_outlook()
        subjects = [f"Nudge {i}: following up" for i in (1, 2, 3)]
        for s in subjects:
            self.nudge("casey.candidate@example.org", s)
        self.wait_for("three nudges sent", lambda: all(self.outbox_states().get(s) == "sent" for s in subjects))
        recorded = self.sandbox_control("GET", "/_sandbox/messages?user=" + urllib.parse.quote(WORK_USER))
        recorded = recorded["messages"] if isinstance(recorded, dict) else recorded
        self.step(f"sent three nudges; the stand-in recorded {len(recorded)} message(s) from {WORK_USER}")

        # An hour later, after the recruiter changed their Microsoft password.
        self.sandbox_control("POST", "/_sandbox/users/" + WORK_USER + "/revoke", {"reason": "password_change"})
        self.sandbox_control("POST", "/_sandbox/clock", {"advance_seconds": 3600})
        self.host_json("/_debug/clock", {"advance_seconds": 3600}, csrf=self.csrf()[0])
        held_subject = "Nudge 4: sent after the password change"
        self.nudge("casey.candidate@example.org", held_subject)
        self.wait_for("the nudge to be held", lambda: self.outbox_states().get(held_subject) == "held")
        outlook = self.state()["providers"]["outlook"]
        self.step(f"the grant died: Outlook shows '{outlook['state']}' ({outlook.get('message', '')}); "
                  f"the new nudge is held, not failed")

        self.connect_outlook()
        self.wait_for("the held nudge to go out", lambda: self.outbox_states().get(held_subject) == "sent")
        recorded = self.sandbox_control("GET", "/_sandbox/messages?user=" + urllib.parse.quote(WORK_USER))
        recorded = recorded["messages"] if isinstance(recorded, dict) else recorded
        self.step(f"connected again; the held nudge was sent; the stand-in now has {len(recorded)} messages")
        if len(recorded) != 4:
            raise SystemExit("demo: expected exactly four messages at the stand-in")
        print(f"Summary: {len(self.steps)} steps, 4 nudges sent from {WORK_USER}, none lost, none sent twice.")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", required=True)
    p.add_argument("--sandbox", required=True)
    p.add_argument("--ca", required=True)
    a = p.parse_args()
    Demo(a.host, a.sandbox, a.ca).run()


if __name__ == "__main__":
    sys.exit(main())
