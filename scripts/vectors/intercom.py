"""intercom vectors: Python hmac per Intercom webhooks (sha1=hex HMAC-SHA1 of the body) (no SDK verifier to cross-check).
Each case is one request of the documented scheme."""
import base64
import hashlib
import hmac

import common

KEY, ROTATED, WRONG = "dev-intercom-vector", "dev-intercom-rotated", "not-the-secret"
BODY = (common.ROOT / "fixtures/intercom/conversation.user.created.json").read_text()
NOW = 1740933909
TS = False


def mac(key, data, alg=hashlib.sha256):
    return hmac.new(key.encode(), data.encode(), alg).digest()


def sig(key, body, t=NOW):
    return "sha1=" + mac(key, body, hashlib.sha1).hex()


def case(name, signature, body, now, expect, slot=0):
    c = {"name": name, "target": "/hooks/intercom", "body": body, "now": now, "expect": expect,
         "headers": [["Content-Type", "application/json"]] + [["X-Hub-Signature", signature]]}
    if expect == "ok":
        c.update(id="notif_ccd8a4d2-3bcd-4e6b-9f5c-1a2b3c4d5e6f", event="conversation.user.created", slot=slot)
    return c


cases = [
    case("valid", sig(KEY, BODY), BODY, NOW, "ok"),
    case("tampered body", sig(KEY, BODY), BODY.replace('"', "'", 1), NOW, "unauthorized"),
    case("wrong secret", sig(WRONG, BODY), BODY, NOW, "unauthorized"),
    case("rotated secret", sig(ROTATED, BODY), BODY, NOW, "ok", slot=1),
]
if TS:
    cases += [
        case("stale", sig(KEY, BODY, NOW - 301), BODY, NOW, "unauthorized"),
        case("future", sig(KEY, BODY, NOW + 301), BODY, NOW, "unauthorized"),
    ]
common.write("intercom", "own: Python hmac per Intercom webhooks (sha1=hex HMAC-SHA1 of the body)", cases, secrets=[KEY, ROTATED])
