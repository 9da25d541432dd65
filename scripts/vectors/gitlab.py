"""gitlab vectors: Python hmac per GitLab webhooks (X-Gitlab-Token equals the secret token) (no SDK verifier to cross-check).
Each case is one request of the documented scheme."""
import base64
import hashlib
import hmac

import common

KEY, ROTATED, WRONG = "dev-gitlab-vector", "dev-gitlab-rotated", "not-the-secret"
BODY = (common.ROOT / "fixtures/gitlab/push.json").read_text()
NOW = 1740933909
TS = False


def mac(key, data, alg=hashlib.sha256):
    return hmac.new(key.encode(), data.encode(), alg).digest()


def sig(key, body, t=NOW):
    return key


def case(name, signature, body, now, expect, slot=0):
    c = {"name": name, "target": "/hooks/gitlab", "body": body, "now": now, "expect": expect,
         "headers": [["Content-Type", "application/json"]] + [["X-Gitlab-Token", signature], ["X-Gitlab-Event", "Push Hook"], ["Idempotency-Key", "f5e5f430-f57b-4e6e-9fac-d9128cd7232f"]]}
    if expect == "ok":
        c.update(id="f5e5f430-f57b-4e6e-9fac-d9128cd7232f", event="Push Hook", slot=slot)
    return c


cases = [
    case("valid", sig(KEY, BODY), BODY, NOW, "ok"),
    # A token, not a signature: the body is not covered (TLS protects it).
    case("other body", sig(KEY, BODY), BODY.replace("hookgate-demo", "hookgate-other"), NOW, "ok"),
    case("wrong secret", sig(WRONG, BODY), BODY, NOW, "unauthorized"),
    case("rotated secret", sig(ROTATED, BODY), BODY, NOW, "ok", slot=1),
]
if TS:
    cases += [
        case("stale", sig(KEY, BODY, NOW - 301), BODY, NOW, "unauthorized"),
        case("future", sig(KEY, BODY, NOW + 301), BODY, NOW, "unauthorized"),
    ]
common.write("gitlab", "own: Python hmac per GitLab webhooks (X-Gitlab-Token equals the secret token)", cases, secrets=[KEY, ROTATED])
