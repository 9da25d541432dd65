"""pagerduty vectors: Python hmac per PagerDuty developer-docs 04-Signatures.md (v1=hex HMAC-SHA256 of the body) (no SDK verifier to cross-check).
Each case is one request of the documented scheme."""
import base64
import hashlib
import hmac

import common

KEY, ROTATED, WRONG = "dev-pagerduty-vector", "dev-pagerduty-rotated", "not-the-secret"
BODY = (common.ROOT / "fixtures/pagerduty/incident.triggered.json").read_text()
NOW = 1740933909
TS = False


def mac(key, data, alg=hashlib.sha256):
    return hmac.new(key.encode(), data.encode(), alg).digest()


def sig(key, body, t=NOW):
    return f"v1={mac(WRONG, body).hex()},v1={mac(key, body).hex()}"


def case(name, signature, body, now, expect, slot=0):
    c = {"name": name, "target": "/hooks/pagerduty", "body": body, "now": now, "expect": expect,
         "headers": [["Content-Type", "application/json"]] + [["X-PagerDuty-Signature", signature], ["X-Webhook-Id", "6b2e47c5-04a3-4b14-8d89-3a1f6d9f8c0e"]]}
    if expect == "ok":
        c.update(id="6b2e47c5-04a3-4b14-8d89-3a1f6d9f8c0e", event="incident.triggered", slot=slot)
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
common.write("pagerduty", "own: Python hmac per PagerDuty developer-docs 04-Signatures.md (v1=hex HMAC-SHA256 of the body)", cases, secrets=[KEY, ROTATED])
