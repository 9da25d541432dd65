"""tests/vectors/dropbox.json: Dropbox's scheme with Python's hmac (the
Dropbox webhooks reference's Python sample). X-Dropbox-Signature = hex
HMAC-SHA256(app secret, body); GET ?challenge=C echoes C."""
import hashlib
import hmac

import common

SECRETS = ["dev-dropbox-app-secret", "dev-dropbox-app-secret-next"]
NOW = 1740933909
BODY = (common.ROOT / "fixtures" / "dropbox" / "list_folder.json").read_bytes()


def post(name, body, secret=SECRETS[0], expect="ok", **kw):
    sig = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return dict(name=name, method="POST", target="/hooks/dropbox",
                headers=[["Content-Type", "application/json"], ["X-Dropbox-Signature", sig]],
                body=body.decode(), now=NOW, expect=expect, **kw)


cases = [
    post("valid", BODY, id="sha256:" + hashlib.sha256(BODY).hexdigest(),
         event="list_folder", slot=0),
    post("rotated secret", BODY, secret=SECRETS[1], slot=1),
    post("wrong secret", BODY, secret="wrong", expect="unauthorized"),
    dict(name="challenge", method="GET", target="/hooks/dropbox?challenge=ZmFrZS1jaGFsbGVuZ2U",
         now=NOW, expect="handshake",
         answer={"status": 200, "content_type": "text/plain; charset=utf-8",
                 "body": "ZmFrZS1jaGFsbGVuZ2U"}),
    dict(name="challenge too long", method="GET",
         target="/hooks/dropbox?challenge=" + "c" * 257, now=NOW, expect="unauthorized"),
]
t = post("tampered", BODY, expect="unauthorized")
t["body"] = BODY.decode().replace("12345678", "12345679")
cases.append(t)
common.write("dropbox", "own: Python hmac, the scheme of Dropbox's Python sample", cases,
             secrets=SECRETS)
