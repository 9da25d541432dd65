"""Shopify vectors: Shopify publishes no signer; the signature is computed as
its "Verify webhooks" page shows (base64 HMAC-SHA256 of the raw body with the
app's client secret), with Python's hmac."""
import base64
import hashlib
import hmac

import common

SECRET = "dev-shopify-secret"
OLD = "previous-shopify-secret"
NOW = 1740933909
BODY = (common.ROOT / "fixtures/shopify/orders_create.json").read_text()
ID = "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"


def sig(secret, body=BODY):
    return base64.b64encode(hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest()).decode()


def case(name, signature, expect, body=BODY, slot=0):
    headers = [["Content-Type", "application/json"], ["X-Shopify-Topic", "orders/create"],
               ["X-Shopify-Webhook-Id", ID]]
    if signature:
        headers.append(["X-Shopify-Hmac-Sha256", signature])
    c = {"name": name, "target": "/hooks/shopify", "now": NOW, "body": body, "headers": headers,
         "expect": expect}
    if expect == "ok":
        c.update(id=ID, event="orders/create", slot=slot)
    return c


cases = [
    case("valid", sig(SECRET), "ok"),
    case("rotated secret in slot 1", sig(OLD), "ok", slot=1),
    case("tampered body", sig(SECRET), "unauthorized", body=BODY.replace("1", "2", 1)),
    case("wrong secret", sig("wrong"), "unauthorized"),
    case("missing header", None, "unauthorized"),
    case("hex instead of base64", hmac.new(SECRET.encode(), BODY.encode(), hashlib.sha256).hexdigest(), "unauthorized"),
]
common.write("shopify", "own: Python hmac per Shopify's Verify webhooks page (no SDK signer)", cases,
             secrets=[SECRET, OLD])
