#!/usr/bin/env python3
"""Regenerate the test fixtures under fixtures/ (deterministic output).

Usage: python3 scripts/gen-fixtures.py   (from the repository root or anywhere)

Writes fixtures/salesforce/*, fixtures/<provider>/* and fixtures/json_abuse/*.
The hand-written fixtures/README.md is not touched.
"""
import json
import os
import random
from xml.sax.saxutils import escape

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
FIX = os.path.join(ROOT, "fixtures")

# --------------------------------------------------------------------------
# Salesforce 15 -> 18 character ids (SALESFORCE.md section 5)
# --------------------------------------------------------------------------
SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def sfid18(id15):
    assert len(id15) == 15 and id15.isalnum(), id15
    suffix = ""
    for chunk in range(3):
        n = 0
        for i, c in enumerate(id15[chunk * 5:chunk * 5 + 5]):
            if "A" <= c <= "Z":
                n |= 1 << i
        suffix += SUFFIX_ALPHABET[n]
    return id15 + suffix


assert sfid18("a0RE000000IJmcN") == "a0RE000000IJmcNMAT"
assert sfid18("a01M00000062mPg") == "a01M00000062mPgIAI"
assert sfid18("0F9E000000092w2") == "0F9E000000092w2KAA"


def b62(n, width):
    s = ""
    for _ in range(width):
        n, r = divmod(n, 62)
        s = BASE62[r] + s
    assert n == 0
    return s


def sfid(prefix, pod, seq):
    """18-char id: 3-char key prefix + 2-char pod + zero padding + 5-char base62 counter."""
    body = prefix + pod
    id15 = body + "0" * (15 - len(body) - 5) + b62(seq, 5)
    return sfid18(id15)


ORG15 = "00D000000000001"
ORG18 = sfid18(ORG15)
ORG15_WRONG = "00D000000000002"
ORG18_WRONG = sfid18(ORG15_WRONG)
assert ORG18 == "00D000000000001EAA", ORG18
assert ORG18_WRONG == "00D000000000002EAA", ORG18_WRONG
ACTION_ACCOUNT = sfid18("04kHs000000GmaB")   # OM action on Account
ACTION_CONTACT = sfid18("04kHs000000GmaC")   # OM action on Contact
SESSION_ID = "00D000000000001!AQ4AQFakeSessionTokenForTestsOnly"
HOST = "https://example.my.salesforce.com"


def urls(org15):
    return (HOST + "/services/Soap/c/62.0/" + org15,
            HOST + "/services/Soap/u/62.0/" + org15)


# Block of ids per file so that notification ids and record ids never collide
# across fixtures (except for the "variant of om_1" files, which reuse om_1's).
BLOCK = {"om_1": 12_000_000, "om_3_nil": 12_000_100, "om_100": 12_001_000,
         "om_101": 12_002_000, "om_contact_3": 12_003_000}


def notif_id(file_key, i):
    return sfid("04l", "Hs", BLOCK[file_key] + i)


def account_id(file_key, i):
    return sfid("001", "Hs", BLOCK[file_key] + 3_000_000 + i)


def contact_id(file_key, i):
    return sfid("003", "Hs", BLOCK[file_key] + 6_000_000 + i)


ENVELOPE_OPEN = ('<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"'
                 ' xmlns:xsd="http://www.w3.org/2001/XMLSchema"'
                 ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">')
SOAP12_ENVELOPE_OPEN = ('<soapenv:Envelope xmlns:soapenv="http://www.w3.org/2003/05/soap-envelope"'
                        ' xmlns:xsd="http://www.w3.org/2001/XMLSchema"'
                        ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">')
OUTBOUND_NS = "http://soap.sforce.com/2005/09/outbound"

# Account fields in capture order (alphabetical after Id).
ACCOUNT_FIELDS = ["AnnualRevenue", "BillingCity", "Industry", "IsDeleted",
                  "LastModifiedDate", "Name", "NumberOfEmployees", "Website"]
CONTACT_FIELDS = ["AccountId", "Email", "FirstName", "LastName"]

NAMES = ["Acme Corporation", "Globex Industries", "Initech", "Umbrella Health",
         "Stark Manufacturing", "Wayne Logistics", "Wonka Foods", "Tyrell Systems",
         "Cyberdyne Robotics", "Soylent Beverages", "Hooli", "Vandelay Imports",
         "Pied Piper", "Massive Dynamic", "Oscorp Biotech", "Gringotts Banking"]
CITIES = ["San Francisco", "New York", "Chicago", "Austin", "Seattle", "Boston",
          "Denver", "Atlanta", "London", "Paris", "Z\u00fcrich", "Toronto",
          "S\u00e3o Paulo", "Sydney", "Tokyo", "Berlin"]
INDUSTRIES = ["Technology", "Manufacturing", "Healthcare", "Banking", "Retail",
              "Food & Beverage", "Energy", "Consulting", "Transportation",
              "Telecommunications", "Biotechnology", "Insurance"]


def field(name, value):
    """One sf: field. value None -> xsi:nil, "" -> empty element, absent -> not called."""
    if value is None:
        return '<sf:%s xsi:nil="true"/>' % name
    return "<sf:%s>%s</sf:%s>" % (name, escape(value), name)


def account(file_key, i):
    n = BLOCK[file_key] + i
    name = NAMES[n % len(NAMES)]
    slug = "".join(ch for ch in name.lower() if ch.isalnum())
    return {
        "Id": account_id(file_key, i),
        "AnnualRevenue": "%d.0" % (120000 + 5000 * (n % 40)),
        "BillingCity": CITIES[n % len(CITIES)],
        "Industry": INDUSTRIES[n % len(INDUSTRIES)],
        "IsDeleted": "false",
        "LastModifiedDate": "2025-03-02T16:%02d:%02d.000Z" % (45 + (i // 60) % 15, (9 + i) % 60),
        "Name": name if i < len(NAMES) else "%s %d" % (name, i),
        "NumberOfEmployees": str(25 + 7 * (n % 300)),
        "Website": "https://www.%s.example.com" % slug,
    }


def notification(nid, sobj_type, fields, order):
    lines = ["   <Notification>",
             "    <Id>%s</Id>" % nid,
             '    <sObject xsi:type="sf:%s" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">' % sobj_type,
             "     " + field("Id", fields["Id"])]
    for f in order:
        if f in fields:               # absent key => element simply absent
            lines.append("     " + field(f, fields[f]))
    lines += ["    </sObject>", "   </Notification>"]
    return "\n".join(lines)


def envelope(notifications, org18=ORG18, org15=ORG15, action=ACTION_ACCOUNT,
             session=None, ns=OUTBOUND_NS, env_open=ENVELOPE_OPEN, doctype=None):
    ent, part = urls(org15)
    session_el = ('<SessionId xsi:nil="true"/>' if session is None
                  else "<SessionId>%s</SessionId>" % escape(session))
    out = ['<?xml version="1.0" encoding="UTF-8"?>']
    if doctype:
        out.append(doctype)
    out += [env_open,
            " <soapenv:Body>",
            '  <notifications xmlns="%s">' % ns,
            "   <OrganizationId>%s</OrganizationId>" % org18,
            "   <ActionId>%s</ActionId>" % action,
            "   " + session_el,
            "   <EnterpriseUrl>%s</EnterpriseUrl>" % ent,
            "   <PartnerUrl>%s</PartnerUrl>" % part]
    out += notifications
    out += ["  </notifications>", " </soapenv:Body>", "</soapenv:Envelope>"]
    return "\n".join(out) + "\n"


def write(path, data):
    path = os.path.join(FIX, path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(path, "wb") as f:
        f.write(data)


def account_notifs(file_key, count, mutate=None):
    res = []
    for i in range(count):
        fields = account(file_key, i)
        if mutate:
            mutate(i, fields)
        res.append(notification(notif_id(file_key, i), "Account", fields, ACCOUNT_FIELDS))
    return res


def gen_salesforce():
    sf = "salesforce/"
    # om_1: exactly the values named in the brief.
    om1_fields = account("om_1", 0)
    om1_fields.update({"AnnualRevenue": "120000.0", "BillingCity": "San Francisco",
                       "Industry": "Technology", "LastModifiedDate": "2025-03-02T16:45:09.000Z",
                       "Name": "Acme Corporation", "NumberOfEmployees": "250",
                       "Website": "https://www.acme.example.com"})
    om1_notif = notification(notif_id("om_1", 0), "Account", om1_fields, ACCOUNT_FIELDS)
    om1 = envelope([om1_notif])
    write(sf + "om_1.xml", om1)

    # om_3_nil
    def mut3(i, f):
        if i == 0:      # fields simply absent (null)
            for k in ("AnnualRevenue", "NumberOfEmployees", "Website"):
                del f[k]
            f["Name"] = "Johnson & Sons"
        elif i == 1:    # explicit xsi:nil
            f["Website"] = None
        elif i == 2:    # empty string, not null
            f["Industry"] = ""
    write(sf + "om_3_nil.xml", envelope(account_notifs("om_3_nil", 3, mut3), session=SESSION_ID))

    write(sf + "om_100.xml", envelope(account_notifs("om_100", 100)))
    write(sf + "om_101.xml", envelope(account_notifs("om_101", 101)))

    write(sf + "om_wrong_org.xml", envelope([om1_notif], org18=ORG18_WRONG, org15=ORG15_WRONG))

    xxe_fields = dict(om1_fields, Name="&xxe;")
    xxe = envelope([notification(notif_id("om_1", 0), "Account", xxe_fields, ACCOUNT_FIELDS)],
                   doctype='<!DOCTYPE soapenv:Envelope [\n  <!ENTITY xxe SYSTEM "file:///etc/passwd">\n]>')
    write(sf + "om_xxe.xml", xxe.replace("&amp;xxe;", "&xxe;"))

    int_fields = dict(om1_fields, Name="&company;")
    internal = envelope([notification(notif_id("om_1", 0), "Account", int_fields, ACCOUNT_FIELDS)],
                        doctype='<!DOCTYPE soapenv:Envelope [\n  <!ENTITY company "Entity Expansion Inc">\n]>')
    write(sf + "om_doctype_internal.xml", internal.replace("&amp;company;", "&company;"))

    write(sf + "om_wrong_ns.xml", envelope([om1_notif], ns="http://soap.sforce.com/2005/09/inbound"))
    write(sf + "om_soap12.xml", envelope([om1_notif], env_open=SOAP12_ENVELOPE_OPEN))
    write(sf + "om_zero.xml", envelope([]))

    cut = om1.index("<sf:BillingCity>") + len("<sf:BillingCity>San Fra")
    write(sf + "om_truncated.xml", om1[:cut])

    contacts = []
    people = [("Ada", "Lovelace"), ("Grace", "Hopper"), ("Ren\u00e9", "Descartes")]
    for i, (first, last) in enumerate(people):
        f = {"Id": contact_id("om_contact_3", i),
             "AccountId": account_id("om_1", 0) if i < 2 else account_id("om_3_nil", 1),
             "Email": "%s.%s@example.com" % (first.lower().replace("\u00e9", "e"), last.lower()),
             "FirstName": first, "LastName": last}
        contacts.append(notification(notif_id("om_contact_3", i), "Contact", f, CONTACT_FIELDS))
    write(sf + "om_contact_3.xml", envelope(contacts, action=ACTION_CONTACT))

    rnd = random.Random(20250302)
    garbage = bytearray(rnd.getrandbits(8) for _ in range(300))
    garbage[0:4] = b"\x89\xff\xfe\x00"          # not '<', not a BOM, invalid UTF-8 up front
    garbage[100:103] = b"\xc3\x28\xa0"           # invalid 2-byte sequence + lone continuation
    garbage[200:204] = b"\xf8\x88\x80\x80"       # 5-byte lead (never valid)
    write(sf + "garbage.bin", bytes(garbage))

    return {"org": ORG18, "org_wrong": ORG18_WRONG, "action": ACTION_ACCOUNT,
            "action_contact": ACTION_CONTACT, "om1_notification": notif_id("om_1", 0),
            "om1_account": account_id("om_1", 0)}


# --------------------------------------------------------------------------
# Provider webhooks
# --------------------------------------------------------------------------
def compact(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def write_hook(path, body, headers):
    write(path, body)
    base = path[:-len(".json")] if path.endswith(".json") else path
    write(base + ".headers.json", json.dumps(headers, indent=2) + "\n")


T_EPOCH = 1740933909          # 2025-03-02T16:45:09Z

GH_REPO = {
    "id": 871234567, "node_id": "R_kgDOM-Bhxw", "name": "hookgate-demo",
    "full_name": "octo-org/hookgate-demo", "private": True,
    "owner": {"name": "octo-org", "email": None, "login": "octo-org", "id": 98765432,
              "node_id": "O_kgDOBeL0eA", "avatar_url": "https://avatars.githubusercontent.com/u/98765432?v=4",
              "gravatar_id": "", "url": "https://api.github.com/users/octo-org",
              "html_url": "https://github.com/octo-org", "type": "Organization",
              "user_view_type": "public", "site_admin": False},
    "html_url": "https://github.com/octo-org/hookgate-demo", "description": "Demo repository",
    "fork": False, "url": "https://api.github.com/repos/octo-org/hookgate-demo",
    "created_at": 1735689600, "updated_at": "2025-03-02T16:40:00Z", "pushed_at": T_EPOCH,
    "git_url": "git://github.com/octo-org/hookgate-demo.git",
    "ssh_url": "git@github.com:octo-org/hookgate-demo.git",
    "clone_url": "https://github.com/octo-org/hookgate-demo.git",
    "homepage": None, "size": 42, "stargazers_count": 3, "watchers_count": 3,
    "language": "Rust", "has_issues": True, "has_projects": False, "has_downloads": True,
    "has_wiki": False, "has_pages": False, "has_discussions": False, "forks_count": 0,
    "archived": False, "disabled": False, "open_issues_count": 1, "license": None,
    "allow_forking": False, "is_template": False, "topics": [], "visibility": "private",
    "forks": 0, "open_issues": 1, "watchers": 3, "default_branch": "main",
    "stargazers": 3, "master_branch": "main", "organization": "octo-org",
}
GH_SENDER = {"login": "octocat", "id": 583231, "node_id": "MDQ6VXNlcjU4MzIzMQ==",
             "avatar_url": "https://avatars.githubusercontent.com/u/583231?v=4",
             "gravatar_id": "", "url": "https://api.github.com/users/octocat",
             "html_url": "https://github.com/octocat", "type": "User",
             "user_view_type": "public", "site_admin": False}
GH_HOOK_ID = 531234567


def gen_github():
    before = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
    after = "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c"
    commit = {
        "id": after, "tree_id": "f9d2a07e9488b91af2641b26b9407fe22a451433",
        "distinct": True, "message": "Add Salesforce outbound fixtures",
        "timestamp": "2025-03-02T17:45:05+01:00",
        "url": "https://github.com/octo-org/hookgate-demo/commit/" + after,
        "author": {"name": "The Octocat", "email": "octocat@github.com", "username": "octocat"},
        "committer": {"name": "GitHub", "email": "noreply@github.com", "username": "web-flow"},
        "added": ["fixtures/salesforce/om_1.xml"], "removed": [], "modified": ["README.md"],
    }
    push = {
        "ref": "refs/heads/main", "before": before, "after": after,
        "repository": GH_REPO,
        "pusher": {"name": "octocat", "email": "octocat@github.com"},
        "organization": {"login": "octo-org", "id": 98765432, "node_id": "O_kgDOBeL0eA",
                         "url": "https://api.github.com/orgs/octo-org",
                         "repos_url": "https://api.github.com/orgs/octo-org/repos",
                         "hooks_url": "https://api.github.com/orgs/octo-org/hooks",
                         "avatar_url": "https://avatars.githubusercontent.com/u/98765432?v=4",
                         "description": None},
        "sender": GH_SENDER,
        "created": False, "deleted": False, "forced": False, "base_ref": None,
        "compare": "https://github.com/octo-org/hookgate-demo/compare/%s...%s" % (before[:12], after[:12]),
        "commits": [commit], "head_commit": commit,
    }
    common = {"Accept": "*/*", "Content-Type": "application/json",
              "User-Agent": "GitHub-Hookshot/abc123",
              "X-GitHub-Hook-ID": str(GH_HOOK_ID),
              "X-GitHub-Hook-Installation-Target-ID": str(GH_REPO["id"]),
              "X-GitHub-Hook-Installation-Target-Type": "repository"}
    write_hook("github/push.json", compact(push),
               dict(common, **{"X-GitHub-Event": "push",
                               "X-GitHub-Delivery": "7f5b3c2e-f7a1-11ef-8b4a-3c8a1d2e9f01"}))
    ping = {
        "zen": "Design for failure.", "hook_id": GH_HOOK_ID,
        "hook": {"type": "Repository", "id": GH_HOOK_ID, "name": "web", "active": True,
                 "events": ["push", "pull_request"],
                 "config": {"content_type": "json", "insecure_ssl": "0",
                            "url": "https://hooks.example.com/hooks/github"},
                 "updated_at": "2025-03-02T16:44:58Z", "created_at": "2025-03-02T16:44:58Z",
                 "url": "https://api.github.com/repos/octo-org/hookgate-demo/hooks/%d" % GH_HOOK_ID,
                 "test_url": "https://api.github.com/repos/octo-org/hookgate-demo/hooks/%d/test" % GH_HOOK_ID,
                 "ping_url": "https://api.github.com/repos/octo-org/hookgate-demo/hooks/%d/pings" % GH_HOOK_ID,
                 "deliveries_url": "https://api.github.com/repos/octo-org/hookgate-demo/hooks/%d/deliveries" % GH_HOOK_ID,
                 "last_response": {"code": None, "status": "unused", "message": None}},
        "repository": dict(GH_REPO, pushed_at="2025-03-02T16:40:00Z", created_at="2025-01-01T00:00:00Z"),
        "sender": GH_SENDER,
    }
    write_hook("github/ping.json", compact(ping),
               dict(common, **{"X-GitHub-Event": "ping",
                               "X-GitHub-Delivery": "6a0e1f40-f7a1-11ef-9d3c-0b7e5a4c2d18"}))


def gen_stripe():
    inv = {
        "id": "in_1QxYzAB2cDeFgHiJ3kLmNoPq", "object": "invoice",
        "account_country": "US", "account_name": "Hookgate Demo Inc.", "account_tax_ids": None,
        "amount_due": 12000, "amount_paid": 12000, "amount_remaining": 0, "amount_shipping": 0,
        "application": None, "application_fee_amount": None, "attempt_count": 1, "attempted": True,
        "auto_advance": False, "automatic_tax": {"disabled_reason": None, "enabled": False,
                                                 "liability": None, "status": None},
        "billing_reason": "subscription_cycle", "charge": "ch_3QxYzAB2cDeFgHiJ0aBcDeFg",
        "collection_method": "charge_automatically", "created": T_EPOCH - 3600,
        "currency": "usd", "custom_fields": None, "customer": "cus_RqP4sT5uV6wX7y",
        "customer_address": None, "customer_email": "billing@acme.example.com",
        "customer_name": "Acme Corporation", "customer_phone": None,
        "customer_shipping": None, "customer_tax_exempt": "none", "customer_tax_ids": [],
        "default_payment_method": None, "default_source": None, "default_tax_rates": [],
        "description": None, "discount": None, "discounts": [], "due_date": None,
        "effective_at": T_EPOCH - 3600, "ending_balance": 0, "footer": None,
        "from_invoice": None,
        "hosted_invoice_url": "https://invoice.stripe.com/i/acct_1Qabc2DEFghiJKLm/test_YWNjdF8xUWFiYzJERUZnaGlKS0xtLF9SdlFQc1Q1dVY2d1g3eSwxMzAwMDAwMDA0",
        "invoice_pdf": "https://pay.stripe.com/invoice/acct_1Qabc2DEFghiJKLm/test_YWNjdF8xUWFiYzJERUZnaGlKS0xtLF9SdlFQc1Q1dVY2d1g3eSwxMzAwMDAwMDA0/pdf?s=ap",
        "issuer": {"type": "self"}, "last_finalization_error": None, "latest_revision": None,
        "lines": {"object": "list", "data": [{
            "id": "il_1QxYzAB2cDeFgHiJ7rStUvWx", "object": "line_item", "amount": 12000,
            "amount_excluding_tax": 12000, "currency": "usd",
            "description": "1 \u00d7 Hookgate Pro (at $120.00 / month)",
            "discount_amounts": [], "discountable": True, "discounts": [],
            "invoice": "in_1QxYzAB2cDeFgHiJ3kLmNoPq", "livemode": False, "metadata": {},
            "period": {"end": T_EPOCH + 2419200, "start": T_EPOCH},
            "plan": {"id": "price_1QabcDEFghiJKLmnOPqrStUv", "object": "plan", "active": True,
                     "amount": 12000, "currency": "usd", "interval": "month",
                     "interval_count": 1, "product": "prod_RqAbCdEfGhIjKl"},
            "price": {"id": "price_1QabcDEFghiJKLmnOPqrStUv", "object": "price", "active": True,
                      "currency": "usd", "product": "prod_RqAbCdEfGhIjKl",
                      "recurring": {"interval": "month", "interval_count": 1},
                      "type": "recurring", "unit_amount": 12000},
            "proration": False, "quantity": 1,
            "subscription": "sub_1QxYzAB2cDeFgHiJkLmNoPqR", "type": "subscription"}],
            "has_more": False, "total_count": 1,
            "url": "/v1/invoices/in_1QxYzAB2cDeFgHiJ3kLmNoPq/lines"},
        "livemode": False, "metadata": {}, "next_payment_attempt": None,
        "number": "A1B2C3D4-0007", "on_behalf_of": None, "paid": True, "paid_out_of_band": False,
        "payment_intent": "pi_3QxYzAB2cDeFgHiJ0sTuVwXy",
        "payment_settings": {"default_mandate": None, "payment_method_options": None,
                             "payment_method_types": None},
        "period_end": T_EPOCH - 3600, "period_start": T_EPOCH - 3600 - 2419200,
        "post_payment_credit_notes_amount": 0, "pre_payment_credit_notes_amount": 0,
        "receipt_number": None, "shipping_cost": None, "shipping_details": None,
        "starting_balance": 0, "statement_descriptor": None, "status": "paid",
        "status_transitions": {"finalized_at": T_EPOCH - 60, "marked_uncollectible_at": None,
                               "paid_at": T_EPOCH - 5, "voided_at": None},
        "subscription": "sub_1QxYzAB2cDeFgHiJkLmNoPqR", "subtotal": 12000,
        "subtotal_excluding_tax": 12000, "tax": None, "test_clock": None, "total": 12000,
        "total_discount_amounts": [], "total_excluding_tax": 12000, "total_tax_amounts": [],
        "webhooks_delivered_at": T_EPOCH - 3590,
    }
    event = {"id": "evt_1QxYzBB2cDeFgHiJa1B2c3D4", "object": "event",
             "api_version": "2025-01-27.acacia", "created": T_EPOCH,
             "data": {"object": inv}, "livemode": False, "pending_webhooks": 1,
             "request": {"id": None, "idempotency_key": None}, "type": "invoice.paid"}
    # Stripe sends pretty-printed JSON (2-space indent).
    write_hook("stripe/invoice.paid.json", json.dumps(event, indent=2, ensure_ascii=False),
               {"Accept": "*/*; q=0.5, application/xml", "Cache-Control": "no-cache",
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)"})


def gen_slack():
    headers = {"Accept": "*/*", "Accept-Encoding": "gzip,deflate",
               "Content-Type": "application/json",
               "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)"}
    mention = {
        "token": "ZZZZZZWSxiZZZ2yIvs3peJ", "team_id": "T061EG9R6", "context_team_id": "T061EG9R6",
        "context_enterprise_id": None, "api_app_id": "A0MDYCDME",
        "event": {"user": "U061F7AUR", "type": "app_mention", "ts": "1740933909.000200",
                  "client_msg_id": "c2b1e3f4-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
                  "text": "<@U0LAN0Z89> is the gateway up? \u2705",
                  "team": "T061EG9R6",
                  "blocks": [{"type": "rich_text", "block_id": "Xq2Lm",
                              "elements": [{"type": "rich_text_section", "elements": [
                                  {"type": "user", "user_id": "U0LAN0Z89"},
                                  {"type": "text", "text": " is the gateway up? "},
                                  {"type": "emoji", "name": "white_check_mark", "unicode": "2705"}]}]}],
                  "channel": "C0LAN2Q65", "event_ts": "1740933909.000200"},
        "type": "event_callback", "event_id": "Ev08F7QK1ZPX", "event_time": T_EPOCH,
        "authorizations": [{"enterprise_id": None, "team_id": "T061EG9R6", "user_id": "U0LAN0Z89",
                            "is_bot": True, "is_enterprise_install": False}],
        "is_ext_shared_channel": False,
        "event_context": "4-eyJldCI6ImFwcF9tZW50aW9uIiwidGlkIjoiVDA2MUVHOVI2IiwiYWlkIjoiQTBNRFlDRE1FIiwiY2lkIjoiQzBMQU4yUTY1In0",
    }
    # Slack escapes '/' as '\/' in its JSON; keep it simple (no '/' in strings here).
    write_hook("slack/app_mention.json", compact(mention), headers)
    write_hook("slack/url_verification.json",
               compact({"token": "Jhj5dZrVaK7ZwHHjRyZWjbDl",
                        "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
                        "type": "url_verification"}), headers)


def gen_shopify():
    addr = {"first_name": "Jos\u00e9", "address1": "123 Market Street", "phone": "+14155550123",
            "city": "San Francisco", "zip": "94103", "province": "California",
            "country": "United States", "last_name": "Garc\u00eda", "address2": "Suite 400",
            "company": "Acme Corporation", "latitude": 37.7749, "longitude": -122.4194,
            "name": "Jos\u00e9 Garc\u00eda", "country_code": "US", "province_code": "CA"}
    money = lambda a: {"shop_money": {"amount": a, "currency_code": "USD"},
                       "presentment_money": {"amount": a, "currency_code": "USD"}}
    order = {
        "id": 5826470363407, "admin_graphql_api_id": "gid://shopify/Order/5826470363407",
        "app_id": 580111, "browser_ip": "203.0.113.45", "buyer_accepts_marketing": False,
        "cancel_reason": None, "cancelled_at": None, "cart_token": None,
        "checkout_id": 36981234567215, "checkout_token": "7c9a8f5e3b2d41a0b6e4c1d2f3a4b5c6",
        "client_details": {"accept_language": "en-US", "browser_height": None,
                           "browser_ip": "203.0.113.45", "browser_width": None,
                           "session_hash": None,
                           "user_agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7)"},
        "closed_at": None, "confirmation_number": "K7XQ2PZ9M", "confirmed": True,
        "contact_email": "jose.garcia@example.com", "created_at": "2025-03-02T11:45:07-05:00",
        "currency": "USD", "current_subtotal_price": "199.00",
        "current_total_discounts": "0.00", "current_total_price": "215.42",
        "current_total_tax": "16.42", "customer_locale": "en", "discount_codes": [],
        "email": "jose.garcia@example.com", "estimated_taxes": False,
        "financial_status": "paid", "fulfillment_status": None,
        "landing_site": "/", "name": "#1001", "note": None, "note_attributes": [],
        "number": 1, "order_number": 1001,
        "order_status_url": "https://hookgate-demo.myshopify.com/68123456789/orders/7c9a8f5e3b2d41a0b6e4c1d2f3a4b5c6/authenticate?key=0f1e2d3c4b5a69788796a5b4c3d2e1f0",
        "payment_gateway_names": ["shopify_payments"], "phone": None,
        "presentment_currency": "USD", "processed_at": "2025-03-02T11:45:06-05:00",
        "source_name": "web", "subtotal_price": "199.00", "subtotal_price_set": money("199.00"),
        "tags": "", "taxes_included": False, "test": False,
        "token": "7c9a8f5e3b2d41a0b6e4c1d2f3a4b5c6", "total_discounts": "0.00",
        "total_line_items_price": "199.00", "total_outstanding": "0.00",
        "total_price": "215.42", "total_price_set": money("215.42"), "total_tax": "16.42",
        "total_weight": 1200, "updated_at": "2025-03-02T11:45:08-05:00", "user_id": None,
        "billing_address": addr,
        "customer": {"id": 7412345678901, "email": "jose.garcia@example.com",
                     "created_at": "2025-02-14T09:12:33-05:00",
                     "updated_at": "2025-03-02T11:45:07-05:00", "first_name": "Jos\u00e9",
                     "last_name": "Garc\u00eda", "state": "enabled", "note": None,
                     "verified_email": True, "multipass_identifier": None, "tax_exempt": False,
                     "phone": None, "currency": "USD", "tags": "",
                     "admin_graphql_api_id": "gid://shopify/Customer/7412345678901"},
        "line_items": [{
            "id": 14523456789012, "admin_graphql_api_id": "gid://shopify/LineItem/14523456789012",
            "fulfillable_quantity": 1, "fulfillment_service": "manual",
            "fulfillment_status": None, "gift_card": False, "grams": 1200,
            "name": "Webhook Gateway Appliance - Black", "price": "199.00",
            "price_set": money("199.00"), "product_exists": True, "product_id": 8123456789012,
            "properties": [], "quantity": 1, "requires_shipping": True, "sku": "HG-APPL-BLK",
            "taxable": True, "title": "Webhook Gateway Appliance", "total_discount": "0.00",
            "variant_id": 45123456789012, "variant_title": "Black", "vendor": "Hookgate",
            "tax_lines": [{"price": "16.42", "rate": 0.0825, "title": "CA State Tax",
                           "price_set": money("16.42")}]}],
        "shipping_address": addr,
        "shipping_lines": [{"id": 4812345678901, "code": "Standard", "price": "0.00",
                            "source": "shopify", "title": "Standard Shipping"}],
    }
    write_hook("shopify/orders_create.json", compact(order), {
        "Accept": "*/*", "Content-Type": "application/json",
        "User-Agent": "Shopify-Captain-Hook",
        "X-Shopify-API-Version": "2025-01",
        "X-Shopify-Event-Id": "98880550-7158-44d4-b7cd-2c97c8a091b5",
        "X-Shopify-Shop-Domain": "hookgate-demo.myshopify.com",
        "X-Shopify-Topic": "orders/create",
        "X-Shopify-Triggered-At": "2025-03-02T16:45:08.912345678Z",
        "X-Shopify-Webhook-Id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"})


def gen_standard():
    body = {"type": "invoice.created", "timestamp": "2025-03-02T16:45:09.000Z",
            "data": {"id": "inv_2tXq9Lk3Vb7Rm1Pz", "customer_id": "cus_2tXq8Hn5Jd2Ws4Qa",
                     "amount": 12000, "currency": "USD", "status": "open",
                     "due_date": "2025-04-01", "lines": [{"description": "Hookgate Pro",
                                                        "quantity": 1, "unit_amount": 12000}]}}
    write_hook("standard_webhooks/invoice.created.json", compact(body),
               {"Content-Type": "application/json",
                "webhook-id": "msg_2tXq9NfH0oZ3yW8kR5cV1bJ7aLp"})


def gen_generic():
    body = {"event": "order.shipped", "id": "evt_01JNDK7Z6Q4W3R8T2Y5U9P0M1N",
            "occurred_at": "2025-03-02T16:45:09Z",
            "order": {"id": "ord_10042", "customer_id": "cust_7781", "carrier": "UPS",
                      "tracking_number": "1Z999AA10123456784",
                      "items": [{"sku": "HG-APPL-BLK", "quantity": 1},
                                {"sku": "HG-CABLE-2M", "quantity": 2}]}}
    write_hook("generic/order.json", compact(body),
               {"Content-Type": "application/json",
                "X-Event-Type": "order.shipped",
                "X-Request-Id": "0b6f2c9e-3d4a-4e1b-9f8c-7a5d2e1c0b93"})


def gen_abuse():
    write("json_abuse/nested_100k.json", "[" * 100_000 + "]" * 100_000)
    write("json_abuse/invalid_utf8.json",
          b'{"event":"order.shipped","name":"bad \xff\xfe bytes \xc3\x28 here","id":1}')
    write("json_abuse/not_json.txt",
          "This is not JSON.\nJust some plain text a misconfigured sender might post.\n")


if __name__ == "__main__":
    ids = gen_salesforce()
    gen_github()
    gen_stripe()
    gen_slack()
    gen_shopify()
    gen_standard()
    gen_generic()
    gen_abuse()
    for k, v in ids.items():
        print("%-18s %s" % (k, v))
