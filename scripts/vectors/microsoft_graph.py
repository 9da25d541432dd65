"""tests/vectors/microsoft_graph.json: Graph change notifications (no
signature: every value[].clientState equals the secret; POST
?validationToken=T echoes T decoded as text). No SDK verifies clientState."""
import hashlib
import json

import common

SECRETS = ["dev-graph-client-state", "dev-graph-client-state-next"]
NOW = 1740933909
BODY = (common.ROOT / "fixtures" / "microsoft_graph" / "message.created.json").read_text()


def post(name, body, target="/hooks/microsoft_graph", expect="ok", **kw):
    return dict(name=name, method="POST", target=target,
                headers=[["Content-Type", "application/json"]], body=body, now=NOW,
                expect=expect, **kw)


two = json.dumps({"value": [
    {"id": "a", "clientState": SECRETS[0], "changeType": "updated"},
    {"id": "b", "clientState": SECRETS[1], "changeType": "deleted"}]})
cases = [
    post("valid", BODY, id="lsgTZMr9KwAAA", event="created", slot=0),
    post("rotated secret", BODY.replace(SECRETS[0], SECRETS[1]), slot=1),
    post("batch of two", two, id="sha256:" + hashlib.sha256(two.encode()).hexdigest(),
         event="updated", slot=0),
    post("wrong clientState", BODY.replace(SECRETS[0], "wrong"), expect="unauthorized"),
    post("validation", "", expect="handshake",
         target="/hooks/microsoft_graph?validationToken=Validation%3a+Testing+client",
         answer={"status": 200, "content_type": "text/plain; charset=utf-8",
                 "body": "Validation: Testing client"}),
]
common.write("microsoft_graph", "own: clientState equality (no Graph SDK verifies it)",
             cases, secrets=SECRETS)
