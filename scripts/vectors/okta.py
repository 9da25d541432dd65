"""tests/vectors/okta.json: Okta event hooks (no signature: the configured
header carries the secret; GET verification echoes
X-Okta-Verification-Challenge as {"verification": V}). No SDK verifies."""

import common

SECRETS = ["dev-okta-event-hook-secret", "dev-okta-event-hook-secret-next"]
NOW = 1740933909
BODY = (common.ROOT / "fixtures" / "okta" / "user.session.start.json").read_bytes()


def req(name, secret, method="POST", body=BODY, expect="ok", extra=(), **kw):
    headers = [["Content-Type", "application/json"]]
    if secret is not None:
        headers.append(["Authorization", secret])
    headers += [list(h) for h in extra]
    c = dict(name=name, method=method, target="/hooks/okta", headers=headers, now=NOW,
             expect=expect, **kw)
    if method == "POST":
        c["body"] = body.decode()
    return c


cases = [
    req("valid", SECRETS[0], id="b5a188b9-5ece-4636-b041-482ffda96311",
        event="user.session.start", slot=0),
    req("rotated secret", SECRETS[1], slot=1),
    req("wrong secret", "wrong", expect="unauthorized"),
    req("no header", None, expect="unauthorized"),
    req("not JSON", SECRETS[0], body=b"plain", expect="bad_request"),
    req("verification", SECRETS[0], method="GET", expect="handshake",
        extra=[("X-Okta-Verification-Challenge", "2rM8LPY6lKMzKbNNLtJUu0Mw")],
        answer={"status": 200, "content_type": "application/json",
                "body": '{"verification":"2rM8LPY6lKMzKbNNLtJUu0Mw"}'}),
    req("verification, wrong secret", "wrong", method="GET", expect="unauthorized",
        extra=[("X-Okta-Verification-Challenge", "2rM8LPY6lKMzKbNNLtJUu0Mw")]),
]
common.write("okta", "own: header equality (no Okta SDK verifies event hooks)", cases,
             secrets=SECRETS)
