"""Stripe vectors: signatures by stripe-python's own WebhookSignature
(`_compute_signature`, the function its verifier uses), each case checked by
stripe-python's `verify_header` where the SDK's past-only window allows."""
import json
import stripe
from stripe import WebhookSignature

import common

SECRET = "whsec_devStripeSecret0123456789"
OLD = "whsec_previousStripeSecret000000"
NOW = 1740933909
BODY = (common.ROOT / "fixtures/stripe/invoice.paid.json").read_text()
EVENT = json.loads(BODY)


def header(t, secret, body=BODY):
    return f"t={t},v1={WebhookSignature._compute_signature(f'{t}.{body}', secret)}"


def case(name, hdr, expect, body=BODY, now=NOW, slot=0):
    c = {"name": name, "target": "/hooks/stripe", "now": now, "body": body,
         "headers": [["Content-Type", "application/json"]] + ([["Stripe-Signature", hdr]] if hdr else []),
         "expect": expect}
    if expect == "ok":
        c.update(id=EVENT["id"], event=EVENT["type"], slot=slot)
    return c


valid = header(NOW, SECRET)
# The SDK accepts what the vector says is valid (tolerance large: its clock is now).
WebhookSignature.verify_header(BODY, valid, SECRET, tolerance=None)
try:
    WebhookSignature.verify_header(BODY + " ", valid, SECRET, tolerance=None)
    raise SystemExit("stripe SDK accepted a tampered body")
except stripe.SignatureVerificationError:
    pass
cases = [
    case("valid", valid, "ok"),
    case("rotated secret in slot 1", header(NOW, OLD), "ok", slot=1),
    case("two v1, the second matching", f"t={NOW},v1={'0' * 64},v1={valid.split('v1=')[1]}", "ok"),
    case("tampered body", valid, "unauthorized", body=BODY.replace("paid", "void", 1)),
    case("wrong secret", header(NOW, "whsec_wrong"), "unauthorized"),
    case("missing header", None, "unauthorized"),
    case("stale", header(NOW - 301, SECRET), "unauthorized"),
    case("future", header(NOW + 301, SECRET), "unauthorized"),
    case("v0 only", f"t={NOW},v0={valid.split('v1=')[1]}", "unauthorized"),
]
common.write("stripe", f"stripe-python {stripe.VERSION} WebhookSignature", cases,
             secrets=[SECRET, OLD])
