"""Slack vectors: signatures by slack_sdk's SignatureVerifier.generate_signature,
valid and tampered cases checked with its is_valid at the case's time."""
import json
import slack_sdk
from slack_sdk.signature import SignatureVerifier

import common

SECRET = "dev-slack-signing-secret"
OLD = "previous-slack-signing-secret"
NOW = 1740933909
BODY = (common.ROOT / "fixtures/slack/app_mention.json").read_text()
CHALLENGE = '{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}'


class Clock:
    def __init__(self, now):
        self.t = now

    def now(self):
        return self.t


def sig(secret, ts, body):
    return SignatureVerifier(secret).generate_signature(timestamp=str(ts), body=body)


def case(name, secret, ts, expect, body=BODY, slot=0, now=NOW, **extra):
    headers = [["Content-Type", "application/json"]]
    if secret:
        headers += [["X-Slack-Request-Timestamp", str(ts)], ["X-Slack-Signature", sig(secret, ts, body)]]
    c = {"name": name, "target": "/hooks/slack", "now": now, "body": body, "headers": headers,
         "expect": expect, **extra}
    if expect == "ok":
        c.update(id=json.loads(body)["event_id"], event="app_mention", slot=slot)
    return c


v = SignatureVerifier(SECRET, clock=Clock(NOW))
assert v.is_valid(BODY, str(NOW), sig(SECRET, NOW, BODY))
assert not v.is_valid(BODY + " ", str(NOW), sig(SECRET, NOW, BODY))
cases = [
    case("valid", SECRET, NOW, "ok"),
    case("rotated secret in slot 1", OLD, NOW, "ok", slot=1),
    case("wrong secret", "wrong", NOW, "unauthorized"),
    case("missing headers", None, NOW, "unauthorized"),
    case("stale", SECRET, NOW - 301, "unauthorized"),
    case("future", SECRET, NOW + 301, "unauthorized"),
    case("url_verification", SECRET, NOW, "handshake", body=CHALLENGE,
         answer={"status": 200, "content_type": "application/json",
                 "body": json.dumps({"challenge": json.loads(CHALLENGE)["challenge"]}, separators=(",", ":"))}),
]
tampered = case("tampered body", SECRET, NOW, "unauthorized")
tampered["body"] = BODY.replace("gateway", "gatewax")
cases.append(tampered)
common.write("slack", f"slack_sdk {slack_sdk.version.__version__} SignatureVerifier", cases,
             secrets=[SECRET, OLD])
