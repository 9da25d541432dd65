#!/usr/bin/env python3
"""Sequential ack latency of a running hookgate (one keep-alive TLS connection).

Sends N GitHub-signed deliveries (the push fixture, a fresh X-GitHub-Delivery each)
one after the other, and N/10 Outbound Messages with 3 Notifications, and prints
p50/p99/max of the time from sending the request to receiving the 200 (which hookgate
sends only after the publisher confirm).

Usage: scripts/ack-latency.py [--url https://127.0.0.1:8443] [-n 500]
Secrets: GITHUB_WEBHOOK_SECRET (default dev-github-secret).
"""
import argparse
import hashlib
import hmac
import http.client
import os
import ssl
import statistics
import time
import urllib.parse
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def run(conn, path, make, n):
    lat = []
    for _ in range(n):
        headers, body = make()
        t0 = time.perf_counter()
        conn.request("POST", path, body=body, headers=headers)
        resp = conn.getresponse()
        resp.read()
        lat.append((time.perf_counter() - t0) * 1000)
        if resp.status != 200:
            raise SystemExit(f"{path}: HTTP {resp.status}")
    return lat


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="https://127.0.0.1:8443")
    ap.add_argument("-n", type=int, default=500)
    a = ap.parse_args()
    u = urllib.parse.urlparse(a.url)
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the dev config serves a throwaway self-signed certificate
    conn = http.client.HTTPSConnection(u.hostname, u.port or 443, context=ctx, timeout=30)

    secret = os.environ.get("GITHUB_WEBHOOK_SECRET", "dev-github-secret").encode()
    push = open(os.path.join(ROOT, "fixtures/github/push.json"), "rb").read()

    def github():
        sig = hmac.new(secret, push, hashlib.sha256).hexdigest()
        return {
            "Content-Type": "application/json",
            "X-GitHub-Event": "push",
            "X-GitHub-Delivery": str(uuid.uuid4()),
            "X-Hub-Signature-256": "sha256=" + sig,
        }, push

    om3 = open(os.path.join(ROOT, "fixtures/salesforce/om_3_nil.xml"), "rb").read()

    def om():
        return {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'}, om3

    run(conn, "/hooks/github", github, 20)  # warm-up
    for name, path, make, n in [
        ("github 1 request = 1 message", "/hooks/github", github, a.n),
        ("outbound message, 3 Notifications", "/salesforce/outbound", om, max(10, a.n // 10)),
    ]:
        lat = run(conn, path, make, n)
        print(
            f"{name:38s} n={n:5d}  p50={statistics.median(lat):6.2f} ms  "
            f"p99={pct(lat, 99):6.2f} ms  max={max(lat):6.2f} ms"
        )


if __name__ == "__main__":
    main()
