"""Standard Webhooks vectors: signatures by the reference library
(`standardwebhooks` Webhook.sign); valid/tampered cross-checked with its verify."""
import base64
import datetime
import json
from importlib.metadata import version

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

import common

SECRET = "whsec_ZGV2LXN0YW5kYXJkLXdlYmhvb2tzLXNlY3JldC1rZXk="
OLD = "whsec_" + base64.b64encode(b"previous-standard-webhooks-key!!").decode()
NOW = 1740933909
BODY = (common.ROOT / "fixtures/standard_webhooks/invoice.created.json").read_text()


def sign(secret, msg_id, ts, body=BODY):
    at = datetime.datetime.fromtimestamp(ts, tz=datetime.timezone.utc)
    return Webhook(secret).sign(msg_id, at, body)


def case(name, expect, secret=SECRET, msg_id="msg_2x0vQn3hookgate", ts=NOW, body=BODY, prefix="webhook", slot=0, drop=None):
    headers = [["Content-Type", "application/json"],
               [f"{prefix}-id", msg_id], [f"{prefix}-timestamp", str(ts)],
               [f"{prefix}-signature", sign(secret, msg_id, ts)]]
    if drop:
        headers = [h for h in headers if h[0] != drop]
    c = {"name": name, "target": "/hooks/standard_webhooks", "now": NOW, "body": body,
         "headers": headers, "expect": expect}
    if expect == "ok":
        c.update(id=msg_id, event=json.loads(body)["type"], slot=slot)
    return c


# The reference verifier accepts the valid case and refuses a tampered body
# (its clock is now: sign at the current time for the cross-check).
now = int(datetime.datetime.now(datetime.timezone.utc).timestamp())
hdrs = {"webhook-id": "msg_x", "webhook-timestamp": str(now), "webhook-signature": sign(SECRET, "msg_x", now)}
Webhook(SECRET).verify(BODY, hdrs)
try:
    Webhook(SECRET).verify(BODY + " ", hdrs)
    raise SystemExit("reference library accepted a tampered body")
except WebhookVerificationError:
    pass
cases = [
    case("valid", "ok"),
    case("svix-* headers", "ok", prefix="svix"),
    case("rotated secret in slot 1", "ok", secret=OLD, slot=1),
    case("wrong secret", "unauthorized", secret="whsec_" + base64.b64encode(b"wrong-key-wrong-key-wrong-key!!!").decode()),
    case("missing signature", "unauthorized", drop="webhook-signature"),
    case("stale", "unauthorized", ts=NOW - 301),
    case("future", "unauthorized", ts=NOW + 301),
]
t = case("tampered body", "unauthorized")
t["body"] = BODY.replace("invoice", "invoicx", 1)
cases.append(t)
common.write("standard_webhooks", f"standardwebhooks {version('standardwebhooks')} Webhook.sign", cases,
             secrets=[SECRET, OLD])
