"""SendGrid vectors: ECDSA P-256/SHA-256 signatures by cryptography over
{timestamp}{body} (the body ends in CRLF), keys derived from fixed scalars; each
case checked with sendgrid-python's EventWebhook.verify_signature
(sendgrid/helpers/eventwebhook/__init__.py). SendGrid publishes no signer."""
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
import common  # noqa: E402  (before the path is narrowed)

# This file is named like the SDK's package: drop its directory from the
# path so the import below finds the SDK, not this script.
sys.path[:] = [p for p in sys.path if pathlib.Path(p or ".").resolve() != HERE]

import base64
import hashlib
from importlib.metadata import version

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sendgrid.helpers.eventwebhook import EventWebhook


NOW = 1740933909
KEYS = [ec.derive_private_key(int.from_bytes(hashlib.sha256(f"hookgate-sendgrid-{i}".encode()).digest(), "big"),
                              ec.SECP256R1()) for i in range(3)]
ONE = '[{"email":"example@test.com","timestamp":1513299569,"event":"processed","sg_event_id":"rbtnWrG1DVDGGGFHFyun0A==","sg_message_id":"14c5d75ce93.dfd.64b469.filter0001"}]\r\n'
TWO = '[{"email":"a@test.com","event":"delivered","sg_event_id":"AvOEWu_tKk-6HQdhJj8RPQ=="},{"email":"b@test.com","event":"open","sg_event_id":"FOTFFO0ecsBE-zxFXfs6WA=="}]\r\n'


def spki(key):
    der = key.public_key().public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


def headers(key, ts, body):
    sig = base64.b64encode(key.sign(f"{ts}{body}".encode(), ec.ECDSA(hashes.SHA256()))).decode()
    return [["Content-Type", "application/json"], ["X-Twilio-Email-Event-Webhook-Signature", sig],
            ["X-Twilio-Email-Event-Webhook-Timestamp", str(ts)]]


def case(name, hdrs, body, expect, sdk, **kw):
    h = dict(hdrs)
    sig = h.get("X-Twilio-Email-Event-Webhook-Signature")
    ok = sig is not None and any(
        EventWebhook(spki(k)).verify_signature(body, sig, h["X-Twilio-Email-Event-Webhook-Timestamp"])
        for k in KEYS[:2])
    assert ok == sdk, name
    return dict(name=name, method="POST", target="/hooks/sendgrid", headers=hdrs, body=body, now=NOW,
                expect=expect, **kw)


def main():
    good = headers(KEYS[0], NOW, ONE)
    cases = [
        case("one event", good, ONE, "ok", True, id="rbtnWrG1DVDGGGFHFyun0A==", event="processed", slot=0),
        case("two events", headers(KEYS[0], NOW, TWO), TWO, "ok", True,
             id="sha256:" + hashlib.sha256(TWO.encode()).hexdigest(), slot=0),
        case("rotated key", headers(KEYS[1], NOW, ONE), ONE, "ok", True, slot=1),
        case("CRLF dropped", good, ONE.rstrip("\r\n"), "unauthorized", False),
        case("tampered", good, ONE.replace("processed", "dropped"), "unauthorized", False),
        case("unknown key", headers(KEYS[2], NOW, ONE), ONE, "unauthorized", False),
        case("stale", headers(KEYS[0], NOW - 301, ONE), ONE, "unauthorized", True),
        case("future", headers(KEYS[0], NOW + 301, ONE), ONE, "unauthorized", True),
        case("missing signature", [good[0], good[2]], ONE, "unauthorized", False),
    ]
    keys = ", ".join(f'{{ value = "{spki(k)}" }}' for k in KEYS[:2])
    common.write("sendgrid", f"cryptography {version('cryptography')} ECDSA(SHA256); "
                 f"cross-checked with sendgrid {version('sendgrid')} EventWebhook.verify_signature",
                 cases, route=f"public_keys = [{keys}]")


main()
