"""tests/vectors/twitch.json: Twitch EventSub's scheme with Python's hmac
(dev.twitch.tv "Handling webhook events"), cross-checked with twitchio's
verifier (twitchio.web.utils.verify_message: it accepts every validly signed
case and refuses the forged ones; it checks no timestamp window).
Signature = sha256= + hex HMAC-SHA256(secret, id + timestamp + body)."""
import asyncio
import hashlib
import hmac
import importlib.metadata
import json

from twitchio.web.utils import verify_message

import common

SECRETS = ["dev-twitch-eventsub-secret", "dev-twitch-eventsub-secret-next"]
NOW = 1740933909
TS = "2025-03-02T16:45:09.123456789Z"
ROOT = common.ROOT / "fixtures" / "twitch"
BODY = (ROOT / "channel.follow.json").read_bytes()
CHALLENGE = (ROOT / "webhook_callback_verification.json").read_bytes()


def case(name, body, msg_id="befa7b53-d79d-478f-86b9-120f112b044e", ts=TS,
         secret=SECRETS[0], kind="notification", expect="ok", **kw):
    sig = hmac.new(secret.encode(), msg_id.encode() + ts.encode() + body,
                   hashlib.sha256).hexdigest()
    headers = [["Content-Type", "application/json"],
               ["Twitch-Eventsub-Message-Id", msg_id],
               ["Twitch-Eventsub-Message-Retry", "0"],
               ["Twitch-Eventsub-Message-Type", kind],
               ["Twitch-Eventsub-Message-Signature", "sha256=" + sig],
               ["Twitch-Eventsub-Message-Timestamp", ts],
               ["Twitch-Eventsub-Subscription-Type", "channel.follow"],
               ["Twitch-Eventsub-Subscription-Version", "2"]]
    return dict(name=name, method="POST", target="/hooks/twitch", headers=headers,
                body=body.decode(), now=NOW, expect=expect, **kw)


cases = [
    case("valid", BODY, id="befa7b53-d79d-478f-86b9-120f112b044e",
         event="channel.follow", slot=0),
    case("revocation", BODY, msg_id="rev-1", kind="revocation", id="rev-1", slot=0),
    case("rotated secret", BODY, secret=SECRETS[1], slot=1),
    case("wrong secret", BODY, secret="wrong", expect="unauthorized"),
    case("stale (601 s)", BODY, ts="2025-03-02T16:35:08Z", expect="unauthorized"),
    case("future (601 s)", BODY, ts="2025-03-02T16:55:10Z", expect="unauthorized"),
    case("600 s old", BODY, ts="2025-03-02T16:35:09Z", slot=0),
    case("callback verification", CHALLENGE, kind="webhook_callback_verification",
         expect="handshake",
         answer={"status": 200, "content_type": "text/plain; charset=utf-8",
                 "body": json.loads(CHALLENGE)["challenge"]}),
]
t = case("tampered", BODY, expect="unauthorized")
t["body"] = BODY.decode().replace("cool_user", "cool_usev")
cases.append(t)


class Request:
    """The two members twitchio's verifier reads of a request."""

    def __init__(self, case):
        self.headers = dict(case["headers"])
        self._body = case["body"].encode()

    async def body(self):
        return self._body


def sdk_accepts(case, secret):
    try:
        asyncio.run(verify_message(request=Request(case), secret=secret))
        return True
    except ValueError:
        return False


for c in cases:
    signed_with = SECRETS[1] if c["name"] == "rotated secret" else SECRETS[0]
    forged = c["name"] in ("wrong secret", "tampered")
    assert sdk_accepts(c, signed_with) != forged, c["name"]

version = importlib.metadata.version("twitchio")
common.write("twitch", f"own: Python hmac; twitchio {version} verify_message cross-checks",
             cases, secrets=SECRETS)
