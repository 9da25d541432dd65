#!/usr/bin/env python3
"""POSTs a signed 2 MiB GitHub delivery to a route capped below that, N times, with Python
requests (which uploads the whole body before reading): every attempt should print 413, none a
connection reset (issue 13, lingering close). Usage:
  scripts/early-answer.py URL SECRET [N]     e.g. https://127.0.0.1:8443/hooks/github dev-github-secret 20
TLS certificates are not verified (a dev gateway with self_signed = true)."""
import collections, hashlib, hmac, sys, uuid
import requests, urllib3

urllib3.disable_warnings()
url, secret = sys.argv[1], sys.argv[2].encode()
n = int(sys.argv[3]) if len(sys.argv) > 3 else 20
body = b'{"pad":"' + b"x" * (2 * 1024 * 1024 - 10) + b'"}'
seen = collections.Counter()
for _ in range(n):
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest(),
    }
    try:
        seen[str(requests.post(url, data=body, headers=headers, verify=False, timeout=30).status_code)] += 1
    except requests.exceptions.RequestException as e:
        seen[type(e).__name__] += 1
print(dict(seen))
sys.exit(0 if seen == {"413": n} else 1)
