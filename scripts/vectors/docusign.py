"""docusign vectors: Python hmac per DocuSign Connect HMAC (X-DocuSign-Signature-N: base64 HMAC-SHA256 of the body) (no SDK verifier to cross-check).
Each case is one request of the documented scheme."""
import base64
import hashlib
import hmac

import common

KEY, ROTATED, WRONG = "dev-docusign-vector", "dev-docusign-rotated", "not-the-secret"
BODY = (common.ROOT / "fixtures/docusign/envelope-completed.json").read_text()
NOW = 1740933909
TS = False


def mac(key, data, alg=hashlib.sha256):
    return hmac.new(key.encode(), data.encode(), alg).digest()


def sig(key, body, t=NOW):
    return base64.b64encode(mac(key, body)).decode()


def case(name, signature, body, now, expect, slot=0):
    c = {"name": name, "target": "/hooks/docusign", "body": body, "now": now, "expect": expect,
         "headers": [["Content-Type", "application/json"]] + [["X-DocuSign-Signature-1", base64.b64encode(mac(WRONG, body)).decode()], ["X-DocuSign-Signature-2", signature]]}
    if expect == "ok":
        c.update(id="sha256:" + hashlib.sha256(body.encode()).hexdigest(), event="envelope-completed", slot=slot)
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
common.write("docusign", "own: Python hmac per DocuSign Connect HMAC (X-DocuSign-Signature-N: base64 HMAC-SHA256 of the body)", cases, secrets=[KEY, ROTATED])
