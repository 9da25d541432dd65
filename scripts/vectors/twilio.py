"""Twilio vectors: signatures by twilio-python's RequestValidator.compute_signature,
each checked with RequestValidator.validate (twilio/request_validator.py)."""
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
import common  # noqa: E402  (before the path is narrowed)

# This file is named like the SDK's package: drop its directory from the
# path so the import below finds the SDK, not this script.
sys.path[:] = [p for p in sys.path if pathlib.Path(p or ".").resolve() != HERE]

import hashlib
from importlib.metadata import version

from multidict import MultiDict
from twilio.request_validator import RequestValidator


NOW = 1740933909
URL = "https://hooks.example.com/hooks/twilio"
TOKENS = ["dev-twilio-auth-token", "dev-twilio-auth-token-next"]
FORM = [("MessageSid", "SM1f0e8ae6ade43cb3c0ce4525424e404f"), ("MessageStatus", "delivered"),
        ("SmsStatus", "delivered"), ("To", "+15017122661"), ("From", "+15558675310"),
        ("Body", "Hi ✅ & bye"), ("Tag", "b"), ("Tag", "a")]
JSON = '{"property": "value", "boolean": true}'


def form_body(params):
    from urllib.parse import urlencode
    return urlencode(params)


def sign_form(token, url, params):
    v = RequestValidator(token)
    sig = v.compute_signature(url, MultiDict(params))
    assert v.validate(url, MultiDict(params), sig)
    return sig


def case(name, target, headers, body, expect, **kw):
    return dict(name=name, method="POST", target=target, headers=headers, body=body,
                now=NOW, expect=expect, **kw)


def main():
    form_ct = ["Content-Type", "application/x-www-form-urlencoded"]
    body = form_body(FORM)
    sig = sign_form(TOKENS[0], URL, FORM)
    token = ["I-Twilio-Idempotency-Token", "idem-0001"]
    cases = [
        case("form with idempotency token", "/hooks/twilio", [form_ct, ["X-Twilio-Signature", sig], token],
             body, "ok", id="idem-0001", event="delivered", slot=0),
        case("form without token: body hash", "/hooks/twilio", [form_ct, ["X-Twilio-Signature", sig]],
             body, "ok", id="sha256:" + hashlib.sha256(body.encode()).hexdigest(), slot=0),
    ]
    q = "/hooks/twilio?a=1&b=%2F"
    sig_q = sign_form(TOKENS[0], URL + "?a=1&b=%2F", FORM)
    cases.append(case("query is signed", q, [form_ct, ["X-Twilio-Signature", sig_q]], body, "ok", slot=0))
    sig_port = sign_form(TOKENS[0], URL.replace(".com", ".com:443"), FORM)
    cases.append(case("signed with :443", "/hooks/twilio", [form_ct, ["X-Twilio-Signature", sig_port]],
                      body, "ok", slot=0))
    sig_next = sign_form(TOKENS[1], URL, FORM)
    cases.append(case("rotated token", "/hooks/twilio", [form_ct, ["X-Twilio-Signature", sig_next]],
                      body, "ok", slot=1))
    v = RequestValidator(TOKENS[0])
    h = hashlib.sha256(JSON.encode()).hexdigest()
    jurl = URL + "?bodySHA256=" + h
    jsig = v.compute_signature(jurl, {})
    assert v.validate(jurl, JSON, jsig)
    json_ct = ["Content-Type", "application/json"]
    cases.append(case("json bound by bodySHA256", "/hooks/twilio?bodySHA256=" + h,
                      [json_ct, ["X-Twilio-Signature", jsig]], JSON, "ok", slot=0))
    other = JSON.replace("true", "false")
    assert not v.validate(jurl, other, jsig)
    cases.append(case("json tampered", "/hooks/twilio?bodySHA256=" + h,
                      [json_ct, ["X-Twilio-Signature", jsig]], other, "unauthorized"))
    tampered = form_body([(k, "failed" if k == "MessageStatus" else x) for k, x in FORM])
    assert not v.validate(URL, MultiDict([(k, "failed" if k == "MessageStatus" else x) for k, x in FORM]), sig)
    cases.append(case("form tampered", "/hooks/twilio", [form_ct, ["X-Twilio-Signature", sig]],
                      tampered, "unauthorized"))
    wrong = RequestValidator("not-the-token").compute_signature(URL, MultiDict(FORM))
    cases.append(case("wrong token", "/hooks/twilio", [form_ct, ["X-Twilio-Signature", wrong]],
                      body, "unauthorized"))
    cases.append(case("missing signature", "/hooks/twilio", [form_ct], body, "unauthorized"))
    common.write("twilio", f"twilio-python {version('twilio')} RequestValidator", cases,
                 route=f'public_url = "{URL}"', secrets=TOKENS)


main()
