#!/usr/bin/env python3
"""The seed page's story, driven without a browser against a running demo (scripts/demo.sh).

Outlook: a recruiter signs in to the host, connects Microsoft Outlook through the Microsoft
stand-in's pages, chooses Personal Outlook, sends three nudges, sees them recorded by the
stand-in; then the grant dies (password changed), a nudge is held, the recruiter connects again
and the held nudge goes out.
Gmail: the recruiter connects Gmail through the Google stand-in, switches to Personal Gmail and
sends a nudge through it, switches back to Personal Outlook and sends one more; then the Outlook
grant dies again with a nudge held for it, the recruiter switches to Personal Gmail, the held
nudge waits for the recruiter's decision and, once confirmed, goes out through Gmail.
Threads: through Outlook and then Gmail, a first nudge and two follow-ups ("Follows nudge #"), which
each stand-in records as one conversation (In-Reply-To and References; one Gmail threadId).
Each stand-in must have recorded exactly the nudges meant for it, once each. Prints a short
summary; exits non-zero if any step does not happen."""
import argparse
import collections
import http.cookiejar
import json
import re
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

WORK_USER = "adele@contoso.example"  # at the Microsoft stand-in
GMAIL_USER = "grace@gmail.example"  # at the Google stand-in
CANDIDATE = "casey.candidate@example.org"


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class StandIn:
    """A stand-in's control API (/_sandbox/...), over HTTPS with the build's test CA."""

    def __init__(self, name, url, tls):
        self.name = name
        self.url = url
        self.tls = tls

    def control(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, context=self.tls, timeout=30) as resp:
            return json.loads(resp.read().decode() or "null")

    def messages(self, user=None):
        """The messages the stand-in recorded (of `user`, or of everyone), in sending order."""
        query = "?user=" + urllib.parse.quote(user) if user else ""
        return self.control("GET", "/_sandbox/messages" + query)["messages"]

    def subjects(self, user=None):
        return [m["subject"] for m in self.messages(user)]


def thread_ids(record):
    """(Message-ID, In-Reply-To, References) of a recorded message: the stand-ins record them."""
    return record.get("message_id", ""), record.get("in_reply_to", ""), list(record.get("references", []))


class Demo:
    def __init__(self, host, microsoft, google, ca):
        self.host = host
        tls = ssl.create_default_context(cafile=ca)
        self.microsoft = StandIn("Microsoft", microsoft, tls)
        self.google = StandIn("Google", google, tls)
        self.jar = http.cookiejar.CookieJar()
        self.browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), NoRedirect())
        self.steps = []
        self.switches = []
        self.expected = {"outlook": [], "gmail": []}  # subjects each provider must have sent, in order

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
        return re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)

    def post_form(self, path, form, follow=True):
        return self.request("POST", self.host + path, {"csrf": self.csrf(), **form}, follow=follow)

    def state(self):
        return self.host_json("/api/state")

    def wait_for(self, what, predicate, timeout=30, explain=None):
        deadline = time.time() + timeout
        while time.time() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.2)
        raise SystemExit(f"demo: timed out waiting for {what}" + (f"; {explain()}" if explain else ""))

    def step(self, text):
        self.steps.append(text)
        print(f"  - {text}")

    # --- the recruiter's actions -----------------------------------------------------------
    def sign_in(self, user):
        _, _, page = self.request("GET", self.host + "/signin")
        token = re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)
        self.request("POST", self.host + "/signin", {"csrf": token, "user_id": user})
        self.step(f"signed in to the host as {user}")

    def connect(self, provider, stand_in, user, answer):
        """Connect from the settings page; the stand-in's autopilot plays the person on its pages."""
        status = self.state()["providers"].get(provider)
        if status is None or status["state"] == "unavailable":
            why = status["error"] if status else "not loaded (see the host log)"
            raise SystemExit(f"demo: provider '{provider}' is not available on this host: {why}")
        _, headers, _ = self.post_form("/settings/communication/connect", {"provider": provider}, follow=False)
        authorize_url = headers["Location"]
        if not authorize_url.startswith(stand_in.url):
            raise SystemExit(f"demo: connecting {provider} did not lead to the {stand_in.name} stand-in")
        pilot = stand_in.control("POST", "/_sandbox/autopilot",
                                 {"authorize_url": authorize_url, "user": user, "answer": answer})
        if "callback_url" not in pilot:
            raise SystemExit(f"demo: the {stand_in.name} stand-in showed an error page: {pilot.get('error_page')}")
        self.request("GET", pilot["callback_url"])
        status = self.state()["providers"][provider]
        if status["state"] != "connected":
            raise SystemExit(f"demo: connecting {provider} did not succeed: {status}")
        return status

    def connect_outlook(self):
        outlook = self.connect("outlook", self.microsoft, WORK_USER, "accept")
        self.step(f"connected Microsoft Outlook: {outlook['email']} ({outlook['display_name']}), "
                  f"application {outlook['application_id']}")

    def connect_gmail(self):
        gmail = self.connect("gmail", self.google, GMAIL_USER, "allow")
        if gmail["email"] != GMAIL_USER:
            raise SystemExit(f"demo: Gmail connected as {gmail['email']}, not {GMAIL_USER}")
        # No name without the profile scope, which the plugin does not ask for: display_name is optional.
        name = f" ({gmail['display_name']})" if "display_name" in gmail else ""
        self.step(f"connected Gmail through the Google stand-in: {gmail['email']}{name}, scopes "
                  f"{' '.join(gmail['scopes'])}; Outlook stays {self.state()['providers']['outlook']['state']}")

    def choose(self, provider, name):
        self.post_form("/settings/communication/preferences", {"channel": "email", "email_provider": provider})
        state = self.state()
        if state["email_provider"] != provider:
            raise SystemExit(f"demo: choosing {name} did not take: the email provider is '{state['email_provider']}'")
        self.switches.append(name)

    def nudge(self, subject, provider, follows=None):
        """Queue a nudge meant to leave through `provider` (in the end: the demo checks where it went);
        a follow-up of nudge `follows` when given. Returns its id."""
        form = {"to": CANDIDATE, "subject": subject, "text": "Hi! Following up on your application."}
        if follows:
            form["follows"] = str(follows)
        self.post_form("/settings/communication/nudge", form)
        self.expected[provider].append(subject)
        return max(n["id"] for n in self.state()["outbox"] if n["subject"] == subject)

    def rows(self, ids):
        by_id = {n["id"]: n for n in self.state()["outbox"]}
        return [by_id[i] for i in ids]

    def outbox(self):
        return {n["subject"]: n for n in self.state()["outbox"]}

    def stranded(self, subject):
        """The nudge, once the host says it cannot go out as queued (the recruiter must decide)."""
        nudge = self.outbox()[subject]
        return nudge if nudge["stranded"] else None

    def wait_until_sent(self, subjects):
        def seen():
            outbox = self.outbox()
            return {s: (outbox[s]["state"], outbox[s]["code"]) if s in outbox else ("missing", "") for s in subjects}

        self.wait_for("nudges to be sent", lambda: all(state == "sent" for state, _ in seen().values()),
                      explain=lambda: f"the outbox shows {seen()}")

    def an_hour_later(self):
        """Every clock moves on together: the host's and both stand-ins' (tokens expire by them)."""
        for stand_in in (self.microsoft, self.google):
            stand_in.control("POST", "/_sandbox/clock", {"advance_seconds": 3600})
        self.host_json("/_debug/clock", {"advance_seconds": 3600}, csrf=self.csrf())

    def outlook_grant_dies(self, subject):
        """The recruiter changes their Microsoft password; an hour later a new nudge is held."""
        self.microsoft.control("POST", "/_sandbox/users/" + WORK_USER + "/revoke", {"reason": "password_change"})
        self.an_hour_later()
        self.nudge(subject, "outlook")
        self.wait_for("the nudge to be held", lambda: self.outbox().get(subject, {}).get("state") == "held")
        return self.state()["providers"]["outlook"]

    # --- the story ---------------------------------------------------------------------------
    def outlook_story(self):
        self.connect_outlook()
        self.choose("outlook", "Personal Outlook")
        self.step("chose Email as preferred channel and Personal Outlook as email provider")
        subjects = [f"Nudge {i}: following up" for i in (1, 2, 3)]
        for s in subjects:
            self.nudge(s, "outlook")
        self.wait_until_sent(subjects)
        self.step(f"sent three nudges; the Microsoft stand-in recorded {len(self.microsoft.subjects(WORK_USER))} "
                  f"message(s) from {WORK_USER}")

        held_subject = "Nudge 4: sent after the password change"
        outlook = self.outlook_grant_dies(held_subject)
        self.step(f"the grant died: Outlook shows '{outlook['state']}' ({outlook.get('message', '')}); "
                  f"the new nudge is held, not failed")
        self.connect_outlook()
        self.wait_until_sent([held_subject])
        self.step(f"connected again; the held nudge was sent; the Microsoft stand-in now has "
                  f"{len(self.microsoft.subjects(WORK_USER))} messages")

    def gmail_story(self):
        self.connect_gmail()
        self.choose("gmail", "Personal Gmail")
        through_gmail = "Nudge 5: through Gmail"
        self.nudge(through_gmail, "gmail")
        self.wait_until_sent([through_gmail])
        self.step(f"switched to Personal Gmail and sent a nudge: the Google stand-in recorded "
                  f"{self.google.subjects(GMAIL_USER)} from {GMAIL_USER}")

        self.choose("outlook", "Personal Outlook")
        through_outlook = "Nudge 6: through Outlook again"
        self.nudge(through_outlook, "outlook")
        self.wait_until_sent([through_outlook])
        self.step(f"switched back to Personal Outlook and sent a nudge: the Microsoft stand-in now has "
                  f"{len(self.microsoft.subjects(WORK_USER))} messages from {WORK_USER}")

    def thread(self, provider, stand_in, user, subject):
        """A first nudge and two follow-ups, each answering the one before: the stand-in must record
        one conversation (In-Reply-To and References naming the earlier messages; Gmail: one threadId)."""
        first = self.nudge(subject, provider)
        second = self.nudge("Re: " + subject, provider, follows=first)
        third = self.nudge("Re: " + subject, provider, follows=second)
        ids = [first, second, third]
        self.wait_for("the thread to be sent", lambda: all(n["state"] == "sent" for n in self.rows(ids)),
                      explain=lambda: f"the outbox shows {self.rows(ids)}")
        rows = self.rows(ids)
        recorded = {thread_ids(m)[0]: m for m in stand_in.messages(user)}
        sent = [recorded.get(r["sent_message_id"]) for r in rows]
        if None in sent:
            raise SystemExit(f"demo: the {stand_in.name} stand-in has no message with the Message-IDs "
                             f"{[r['sent_message_id'] for r in rows]}")
        (id1, _, _), (id2, reply2, refs2), (id3, reply3, refs3) = (thread_ids(m) for m in sent)
        if (reply2, refs2, reply3, refs3) != (id1, [id1], id2, [id1, id2]):
            raise SystemExit(f"demo: the follow-ups do not answer the messages before them: {sent}")
        threads = {m.get("threadId") for m in sent}
        if provider == "gmail" and len(threads) != 1:
            raise SystemExit(f"demo: Gmail put the follow-ups in {len(threads)} threads: {threads}")
        if any(r["in_thread_with"] != f"in thread with #{first}" for r in rows[1:]):
            raise SystemExit(f"demo: the outbox does not say the follow-ups are in thread with #{first}: {rows}")
        where = f", all in Gmail thread {threads.pop()}" if provider == "gmail" else ""
        self.step(f"sent nudge #{first} and two follow-ups through {stand_in.name}'s stand-in: each one's "
                  f"In-Reply-To and References name the messages before it{where}; the outbox shows "
                  f"'in thread with #{first}'")

    def threads_story(self):
        self.thread("outlook", self.microsoft, WORK_USER, "Your interview next week")
        self.choose("gmail", "Personal Gmail")
        self.thread("gmail", self.google, GMAIL_USER, "Your offer")
        self.choose("outlook", "Personal Outlook")

    def switch_with_held_nudge(self):
        """A nudge held for Outlook does not follow the switch by itself: the recruiter confirms it."""
        held_subject = "Nudge 7: held for Outlook, sent through Gmail"
        self.outlook_grant_dies(held_subject)
        # Queued for Outlook; once the recruiter confirms it after the switch, it leaves through Gmail.
        self.expected["outlook"].remove(held_subject)
        self.expected["gmail"].append(held_subject)
        self.choose("gmail", "Personal Gmail")
        held = self.wait_for("the held nudge to wait for a decision", lambda: self.stranded(held_subject))
        if held["state"] != "held" or held_subject in self.google.subjects():
            raise SystemExit(f"demo: the held nudge did not wait for the recruiter: {held}")
        self.step(f"the Outlook grant died again with a nudge held; switched to Personal Gmail: the nudge "
                  f"waits ({held['code']}: {held['message']})")
        self.post_form("/settings/communication/outbox/send", {"id": str(held["id"])})
        self.wait_until_sent([held_subject])
        sent = self.outbox()[held_subject]
        if sent["provider"] != "gmail":
            raise SystemExit(f"demo: the confirmed nudge went out through '{sent['provider']}', not Gmail")
        self.step("confirmed it (\"Send with current provider\"): it went out through Personal Gmail")

    def check_nothing_lost_or_doubled(self):
        """Each stand-in holds exactly its provider's nudges, once each; the outbox agrees."""
        for provider, stand_in, user in (("outlook", self.microsoft, WORK_USER), ("gmail", self.google, GMAIL_USER)):
            recorded = stand_in.subjects()
            if collections.Counter(recorded) != collections.Counter(self.expected[provider]):
                raise SystemExit(f"demo: the {stand_in.name} stand-in recorded {recorded}, "
                                 f"expected {self.expected[provider]}")
            if stand_in.subjects(user) != recorded:
                raise SystemExit(f"demo: the {stand_in.name} stand-in recorded messages of someone else than {user}")
        rows = self.state()["outbox"]
        for provider, subjects in self.expected.items():
            sent = [n["subject"] for n in rows if n["state"] == "sent" and n["provider"] == provider]
            if collections.Counter(sent) != collections.Counter(subjects):
                raise SystemExit(f"demo: the outbox shows {sent} sent through {provider}, expected {subjects}")
        if len(rows) != sum(len(s) for s in self.expected.values()):
            raise SystemExit(f"demo: the outbox has nudges the demo did not send: {[n['subject'] for n in rows]}")

    def run(self):
        print("Sandbox demo (headless):")
        self.sign_in("rita")
        self.outlook_story()
        self.gmail_story()
        self.threads_story()
        self.switch_with_held_nudge()
        self.check_nothing_lost_or_doubled()
        outlook, gmail = len(self.expected["outlook"]), len(self.expected["gmail"])
        print(f"Summary: {len(self.steps)} steps; Personal Outlook sent {outlook} nudges from {WORK_USER}, "
              f"Personal Gmail sent {gmail} from {GMAIL_USER}; email provider: {' -> '.join(self.switches)}; "
              f"each stand-in recorded exactly its own, none lost, none sent twice.")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", required=True)
    p.add_argument("--microsoft", required=True, help="the Microsoft stand-in's URL")
    p.add_argument("--google", required=True, help="the Google stand-in's URL")
    p.add_argument("--ca", required=True)
    a = p.parse_args()
    Demo(a.host, a.microsoft, a.google, a.ca).run()


if __name__ == "__main__":
    sys.exit(main())
