"""Discord vectors: Ed25519 signatures by PyNaCl (libsodium) over {timestamp}{body},
keys from fixed seeds; each checked with PyNaCl's VerifyKey (Discord's documented
Python check). Discord publishes no Python signer."""
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
import common  # noqa: E402  (before the path is narrowed)

# This file is named like the SDK's package: drop its directory from the
# path so the import below finds the SDK, not this script.
sys.path[:] = [p for p in sys.path if pathlib.Path(p or ".").resolve() != HERE]

import hashlib
from importlib.metadata import version

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey


NOW = 1740933909
KEYS = [SigningKey(hashlib.sha256(f"hookgate-discord-{i}".encode()).digest()) for i in range(3)]
COMMAND = '{"id":"1234567890123456789","application_id":"1234567890123456780","type":2,"token":"A_UNIQUE_TOKEN","version":1,"data":{"id":"771825006014889984","name":"blep","type":1}}'
PING = '{"id":"1234567890123456790","application_id":"1234567890123456780","type":1,"token":"A_UNIQUE_TOKEN","version":1}'


def headers(key, ts, body):
    sig = key.sign(f"{ts}{body}".encode()).signature.hex()
    key.verify_key.verify(f"{ts}{body}".encode(), bytes.fromhex(sig))
    return [["Content-Type", "application/json"], ["X-Signature-Ed25519", sig],
            ["X-Signature-Timestamp", str(ts)]]


def case(name, hdrs, body, expect, **kw):
    return dict(name=name, method="POST", target="/hooks/discord", headers=hdrs, body=body, now=NOW,
                expect=expect, **kw)


def main():
    good = headers(KEYS[0], NOW, COMMAND)
    try:
        KEYS[0].verify_key.verify(f"{NOW}{COMMAND} ".encode(), bytes.fromhex(good[1][1]))
        raise SystemExit("tampered body verified")
    except BadSignatureError:
        pass
    cases = [
        case("command", good, COMMAND, "ok", id="1234567890123456789", event="application_command.blep", slot=0),
        case("ping", headers(KEYS[0], NOW, PING), PING, "handshake",
             answer={"status": 200, "content_type": "application/json", "body": '{"type":1}'}),
        case("rotated key", headers(KEYS[1], NOW, COMMAND), COMMAND, "ok", slot=1),
        case("tampered", good, COMMAND + " ", "unauthorized"),
        case("unknown key", headers(KEYS[2], NOW, COMMAND), COMMAND, "unauthorized"),
        case("ping with unknown key", headers(KEYS[2], NOW, PING), PING, "unauthorized"),
        case("stale", headers(KEYS[0], NOW - 301, COMMAND), COMMAND, "unauthorized"),
        case("future", headers(KEYS[0], NOW + 301, COMMAND), COMMAND, "unauthorized"),
        case("missing signature", [good[0], good[2]], COMMAND, "unauthorized"),
    ]
    keys = ", ".join(f'{{ value = "{k.verify_key.encode().hex()}" }}' for k in KEYS[:2])
    common.write("discord", f"PyNaCl {version('PyNaCl')} SigningKey.sign", cases,
                 route=f"public_keys = [{keys}]")


main()
