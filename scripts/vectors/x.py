"""tests/vectors/x.json: X Account Activity's scheme with Python's hmac (the
docs' Python CRC sample, "Securing webhooks"). x-twitter-webhooks-signature =
sha256= + base64 HMAC-SHA256(consumer secret, body); CRC GET ?crc_token=T
answers {"response_token":"sha256=" + base64 HMAC(consumer secret, T)}."""
import base64
import hashlib
import hmac
import json

import common

SECRETS = ["dev-x-consumer-secret", "dev-x-consumer-secret-next"]
NOW = 1740933909
BODY = (common.ROOT / "fixtures" / "x" / "tweet_create_events.json").read_bytes()


def b64mac(secret, msg):
    return base64.b64encode(hmac.new(secret.encode(), msg, hashlib.sha256).digest()).decode()


def post(name, body, secret=SECRETS[0], expect="ok", **kw):
    return dict(name=name, method="POST", target="/hooks/x",
                headers=[["Content-Type", "application/json"],
                         ["x-twitter-webhooks-signature", "sha256=" + b64mac(secret, body)]],
                body=body.decode(), now=NOW, expect=expect, **kw)


crc = json.dumps({"response_token": "sha256=" + b64mac(SECRETS[0], b"a1b2c3d4e5")},
                 separators=(",", ":"))
cases = [
    post("valid", BODY, id="sha256:" + hashlib.sha256(BODY).hexdigest(),
         event="tweet_create_events", slot=0),
    post("rotated secret", BODY, secret=SECRETS[1], slot=1),
    post("wrong secret", BODY, secret="wrong", expect="unauthorized"),
    dict(name="crc", method="GET", target="/hooks/x?crc_token=a1b2c3d4e5", now=NOW,
         expect="handshake",
         answer={"status": 200, "content_type": "application/json", "body": crc}),
    dict(name="crc without token", method="GET", target="/hooks/x", now=NOW,
         expect="unauthorized"),
]
t = post("tampered", BODY, expect="unauthorized")
t["body"] = BODY.decode().replace("hello", "hellp")
cases.append(t)
common.write("x", "own: Python hmac, the scheme of X's Python CRC sample", cases,
             secrets=SECRETS)
