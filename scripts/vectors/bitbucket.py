"""bitbucket vectors: Python hmac per Bitbucket Cloud manage-webhooks (sha256=hex HMAC-SHA256 of the body) (no SDK verifier to cross-check).
Each case is one request of the documented scheme."""
import base64
import hashlib
import hmac

import common

KEY, ROTATED, WRONG = "dev-bitbucket-vector", "dev-bitbucket-rotated", "not-the-secret"
BODY = (common.ROOT / "fixtures/bitbucket/repo.push.json").read_text()
NOW = 1740933909
TS = False


def mac(key, data, alg=hashlib.sha256):
    return hmac.new(key.encode(), data.encode(), alg).digest()


def sig(key, body, t=NOW):
    return "sha256=" + mac(key, body).hex()


def case(name, signature, body, now, expect, slot=0):
    c = {"name": name, "target": "/hooks/bitbucket", "body": body, "now": now, "expect": expect,
         "headers": [["Content-Type", "application/json"]] + [["X-Hub-Signature", signature], ["X-Request-UUID", "afe2b0c2-0f39-4a85-8b1e-6c1f4e2d3a9b"], ["X-Event-Key", "repo:push"]]}
    if expect == "ok":
        c.update(id="afe2b0c2-0f39-4a85-8b1e-6c1f4e2d3a9b", event="repo:push", slot=slot)
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
common.write("bitbucket", "own: Python hmac per Bitbucket Cloud manage-webhooks (sha256=hex HMAC-SHA256 of the body)", cases, secrets=[KEY, ROTATED])
