"""HubSpot v3 vectors: signatures by hubspot-api-client's Signature.get_signature
(hubspot/utils/signature.py) over the URI HubSpot signs (the documented escapes
decoded; the SDK itself decodes nothing)."""
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
import common  # noqa: E402  (before the path is narrowed)

# This file is named like the SDK's package: drop its directory from the
# path so the import below finds the SDK, not this script.
sys.path[:] = [p for p in sys.path if pathlib.Path(p or ".").resolve() != HERE]

import hashlib
from importlib.metadata import version

from hubspot.utils.signature import Signature


NOW = 1740933909
URL = "https://hooks.example.com/hooks/hubspot"
SECRETS = ["dev-hubspot-client-secret", "dev-hubspot-client-secret-next"]
ONE = '[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,"changeSource":"CRM","changeFlag":"NEW","appId":54321}]'
TWO = '[{"eventId":7,"subscriptionType":"deal.creation","objectId":1},{"eventId":8,"subscriptionType":"deal.creation","objectId":2}]'
DECODED = ["%3A", "%2F", "%3F", "%40", "%21", "%24", "%27", "%28", "%29", "%2A", "%2C", "%3B"]


def decode(uri):
    from urllib.parse import unquote
    for esc in DECODED:
        uri = uri.replace(esc, unquote(esc))
    return uri


def headers(secret, uri, body, ts_ms):
    sig = Signature.get_signature(secret, body, "v3", decode(uri), "POST", str(ts_ms))
    return [["Content-Type", "application/json"], ["X-HubSpot-Signature-v3", sig],
            ["X-HubSpot-Request-Timestamp", str(ts_ms)]]


def case(name, target, hdrs, body, expect, **kw):
    return dict(name=name, method="POST", target=target, headers=hdrs, body=body, now=NOW,
                expect=expect, **kw)


def main():
    ts = NOW * 1000 + 42
    t = "/hooks/hubspot"
    cases = [
        case("one event", t, headers(SECRETS[0], URL, ONE, ts), ONE, "ok", id="1",
             event="contact.creation", slot=0),
        case("two events", t, headers(SECRETS[0], URL, TWO, ts), TWO, "ok",
             id="sha256:" + hashlib.sha256(TWO.encode()).hexdigest(), event="deal.creation", slot=0),
        case("query with escapes", t + "?r=%2Fx%3Ay%40z&s=a%20b",
             headers(SECRETS[0], URL + "?r=%2Fx%3Ay%40z&s=a%20b", ONE, ts), ONE, "ok", slot=0),
        case("rotated secret", t, headers(SECRETS[1], URL, ONE, ts), ONE, "ok", slot=1),
        case("tampered", t, headers(SECRETS[0], URL, ONE, ts), ONE.replace("123", "124"),
             "unauthorized"),
        case("wrong secret", t, headers("not-the-secret", URL, ONE, ts), ONE, "unauthorized"),
        case("other query", t + "?x=1", headers(SECRETS[0], URL, ONE, ts), ONE, "unauthorized"),
        case("stale", t, headers(SECRETS[0], URL, ONE, (NOW - 301) * 1000), ONE, "unauthorized"),
        case("future", t, headers(SECRETS[0], URL, ONE, (NOW + 301) * 1000), ONE, "unauthorized"),
        case("missing signature", t, headers(SECRETS[0], URL, ONE, ts)[:1] + headers(SECRETS[0], URL, ONE, ts)[2:],
             ONE, "unauthorized"),
    ]
    common.write("hubspot", f"hubspot-api-client {version('hubspot-api-client')} Signature.get_signature (v3)",
                 cases, route=f'public_url = "{URL}"', secrets=SECRETS)


main()
