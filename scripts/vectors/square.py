"""Square vectors: HMAC-SHA256 by Python's hmac over {notification_url}{body}, each
case checked with squareup's verify_signature
(src/square/utils/webhooks_helper.py): Square's SDK has no signer."""
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
import common  # noqa: E402  (before the path is narrowed)

# This file is named like the SDK's package: drop its directory from the
# path so the import below finds the SDK, not this script.
sys.path[:] = [p for p in sys.path if pathlib.Path(p or ".").resolve() != HERE]

import base64
import hashlib
import hmac
from importlib.metadata import version

from square.utils.webhooks_helper import verify_signature


NOW = 1740933909
URL = "https://hooks.example.com/hooks/square"
KEYS = ["dev-square-signature-key", "dev-square-signature-key-next"]
BODY = '{"merchant_id":"6SSW7HV8K2ST5","type":"payment.created","event_id":"13b867cf-db3d-4b1c-90b6-2f32a9d78124","created_at":"2020-02-28T23:59:16.839Z","data":{"type":"payment","id":"KkAkhdMsgzn59SM8A89WgKwekxLZY","object":{"payment":{"amount_money":{"amount":100,"currency":"USD"},"note":"caf\u00e9"}}}}'


def sig(key, url, body):
    return base64.b64encode(hmac.new(key.encode(), (url + body).encode(), hashlib.sha256).digest()).decode()


def case(name, hdrs, body, expect, sdk, **kw):
    s = dict(hdrs).get("x-square-hmacsha256-signature", "")
    for key in KEYS:
        if verify_signature(request_body=body, signature_header=s, signature_key=key, notification_url=URL):
            break
    else:
        key = None
    assert (key is not None) == sdk, name
    return dict(name=name, method="POST", target="/hooks/square", headers=hdrs, body=body, now=NOW,
                expect=expect, **kw)


def main():
    h = lambda k, u=URL, b=BODY: [["Content-Type", "application/json"],
                                  ["x-square-hmacsha256-signature", sig(k, u, b)]]
    cases = [
        case("valid", h(KEYS[0]), BODY, "ok", True, id="13b867cf-db3d-4b1c-90b6-2f32a9d78124",
             event="payment.created", slot=0),
        case("rotated key", h(KEYS[1]), BODY, "ok", True, slot=1),
        case("tampered", h(KEYS[0]), BODY.replace("100", "101"), "unauthorized", False),
        case("wrong key", h("not-the-key"), BODY, "unauthorized", False),
        case("other url", h(KEYS[0], u=URL + "/"), BODY, "unauthorized", False),
        case("missing signature", [["Content-Type", "application/json"]], BODY, "unauthorized", False),
    ]
    common.write("square", f"python hmac; cross-checked with squareup {version('squareup')} "
                 "verify_signature", cases, route=f'public_url = "{URL}"', secrets=KEYS)


main()
