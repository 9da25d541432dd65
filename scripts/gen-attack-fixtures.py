#!/usr/bin/env python3
"""Regenerate the XML attack corpus under fixtures/attacks/ (deterministic).

Usage:
  python3 scripts/gen-attack-fixtures.py            # the committed corpus
  python3 scripts/gen-attack-fixtures.py --big DIR  # also the big cases, into DIR

Every case is the valid Outbound Message fixtures/salesforce/om_1.xml with one
attack spliced in, so that the attack, not a missing element, is what a parser
meets first. Each file carries the marker `hookgate-attack-canary` (and a
case-specific string) that a reply must never echo. URLs point at
127.0.0.1:47; the test rewrites that address to a listener of its own and
checks nothing ever connects to it.

The big cases (1 MiB attribute, 100,000 attributes, 50,000 namespace
declarations, one byte over the 4 MiB cap) are built in memory by
tests/it/attacks.rs with the same recipes (see `big_cases` below) rather than
committed; `--big DIR` writes them for manual runs with scripts/send-fixture.sh.
"""
import os
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "fixtures", "attacks")
CANARY = "hookgate-attack-canary"
ATTACK_NS = "urn:hookgate:attack"
CAP = 4 * 1024 * 1024  # default Salesforce body cap

with open(os.path.join(ROOT, "fixtures", "salesforce", "om_1.xml"), "rb") as f:
    OM1 = f.read().decode("utf-8")

DECL = '<?xml version="1.0" encoding="UTF-8"?>\n'
assert OM1.startswith(DECL)
BODY = OM1[len(DECL):]
SOBJECT_OPEN = '<sObject xsi:type="sf:Account" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">'
NAME = "<sf:Name>Acme Corporation</sf:Name>"
assert SOBJECT_OPEN in OM1 and NAME in OM1


def with_doctype(doctype, name_value):
    """om_1 with a DOCTYPE before the root and the Account Name replaced."""
    return (DECL + doctype + "\n" + BODY.replace(NAME, "<sf:Name>%s</sf:Name>" % name_value)).encode()


def in_sobject(markup):
    """om_1 with `markup` as the first child of sObject."""
    return OM1.replace(SOBJECT_OPEN, SOBJECT_OPEN + markup, 1).encode()


def sobject_attrs(attrs):
    """om_1 with extra attributes on the sObject start tag."""
    tag = SOBJECT_OPEN[:-1] + attrs + ">"
    return OM1.replace(SOBJECT_OPEN, tag, 1).encode()


def small_cases():
    cases = {}
    # Billion laughs: 10 levels of 10 references, 10^9 "lol"s if expanded.
    ents = ['<!ENTITY lol0 "%s-lol">' % CANARY]
    for i in range(1, 10):
        ents.append('<!ENTITY lol%d "%s">' % (i, ("&lol%d;" % (i - 1)) * 10))
    cases["billion_laughs.xml"] = with_doctype(
        "<!DOCTYPE soapenv:Envelope [\n " + "\n ".join(ents) + "\n]>", "&lol9;")
    # Quadratic blowup: one 50,000-character entity referenced 20,000 times
    # (1 GB if expanded) without nesting, which defeats depth-only guards.
    big = CANARY + "-quadratic-" + "x" * (50000 - len(CANARY) - 11)
    cases["quadratic_blowup.xml"] = with_doctype(
        '<!DOCTYPE soapenv:Envelope [<!ENTITY a "%s">]>' % big, "&a;" * 20000)
    # External entities: a local file and a URL.
    cases["xxe_local_file.xml"] = with_doctype(
        '<!DOCTYPE soapenv:Envelope [<!ENTITY xxe SYSTEM "file:///etc/passwd"><!ENTITY c "%s">]>' % CANARY,
        "&c;&xxe;")
    cases["xxe_url.xml"] = with_doctype(
        '<!DOCTYPE soapenv:Envelope [<!ENTITY xxe SYSTEM "http://127.0.0.1:47/%s-xxe"><!ENTITY c "%s">]>'
        % (CANARY, CANARY),
        "&c;&xxe;")
    # External DTD (and a parameter entity pulling in more).
    cases["external_dtd.xml"] = with_doctype(
        '<!DOCTYPE soapenv:Envelope SYSTEM "http://127.0.0.1:47/%s-evil.dtd" '
        '[<!ENTITY %% remote SYSTEM "http://127.0.0.1:47/%s-param.dtd"> %%remote;]>' % (CANARY, CANARY),
        "Acme Corporation")
    # 10,000 nested elements of a foreign namespace inside the sObject
    # (a namespace the parser skips over, so only the depth bound stops it).
    depth = 10000
    cases["deep_nesting_10k.xml"] = in_sobject(
        '<a:n xmlns:a="%s" a:c="%s">' % (ATTACK_NS, CANARY) + "<a:n>" * (depth - 1) + "</a:n>" * depth)
    # Invalid UTF-8 inside a text value (a lone 0xFF 0xFE and a bad 2-byte sequence).
    cases["invalid_utf8.xml"] = OM1.encode().replace(
        b"<sf:Name>Acme Corporation</sf:Name>",
        b"<sf:Name>" + CANARY.encode() + b" \xff\xfe \xc3\x28</sf:Name>")
    # Truncated inside the sObject.
    full = BODY.replace(NAME, "<sf:Name>%s-truncated Corporation</sf:Name>" % CANARY)
    cut = full.index("%s-truncated Corp" % CANARY) + len("%s-truncated Corp" % CANARY)
    cases["truncated.xml"] = (DECL + full[:cut]).encode()
    return cases


def big_cases():
    """Recipes shared with tests/it/attacks.rs (keep them in step)."""
    cases = {}
    # One attribute value of 1 MiB (route cap raised to 4 MiB for it).
    value = (CANARY + "-attr-").ljust(1024 * 1024, "A")
    cases["attr_1mib.xml"] = sobject_attrs(' xmlns:a="%s" a:blob="%s"' % (ATTACK_NS, value))
    # 100,000 attributes on one element.
    cases["attrs_100k.xml"] = sobject_attrs(
        ' xmlns:a="%s" a:c="%s"' % (ATTACK_NS, CANARY) + "".join(' a:k%d="v"' % i for i in range(100000)))
    # 50,000 namespace declarations on one element.
    cases["ns_50k.xml"] = sobject_attrs(
        ' xmlns:c="%s:%s"' % (ATTACK_NS, CANARY) + "".join(' xmlns:p%d="urn:a%d"' % (i, i) for i in range(50000)))
    # A valid message padded with a comment to one byte over the cap.
    head = OM1.encode()
    pad = CAP + 1 - len(head) - len("<!--  -->\n") - len(CANARY)
    cases["over_cap.xml"] = head + ("<!-- %s%s -->\n" % (CANARY, "p" * pad)).encode()
    assert len(cases["over_cap.xml"]) == CAP + 1
    return cases


def write(directory, cases):
    os.makedirs(directory, exist_ok=True)
    for name, data in sorted(cases.items()):
        assert len(data) < 2 * 1024 * 1024, name
        with open(os.path.join(directory, name), "wb") as f:
            f.write(data)
        print("%-24s %9d bytes" % (name, len(data)))


def main():
    write(OUT, small_cases())
    if len(sys.argv) == 3 and sys.argv[1] == "--big":
        write(sys.argv[2], big_cases())
    elif len(sys.argv) != 1:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
