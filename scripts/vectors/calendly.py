"""calendly vectors: Python hmac per Calendly webhook-signatures (t=..,v1=hex HMAC-SHA256 of {t}.{body}) (no SDK verifier to cross-check).
Each case is one request of the documented scheme."""
import base64
import hashlib
import hmac

import common

KEY, ROTATED, WRONG = "dev-calendly-vector", "dev-calendly-rotated", "not-the-secret"
BODY = (common.ROOT / "fixtures/calendly/invitee.created.json").read_text()
NOW = 1740933909
TS = True


def mac(key, data, alg=hashlib.sha256):
    return hmac.new(key.encode(), data.encode(), alg).digest()


def sig(key, body, t=NOW):
    return "t=%d,v1=%s" % (t, mac(key, f"{t}.{body}").hex())


def case(name, signature, body, now, expect, slot=0):
    c = {"name": name, "target": "/hooks/calendly", "body": body, "now": now, "expect": expect,
         "headers": [["Content-Type", "application/json"]] + [["Calendly-Webhook-Signature", signature]]}
    if expect == "ok":
        c.update(id="sha256:" + hashlib.sha256(body.encode()).hexdigest(), event="invitee.created", slot=slot)
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
common.write("calendly", "own: Python hmac per Calendly webhook-signatures (t=..,v1=hex HMAC-SHA256 of {t}.{body})", cases, secrets=[KEY, ROTATED])
