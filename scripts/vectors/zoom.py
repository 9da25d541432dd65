"""tests/vectors/zoom.json: Zoom's scheme with Python's hmac (Zoom ships no
signer or verifier SDK; its webhook-sample index.js computes the same HMAC).
x-zm-signature = v0= + hex HMAC-SHA256(secret token, "v0:{ts}:{body}");
endpoint.url_validation answers {"plainToken":P,"encryptedToken":hex HMAC(P)}."""
import hashlib
import hmac
import json

import common

SECRETS = ["dev-zoom-secret-token", "dev-zoom-secret-token-next"]
NOW = 1740933909
ROOT = common.ROOT / "fixtures" / "zoom"


def sig(secret, ts, body):
    msg = f"v0:{ts}:".encode() + body
    return "v0=" + hmac.new(secret.encode(), msg, hashlib.sha256).hexdigest()


def case(name, body, secret=SECRETS[0], ts=NOW, expect="ok", **kw):
    headers = [["Content-Type", "application/json"],
               ["x-zm-request-timestamp", str(ts)],
               ["x-zm-signature", sig(secret, ts, body)]]
    return dict(name=name, method="POST", target="/hooks/zoom", headers=headers,
                body=body.decode(), now=NOW, expect=expect, **kw)


event = (ROOT / "meeting.started.json").read_bytes()
validation = (ROOT / "url_validation.json").read_bytes()
token = json.loads(validation)["payload"]["plainToken"]
encrypted = hmac.new(SECRETS[1].encode(), token.encode(), hashlib.sha256).hexdigest()
tampered = event.replace(b"My Meeting", b"My Meetinh")
cases = [
    case("valid", event, id="sha256:" + hashlib.sha256(event).hexdigest(),
         event="meeting.started", slot=0),
    case("rotated secret", event, secret=SECRETS[1], slot=1),
    case("wrong secret", event, secret="wrong", expect="unauthorized"),
    case("stale", event, ts=NOW - 301, expect="unauthorized"),
    case("future", event, ts=NOW + 301, expect="unauthorized"),
    case("edge of window", event, ts=NOW - 300, slot=0),
    case("signed non-JSON", b"not json", expect="bad_request"),
    case("url_validation", validation, secret=SECRETS[1], expect="handshake",
         answer={"status": 200, "content_type": "application/json",
                 "body": json.dumps({"plainToken": token, "encryptedToken": encrypted},
                                    separators=(",", ":"))}),
]
bad = case("tampered", event)
bad["body"] = tampered.decode()
bad["expect"] = "unauthorized"
cases.append(bad)
common.write("zoom", "own: Python hmac (no Zoom SDK signs or verifies)", cases,
             secrets=SECRETS)
