"""Mailgun vectors: Python hmac per Mailgun's "Securing webhooks"
(`{timestamp}{token}`), each case checked with the mailgun SDK's
`SecurityGuard.verify_webhook` (its max_age_seconds set to hookgate's 300)."""
import hashlib
import hmac
import json
from importlib.metadata import version
from unittest import mock

import pathlib
import sys

import common

# This file is named like the SDK's package: import it with this
# directory off the path.
_here = pathlib.Path(__file__).resolve().parent
_saved = sys.path[:]
sys.path = [p for p in sys.path if pathlib.Path(p or ".").resolve() != _here]
from mailgun.security import SecurityGuard  # noqa: E402

sys.path = _saved

KEY, ROTATED, WRONG = "key-dev-mailgun-vector", "key-dev-mailgun-rotated", "not-the-secret"
FIXTURE = json.loads((common.ROOT / "fixtures/mailgun/delivered.json").read_text())
TOKEN = "a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0"
NOW = 1740933909


def body(key, ts, token=TOKEN, swap=None):
    sig = hmac.new(key.encode(), f"{ts}{token}".encode(), hashlib.sha256).hexdigest()
    doc = dict(FIXTURE, signature={"timestamp": str(ts), "token": token, "signature": sig})
    if swap:
        doc = json.loads(json.dumps(doc).replace(*swap))
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


def sdk_accepts(text, now):
    s = json.loads(text)["signature"]
    with mock.patch("mailgun.security.time.time", lambda: now):
        return any(SecurityGuard.verify_webhook(k, s["token"], s["timestamp"], s["signature"], max_age_seconds=300)
                   for k in (KEY, ROTATED))


def case(name, text, now, expect, slot=0):
    assert sdk_accepts(text, now) == (expect == "ok"), name
    c = {"name": name, "target": "/hooks/mailgun", "body": text, "now": now, "expect": expect,
         "headers": [["Content-Type", "application/json"]]}
    if expect == "ok":
        c.update(id="CPgfbmQMTCKtHW6uIWtuVe", event="delivered", slot=slot)
    return c


cases = [
    case("valid", body(KEY, NOW), NOW, "ok"),
    case("stale 301 s", body(KEY, NOW - 301), NOW, "unauthorized"),
    case("future 301 s", body(KEY, NOW + 301), NOW, "unauthorized"),
    case("wrong secret", body(WRONG, NOW), NOW, "unauthorized"),
    case("rotated secret", body(ROTATED, NOW), NOW, "ok", slot=1),
    case("token swapped under the signature", body(KEY, NOW, swap=(TOKEN, "b" + TOKEN[1:])), NOW, "unauthorized"),
]
common.write("mailgun", f"own: Python hmac; checked with mailgun (PyPI) {version('mailgun')} SecurityGuard.verify_webhook",
             cases, secrets=[KEY, ROTATED])
