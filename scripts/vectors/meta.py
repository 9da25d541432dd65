"""tests/vectors/meta.json: Meta's scheme with Python's hmac (Meta ships no
signer; its docs give the scheme). X-Hub-Signature-256 = sha256= + hex
HMAC-SHA256(app secret, body); the GET subscription check echoes
hub.challenge when hub.verify_token matches."""
import hashlib
import hmac

import common

SECRETS = ["dev-meta-app-secret", "dev-meta-app-secret-next"]
NOW = 1740933909
TOKEN = (common.ROOT / "fixtures" / "meta" / "verify_token.txt").read_text().strip()
BODY = (common.ROOT / "fixtures" / "meta" / "page.feed.json").read_bytes()


def post(name, body, secret=SECRETS[0], expect="ok", **kw):
    sig = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return dict(name=name, method="POST", target="/hooks/meta",
                headers=[["Content-Type", "application/json"], ["X-Hub-Signature-256", sig]],
                body=body.decode(), now=NOW, expect=expect, **kw)


def get(name, query, expect, answer=None):
    c = dict(name=name, method="GET", target="/hooks/meta?" + query, now=NOW, expect=expect)
    if answer is not None:
        c["answer"] = {"status": 200, "content_type": "text/plain; charset=utf-8",
                       "body": answer}
    return c


cases = [
    post("valid", BODY, id="sha256:" + hashlib.sha256(BODY).hexdigest(), event="page", slot=0),
    post("rotated secret", BODY, secret=SECRETS[1], slot=1),
    post("wrong secret", BODY, secret="wrong", expect="unauthorized"),
    post("signed non-JSON", b"plain", expect="bad_request"),
    get("subscribe", f"hub.mode=subscribe&hub.verify_token={TOKEN}&hub.challenge=1158201444",
        "handshake", "1158201444"),
    get("wrong verify token", "hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1",
        "unauthorized"),
    get("challenge with a space", f"hub.mode=subscribe&hub.verify_token={TOKEN}&hub.challenge=a+b",
        "unauthorized"),
]
t = post("tampered", BODY, expect="unauthorized")
t["body"] = BODY.decode().replace("Example", "Exbmple")
cases.append(t)
common.write("meta", "own: Python hmac (no Meta SDK signs or verifies)", cases,
             route='verify_token = { file = "fixtures/meta/verify_token.txt" }',
             secrets=SECRETS)
