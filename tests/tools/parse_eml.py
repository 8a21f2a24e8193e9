#!/usr/bin/env python3
"""Parses an .eml file with Python's standard email package (an independent RFC 5322/MIME
parser) and prints what it understood as JSON. Exit status 1 when the parser found defects."""
import email
import email.policy
import json
import sys

with open(sys.argv[1], "rb") as f:
    raw = f.read()
msg = email.message_from_bytes(raw, policy=email.policy.default)

defects = [repr(d) for d in msg.defects]
out = {"headers": {}, "text": None, "html": None, "attachments": [], "bare_lf": b"\n" in raw.replace(b"\r\n", b"")}
for name in ("From", "To", "Cc", "Bcc", "Reply-To", "Subject", "Date", "Message-ID", "MIME-Version", "Importance"):
    if msg[name] is not None:
        out["headers"][name] = str(msg[name])
out["custom"] = {k: str(v) for k, v in msg.items() if k.lower().startswith("x-")}
for part in msg.walk():
    defects += [repr(d) for d in part.defects]
    if part.is_multipart():
        continue
    disposition = part.get_content_disposition()
    if disposition in ("attachment", "inline") and part.get_filename():
        out["attachments"].append({
            "name": part.get_filename(),
            "content_type": part.get_content_type(),
            "size": len(part.get_payload(decode=True)),
            "inline": disposition == "inline",
            "content_id": part.get("Content-ID"),
        })
    elif part.get_content_type() == "text/plain":
        out["text"] = part.get_content()
    elif part.get_content_type() == "text/html":
        out["html"] = part.get_content()
out["defects"] = defects
print(json.dumps(out))
sys.exit(1 if defects else 0)
