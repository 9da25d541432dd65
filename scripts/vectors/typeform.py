"""typeform vectors: Python hmac per Typeform secure-your-webhooks (sha256=base64 HMAC-SHA256 of the body) (no SDK verifier to cross-check).
Each case is one request of the documented scheme."""
import base64
import hashlib
import hmac

import common

KEY, ROTATED, WRONG = "dev-typeform-vector", "dev-typeform-rotated", "not-the-secret"
BODY = (common.ROOT / "fixtures/typeform/form_response.json").read_text()
NOW = 1740933909
TS = False


def mac(key, data, alg=hashlib.sha256):
    return hmac.new(key.encode(), data.encode(), alg).digest()


def sig(key, body, t=NOW):
    return "sha256=" + base64.b64encode(mac(key, body)).decode()


def case(name, signature, body, now, expect, slot=0):
    c = {"name": name, "target": "/hooks/typeform", "body": body, "now": now, "expect": expect,
         "headers": [["Content-Type", "application/json"]] + [["Typeform-Signature", signature]]}
    if expect == "ok":
        c.update(id="01JNCK3Z7TQ0X4V2M5ZC9A8B7D", event="form_response", slot=slot)
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
common.write("typeform", "own: Python hmac per Typeform secure-your-webhooks (sha256=base64 HMAC-SHA256 of the body)", cases, secrets=[KEY, ROTATED])
