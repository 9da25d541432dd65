//! RFC 4514 parsing and structural matching of distinguished names.

use x509_parser::asn1_rs::FromDer as _;

use super::*;

fn dn(text: &str) -> Dn {
    match Dn::parse(text) {
        Ok(d) => d,
        Err(e) => panic!("{text:?}: {e}"),
    }
}

fn err(text: &str) -> Error {
    match Dn::parse(text) {
        Ok(d) => panic!("{text:?} parsed as {d:?}"),
        Err(e) => e,
    }
}

fn text(oid: &str, value: &str) -> Attribute {
    Attribute {
        oid: oid.into(),
        value: Value::Text(value.into()),
    }
}

// === parsing ===

#[test]
fn types_are_case_insensitive_and_spaces_around_separators_are_allowed() {
    let want = Dn(vec![
        vec![text("2.5.4.3", "a b")],
        vec![text("2.5.4.10", "o")],
    ]);
    for t in [
        "CN=a b,O=o",
        "cn=a b,o=o",
        "Cn = a b , O = o",
        "  CN=a b,   O=o   ",
        "2.5.4.3=a b,2.5.4.10=o",
    ] {
        assert_eq!(dn(t), want, "{t}");
    }
}

#[test]
fn every_short_name_has_its_oid() {
    for (name, oid) in [
        ("CN", "2.5.4.3"),
        ("L", "2.5.4.7"),
        ("ST", "2.5.4.8"),
        ("O", "2.5.4.10"),
        ("OU", "2.5.4.11"),
        ("C", "2.5.4.6"),
        ("STREET", "2.5.4.9"),
        ("DC", "0.9.2342.19200300.100.1.25"),
        ("UID", "0.9.2342.19200300.100.1.1"),
        ("emailAddress", "1.2.840.113549.1.9.1"),
        ("EMAILADDRESS", "1.2.840.113549.1.9.1"),
        ("serialNumber", "2.5.4.5"),
    ] {
        assert_eq!(dn(&format!("{name}=v")), Dn(vec![vec![text(oid, "v")]]));
    }
}

#[test]
fn escapes_give_the_character_or_the_byte() {
    for (t, value) in [
        (r"CN=salesforce.com\, inc.", "salesforce.com, inc."),
        (r"CN=salesforce.com\2C inc.", "salesforce.com, inc."),
        (r"CN=salesforce.com\2c inc.", "salesforce.com, inc."),
        (r"CN=a\+b", "a+b"),
        (
            r#"CN=James \"Jim\" Smith\, III"#,
            r#"James "Jim" Smith, III"#,
        ),
        (r"CN=back\\slash", r"back\slash"),
        (r"CN=\;\<\>\=", ";<>="),
        (r"CN=\#hash", "#hash"),
        ("CN=a#b=c", "a#b=c"),
        (r"CN=\ lead", " lead"),
        (r"CN=trail\ ", "trail "),
        (r"CN=trail\20", "trail "),
        ("CN=trail   ", "trail"),
        (r"CN=Before\0dAfter", "Before\rAfter"),
        (r"CN=Lu\C4\8Di\C4\87", "Lučić"),
        ("CN=Lučić", "Lučić"),
    ] {
        assert_eq!(dn(t), Dn(vec![vec![text("2.5.4.3", value)]]), "{t}");
    }
    // The same value under O.
    assert_eq!(
        dn(r"O=salesforce.com\, inc."),
        Dn(vec![vec![text("2.5.4.10", "salesforce.com, inc.")]])
    );
}

#[test]
fn plus_makes_a_multi_valued_rdn_in_any_order() {
    let a = dn("OU=Sales+CN=J.  Smith,DC=example,DC=net");
    let b = dn("CN=J.  Smith + OU=Sales,DC=example,DC=net");
    assert_eq!(a, b);
    assert_eq!(a.0.len(), 3);
    assert_eq!(a.0[0].len(), 2);
    assert_ne!(a, dn("OU=Sales,CN=J.  Smith,DC=example,DC=net"));
}

#[test]
fn hex_values_are_one_der_element() {
    // UTF8String "a" and PrintableString "a" are the text "a".
    assert_eq!(dn("CN=#0C0161"), dn("CN=a"));
    assert_eq!(dn("CN=#130161 ,O=o"), dn("CN=a,O=o"));
    // An OCTET STRING stays DER.
    assert_eq!(
        dn("1.3.6.1.4.1.1466.0=#04024869"),
        Dn(vec![vec![Attribute {
            oid: "1.3.6.1.4.1.1466.0".into(),
            value: Value::Der {
                class: 0,
                constructed: false,
                tag: 4,
                content: b"Hi".to_vec(),
            },
        }]])
    );
}

#[test]
fn malformed_rules_are_refused_with_the_place() {
    for (t, e) in [
        ("", Error::Empty),
        ("   ", Error::Empty),
        ("CN", Error::Equals(2)),
        ("CN a", Error::Equals(3)),
        ("=x", Error::Type(0)),
        ("CN=a,", Error::Type(5)),
        ("CN=a,,O=b", Error::Type(5)),
        ("CN=a+", Error::Type(5)),
        ("XX=y", Error::UnknownType(0, "XX".into())),
        ("1=x", Error::Oid(0, "1".into())),
        ("01.2=x", Error::Oid(0, "01.2".into())),
        ("1..2=x", Error::Oid(0, "1..2".into())),
        ("1.2.=x", Error::Oid(0, "1.2.".into())),
        ("C.N=x", Error::Type(0)),
        ("CN=", Error::EmptyValue(3)),
        ("CN=   ,O=b", Error::EmptyValue(6)),
        ("CN=a\\", Error::Escape(4)),
        ("CN=a\\q", Error::Escape(4)),
        ("CN=a\\4", Error::Escape(4)),
        ("CN=a;O=b", Error::Unescaped(4, ';')),
        ("CN=a\"b", Error::Unescaped(4, '"')),
        ("CN=a<b", Error::Unescaped(4, '<')),
        ("CN=a>b", Error::Unescaped(4, '>')),
        ("CN=a\0b", Error::Unescaped(4, '\0')),
        ("CN=\\ff", Error::Utf8(6)),
        ("CN=#", Error::Hex(3)),
        ("CN=#0C01", Error::Hex(3)),
        ("CN=#0C016", Error::Hex(3)),
        ("CN=#0C0161zz", Error::Hex(3)),
        ("CN=#0C016100", Error::Hex(3)),
        // Unescaped commas split: "inc." has no "=".
        ("O=salesforce.com, inc.", Error::Type(18)),
    ] {
        assert_eq!(err(t), e, "{t:?}");
    }
    // Messages name the place, never panic on odd input.
    assert!(err("CN=a;").to_string().contains("at byte 4"));
    for t in ["\\", "+", ",", "#", "=", "CN=\\", "CN=#", "é=x", "CN=\u{0}"] {
        let _ = Dn::parse(t);
    }
}

// === matching ===

#[test]
fn full_names_match_in_written_or_reversed_order_only() {
    let rfc =
        dn(r"CN=proxy.salesforce.com,O=salesforce.com\, inc.,L=San Francisco,ST=California,C=US");
    let cert =
        dn(r"C=US,ST=California,L=San Francisco,O=salesforce.com\, inc.,CN=proxy.salesforce.com");
    assert!(rfc.matches(&cert));
    assert!(cert.matches(&cert));
    assert!(cert.matches(&rfc));
    for other in [
        r"C=US,ST=California,L=Oakland,O=salesforce.com\, inc.,CN=proxy.salesforce.com",
        r"C=US,ST=California,L=San Francisco,O=salesforce.com\, inc,CN=proxy.salesforce.com",
        r"C=US,ST=California,L=San Francisco,O=Salesforce.com\, Inc.,CN=proxy.salesforce.com",
        r"C=US,ST=California,L=San Francisco,O=salesforce.com\, inc.",
        r"C=US,ST=California,L=San Francisco,O=salesforce.com\, inc.,CN=proxy.salesforce.com,OU=x",
        r"C=US,L=San Francisco,ST=California,O=salesforce.com\, inc.,CN=proxy.salesforce.com",
        r"C=US,ST=California,L=San Francisco,O=salesforce.com\, inc.+CN=proxy.salesforce.com",
        r"C=US,ST=California,L=San Francisco,OU=salesforce.com\, inc.,CN=proxy.salesforce.com",
    ] {
        assert!(!rfc.matches(&dn(other)), "{other}");
    }
    assert!(!Dn::default().matches(&Dn::default()));
}

#[test]
fn common_name_only_is_a_single_cn_attribute() {
    assert_eq!(dn("CN=sf-client-a").common_name_only(), Some("sf-client-a"));
    assert_eq!(dn("cn = sf\\,a ").common_name_only(), Some("sf,a"));
    assert_eq!(dn("CN=a,O=b").common_name_only(), None);
    assert_eq!(dn("CN=a+OU=b").common_name_only(), None);
    assert_eq!(dn("O=a").common_name_only(), None);
    assert_eq!(dn("CN=#04024869").common_name_only(), None);
}

// === certificates ===

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    assert!(content.len() < 128);
    let mut v = vec![tag, content.len() as u8];
    v.extend_from_slice(content);
    v
}

fn atv(oid_der: &[u8], value_tag: u8, value: &[u8]) -> Vec<u8> {
    tlv(0x30, &[tlv(0x06, oid_der), tlv(value_tag, value)].concat())
}

/// `OU=Sales+CN=J. Smith` (one RDN), `DC=example` (IA5String), and a
/// BMPString `O`, as a certificate encodes them.
#[test]
fn certificate_names_keep_multi_valued_rdns_and_string_types() {
    const OU: &[u8] = &[0x55, 0x04, 0x0b];
    const CN: &[u8] = &[0x55, 0x04, 0x03];
    const O: &[u8] = &[0x55, 0x04, 0x0a];
    const DC: &[u8] = &[0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19];
    let name = tlv(
        0x30,
        &[
            tlv(0x31, &[atv(DC, 0x16, b"example")].concat()),
            tlv(0x31, &[atv(O, 0x1e, &[0, b'O'])].concat()),
            tlv(
                0x31,
                &[atv(OU, 0x13, b"Sales"), atv(CN, 0x0c, b"J. Smith")].concat(),
            ),
        ]
        .concat(),
    );
    let (_, parsed) = X509Name::from_der(&name).unwrap();
    let cert = Dn::from_x509(&parsed);
    assert!(dn("CN=J. Smith+OU=Sales,O=#1E02004F,DC=example").matches(&cert));
    assert!(dn("DC=example,O=#1E02004F,OU=Sales+CN=J. Smith").matches(&cert));
    // A BMPString is not compared as text.
    assert!(!dn("CN=J. Smith+OU=Sales,O=O,DC=example").matches(&cert));
    assert!(!dn("CN=J. Smith,OU=Sales,O=#1E02004F,DC=example").matches(&cert));
    assert_eq!(cert.common_name_only(), None);
}
