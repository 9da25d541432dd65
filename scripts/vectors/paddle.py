"""Paddle vectors: signed with paddle-python-sdk's own HMAC
(`PaddleSignature.calculate_hmac`), each case checked with the SDK's
`Verifier` (5 s both ways in 1.16.1) before it is written."""
import time
from importlib.metadata import version
from unittest import mock

import common
from paddle_billing.Notifications import Secret, Verifier
from paddle_billing.Notifications.PaddleSignature import PaddleSignature

KEY, ROTATED, WRONG = "pdl_ntfset_01dev_vector", "pdl_ntfset_01dev_rotated", "not-the-secret"
BODY = (common.ROOT / "fixtures/paddle/transaction.completed.json").read_text()
NOW = 1740933909


class Req:
    def __init__(self, headers, body):
        self.headers, self.body = headers, body.encode()


def h1(key, ts, body):
    return PaddleSignature.calculate_hmac(key, f"{ts}:{body}".encode()).hexdigest()


def sdk_accepts(header, body, now):
    with mock.patch("paddle_billing.Notifications.Verifier.time", lambda: now):
        try:
            return Verifier().verify(Req({"Paddle-Signature": header}, body), [Secret(KEY), Secret(ROTATED)])
        except ConnectionRefusedError:
            return False


def case(name, header, body, now, expect, slot=0):
    assert sdk_accepts(header, body, now) == (expect == "ok"), name
    c = {"name": name, "target": "/hooks/paddle", "body": body, "now": now, "expect": expect,
         "headers": [["Content-Type", "application/json"], ["Paddle-Signature", header]]}
    if expect == "ok":
        c.update(id="evt_01hv8x2acma2gz0bbx9y5s9h2b", event="transaction.completed", slot=slot)
    return c


good = f"ts={NOW};h1={h1(KEY, NOW, BODY)}"
cases = [
    case("valid", good, BODY, NOW, "ok"),
    case("valid 5 s later", good, BODY, NOW + 5, "ok"),
    case("stale 6 s", good, BODY, NOW + 6, "unauthorized"),
    case("future 6 s", good, BODY, NOW - 6, "unauthorized"),
    case("tampered body", good, BODY.replace("3600", "3601"), NOW, "unauthorized"),
    case("wrong secret", f"ts={NOW};h1={h1(WRONG, NOW, BODY)}", BODY, NOW, "unauthorized"),
    case("rotated secret", f"ts={NOW};h1={h1(ROTATED, NOW, BODY)}", BODY, NOW, "ok", slot=1),
    case("two h1", f"ts={NOW};h1={h1(WRONG, NOW, BODY)};h1={h1(KEY, NOW, BODY)}", BODY, NOW, "ok"),
]
common.write("paddle", f"paddle-python-sdk {version('paddle-python-sdk')} (PaddleSignature.calculate_hmac; Verifier accepts/rejects each case)",
             cases, secrets=[KEY, ROTATED])
