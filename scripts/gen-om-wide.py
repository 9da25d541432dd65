#!/usr/bin/env python3
"""Writes fixtures/salesforce/om_100_wide.xml: the widest Outbound Message the
parser's default limits must accept (issue #15).

Built from the documented wire format (../shared/docs/SALESFORCE.md section 1,
the same shape as om_100.xml): 100 Notifications of one Account Outbound
Message action, each sObject with sf:Id and 149 more fields (150 in all), and
in the first Notification a Long Text Area value of 131,072 characters (the
field type's maximum), made of 3-byte UTF-8 characters and entity references
so the parser's decoded-text count is exercised. Deterministic: running it
again writes the same bytes.

    python3 scripts/gen-om-wide.py
"""
import pathlib

ORG = "00D000000000001EAA"
OUT = pathlib.Path(__file__).resolve().parent.parent / "fixtures/salesforce/om_100_wide.xml"


def to_18(id15: str) -> str:
    """The 18-character form: a 3-character case checksum (SALESFORCE.md section 5)."""
    table = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
    suffix = ""
    for chunk in (id15[0:5], id15[5:10], id15[10:15]):
        bits = sum(1 << k for k, c in enumerate(chunk) if "A" <= c <= "Z")
        suffix += table[bits]
    return id15 + suffix


def notification(i: int) -> str:
    fields = [f"<sf:Id>{to_18(f'001Hs{i:010d}')}</sf:Id>"]
    for f in range(148):
        fields.append(f"<sf:Field_{f:03d}__c>value {i}-{f}</sf:Field_{f:03d}__c>")
    if i == 0:
        # 131,072 characters: 131,062 x U+20AC (3 bytes) + "&lt;&amp;&gt;" style
        # references (each one character once decoded) + plain ASCII.
        text = "\u20ac" * 131_062 + "&lt;&amp;&gt;&quot;&apos;" + "tail!"
        fields.append(f"<sf:Long_Notes__c>{text}</sf:Long_Notes__c>")
    else:
        fields.append("<sf:Long_Notes__c>short</sf:Long_Notes__c>")
    body = "".join(fields)
    return (
        f"<Notification><Id>{to_18(f'04lHs{i:010d}')}</Id>"
        f'<sObject xsi:type="sf:Account" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">'
        f"{body}</sObject></Notification>\n"
    )


def main() -> None:
    head = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n'
        "<soapenv:Body>\n"
        '<notifications xmlns="http://soap.sforce.com/2005/09/outbound">\n'
        f"<OrganizationId>{ORG}</OrganizationId>\n"
        "<ActionId>04kHs000000GmaBIAS</ActionId>\n"
        '<SessionId xsi:nil="true"/>\n'
        "<EnterpriseUrl>https://example.my.salesforce.com/services/Soap/c/62.0/00D000000000001</EnterpriseUrl>\n"
        "<PartnerUrl>https://example.my.salesforce.com/services/Soap/u/62.0/00D000000000001</PartnerUrl>\n"
    )
    tail = "</notifications>\n</soapenv:Body>\n</soapenv:Envelope>\n"
    OUT.write_text(head + "".join(notification(i) for i in range(100)) + tail, encoding="utf-8")


if __name__ == "__main__":
    main()
