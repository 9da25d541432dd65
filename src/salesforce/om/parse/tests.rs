//! Tests for the Outbound Message parser, over the fixtures in
//! `fixtures/salesforce/` and small variations of `om_1.xml`.

use std::collections::BTreeMap;

use super::*;
use crate::salesforce::om::model::Notification;

const OM_1: &str = include_str!("../../../../fixtures/salesforce/om_1.xml");
const OM_3_NIL: &str = include_str!("../../../../fixtures/salesforce/om_3_nil.xml");
const OM_100: &str = include_str!("../../../../fixtures/salesforce/om_100.xml");
const OM_101: &str = include_str!("../../../../fixtures/salesforce/om_101.xml");
const OM_100_WIDE: &[u8] = include_bytes!("../../../../fixtures/salesforce/om_100_wide.xml");
const OM_ZERO: &[u8] = include_bytes!("../../../../fixtures/salesforce/om_zero.xml");
const OM_XXE: &[u8] = include_bytes!("../../../../fixtures/salesforce/om_xxe.xml");
const OM_DOCTYPE: &[u8] = include_bytes!("../../../../fixtures/salesforce/om_doctype_internal.xml");
const OM_WRONG_NS: &[u8] = include_bytes!("../../../../fixtures/salesforce/om_wrong_ns.xml");
const OM_WRONG_ORG: &[u8] = include_bytes!("../../../../fixtures/salesforce/om_wrong_org.xml");
const OM_SOAP12: &[u8] = include_bytes!("../../../../fixtures/salesforce/om_soap12.xml");
const OM_TRUNCATED: &[u8] = include_bytes!("../../../../fixtures/salesforce/om_truncated.xml");
const OM_CONTACT_3: &[u8] = include_bytes!("../../../../fixtures/salesforce/om_contact_3.xml");
const GARBAGE: &[u8] = include_bytes!("../../../../fixtures/salesforce/garbage.bin");

const ORG_ID: &str = "00D000000000001EAA";
const SESSION_ID: &str = "00D000000000001!AQ4AQFakeSessionTokenForTestsOnly";
const NAME_ELEMENT: &str = "<sf:Name>Acme Corporation</sf:Name>";

fn parse_ok(body: &[u8]) -> OutboundMessage {
    match parse(body, Limits::default()) {
        Ok(m) => m,
        Err(e) => panic!("expected a valid message, got {e:?}"),
    }
}

fn parse_err(body: &[u8]) -> Error {
    match parse(body, Limits::default()) {
        Ok(m) => panic!("expected an error, got {m:?}"),
        Err(e) => e,
    }
}

/// `om_1.xml` with `from` (which must occur exactly once) replaced by `to`.
fn om1_with(from: &str, to: &str) -> String {
    assert_eq!(
        OM_1.matches(from).count(),
        1,
        "{from:?} must occur once in om_1.xml"
    );
    OM_1.replacen(from, to, 1)
}

/// `om_1.xml` with the Account Name value replaced by raw XML `value`.
fn om1_with_name(value: &str) -> String {
    om1_with(NAME_ELEMENT, &format!("<sf:Name>{value}</sf:Name>"))
}

/// The Name field of the only Notification of `body`.
fn name_of(body: &str) -> Option<String> {
    let m = parse_ok(body.as_bytes());
    assert_eq!(m.notifications.len(), 1);
    m.notifications[0]
        .fields
        .get("Name")
        .cloned()
        .expect("Name field present")
}

fn field<'a>(n: &'a Notification, name: &str) -> Option<&'a str> {
    n.fields
        .get(name)
        .unwrap_or_else(|| panic!("field {name} absent"))
        .as_deref()
}

// === valid fixtures ===

#[test]
fn om_1_header_values() {
    let m = parse_ok(OM_1.as_bytes());
    assert_eq!(m.organization_id, ORG_ID);
    assert_eq!(m.action_id, "04kHs000000GmaBIAS");
    assert_eq!(m.session_id, None, "<SessionId xsi:nil=\"true\"/> is None");
    assert_eq!(
        m.enterprise_url.as_deref(),
        Some("https://example.my.salesforce.com/services/Soap/c/62.0/00D000000000001")
    );
    assert_eq!(
        m.partner_url.as_deref(),
        Some("https://example.my.salesforce.com/services/Soap/u/62.0/00D000000000001")
    );
    assert_eq!(m.notifications.len(), 1);
}

#[test]
fn om_1_notification_fields_exactly_as_sent() {
    let m = parse_ok(OM_1.as_bytes());
    let n = &m.notifications[0];
    assert_eq!(n.id, "04lHs000000oLkOIAU");
    assert_eq!(n.sobject_type, "Account");
    let expected: BTreeMap<String, Option<String>> = [
        ("Id", "001Hs0000010wBUIAY"),
        ("AnnualRevenue", "120000.0"),
        ("BillingCity", "San Francisco"),
        ("Industry", "Technology"),
        ("IsDeleted", "false"),
        ("LastModifiedDate", "2025-03-02T16:45:09.000Z"),
        ("Name", "Acme Corporation"),
        ("NumberOfEmployees", "250"),
        ("Website", "https://www.acme.example.com"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), Some(v.to_string())))
    .collect();
    assert_eq!(n.fields, expected);
}

#[test]
fn om_3_nil_absent_nil_and_empty_fields() {
    let m = parse_ok(OM_3_NIL.as_bytes());
    assert_eq!(m.organization_id, ORG_ID);
    assert_eq!(m.session_id.as_deref(), Some(SESSION_ID));
    let ids: Vec<&str> = m.notifications.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "04lHs000000oLm0IAE",
            "04lHs000000oLm1IAE",
            "04lHs000000oLm2IAE"
        ]
    );
    assert!(m.notifications.iter().all(|n| n.sobject_type == "Account"));

    // #1: absent fields are not in the map; `&amp;` decoded.
    let n1 = &m.notifications[0];
    for absent in ["AnnualRevenue", "NumberOfEmployees", "Website"] {
        assert!(!n1.fields.contains_key(absent), "{absent} must be absent");
    }
    assert_eq!(field(n1, "Name"), Some("Johnson & Sons"));
    assert_eq!(field(n1, "Id"), Some("001Hs0000010wD6IAI"));
    assert_eq!(n1.fields.len(), 6);

    // #2: xsi:nil is None (present in the map), `&amp;` decoded.
    let n2 = &m.notifications[1];
    assert_eq!(n2.fields.get("Website"), Some(&None));
    assert_eq!(field(n2, "Industry"), Some("Food & Beverage"));
    assert_eq!(field(n2, "AnnualRevenue"), Some("225000.0"));

    // #3: an empty element is the empty string, not null.
    let n3 = &m.notifications[2];
    assert_eq!(n3.fields.get("Industry"), Some(&Some(String::new())));
    assert_eq!(
        field(n3, "Website"),
        Some("https://www.wonkafoods.example.com")
    );
}

#[test]
fn om_100_parses_all_notifications_with_non_ascii() {
    let m = parse_ok(OM_100.as_bytes());
    assert_eq!(m.notifications.len(), 100);
    let ids: std::collections::BTreeSet<&str> =
        m.notifications.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(ids.len(), 100, "notification ids are unique");
    let records: std::collections::BTreeSet<&str> = m
        .notifications
        .iter()
        .map(|n| field(n, "Id").unwrap())
        .collect();
    assert_eq!(records.len(), 100, "Account ids are unique");
    assert_eq!(m.notifications[0].id, "04lHs000000oM0WIAU");
    assert_eq!(m.notifications[1].id, "04lHs000000oM0XIAU");
    assert_eq!(
        field(&m.notifications[1], "Industry"),
        Some("Food & Beverage")
    );
    assert_eq!(field(&m.notifications[2], "BillingCity"), Some("Zürich"));
    let cities: Vec<&str> = m
        .notifications
        .iter()
        .filter_map(|n| n.fields.get("BillingCity")?.as_deref())
        .collect();
    assert!(cities.contains(&"São Paulo"));
    assert!(cities.contains(&"Zürich"));
}

#[test]
fn om_contact_3() {
    let m = parse_ok(OM_CONTACT_3);
    assert_eq!(m.action_id, "04kHs000000GmaCIAS");
    assert_eq!(m.notifications.len(), 3);
    assert!(m.notifications.iter().all(|n| n.sobject_type == "Contact"));
    let rene = &m.notifications[2];
    assert_eq!(rene.id, "04lHs000000oMWoIAM");
    assert_eq!(field(rene, "FirstName"), Some("René"));
    assert_eq!(field(rene, "LastName"), Some("Descartes"));
    assert_eq!(field(rene, "Email"), Some("rene.descartes@example.com"));
    assert_eq!(field(rene, "AccountId"), Some("001Hs0000010wD7IAI"));
    assert_eq!(field(rene, "Id"), Some("003Hs000001DXP0IAO"));
}

#[test]
fn om_wrong_org_parses_with_its_own_org_id() {
    // Refusing another org is the handler's job; the parser must report it faithfully.
    let m = parse_ok(OM_WRONG_ORG);
    assert_eq!(m.organization_id, "00D000000000002EAA");
}

#[test]
fn debug_redacts_session_id() {
    let m = parse_ok(OM_3_NIL.as_bytes());
    let dbg = format!("{m:?}");
    assert!(!dbg.contains("FakeSessionToken"), "{dbg}");
    assert!(dbg.contains("[REDACTED]"));
}

/// Salesforce's widest messages pass the defaults: 100 Notifications of 150
/// fields (15,308 elements) with a 131,072-character Long Text Area value of
/// 3-byte characters (393,201 bytes decoded). The limits before issue #15
/// (10,000 elements, 64 KiB of text) refused it.
#[test]
fn om_100_wide_passes_the_default_limits() {
    let m = parse(OM_100_WIDE, Limits::default()).expect("wide message");
    assert_eq!(m.notifications.len(), 100);
    let first = &m.notifications[0];
    let notes = field(first, "Long_Notes__c").expect("notes");
    assert_eq!(notes.chars().count(), 131_072);
    let old = Limits {
        max_elements: 10_000,
        ..Limits::default()
    };
    let e = parse(OM_100_WIDE, old).unwrap_err();
    assert!(matches!(e, Error::Limit("elements")), "{e:?}");
    let old = Limits {
        max_text_bytes: 64 * 1024,
        ..Limits::default()
    };
    let e = parse(OM_100_WIDE, old).unwrap_err();
    assert!(matches!(e, Error::Limit("text")), "{e:?}");
}

// === refused fixtures ===

#[test]
fn om_101_too_many_notifications() {
    let e = parse_err(OM_101.as_bytes());
    assert!(matches!(e, Error::TooManyNotifications(100)), "{e:?}");
}

#[test]
fn max_notifications_comes_from_limits() {
    let limits = Limits {
        max_notifications: 101,
        ..Limits::default()
    };
    let m = parse(OM_101.as_bytes(), limits).expect("101 allowed by limits");
    assert_eq!(m.notifications.len(), 101);

    let limits = Limits {
        max_notifications: 2,
        ..Limits::default()
    };
    let e = parse(OM_3_NIL.as_bytes(), limits).unwrap_err();
    assert!(matches!(e, Error::TooManyNotifications(2)), "{e:?}");
}

#[test]
fn om_zero_no_notifications() {
    let e = parse_err(OM_ZERO);
    assert!(matches!(e, Error::NoNotifications), "{e:?}");
}

#[test]
fn om_xxe_doctype_refused() {
    let e = parse_err(OM_XXE);
    assert!(matches!(e, Error::DocType), "{e:?}");
}

#[test]
fn om_doctype_internal_refused() {
    let e = parse_err(OM_DOCTYPE);
    assert!(matches!(e, Error::DocType), "{e:?}");
}

#[test]
fn om_wrong_ns_refused_as_unexpected_in_body() {
    let e = parse_err(OM_WRONG_NS);
    assert!(matches!(e, Error::Unexpected("Body")), "{e:?}");
}

#[test]
fn om_soap12_not_soap11() {
    let e = parse_err(OM_SOAP12);
    assert!(matches!(e, Error::NotSoap11), "{e:?}");
}

#[test]
fn om_truncated_is_malformed_xml() {
    let e = parse_err(OM_TRUNCATED);
    assert!(matches!(e, Error::Xml(_)), "{e:?}");
}

#[test]
fn garbage_refused() {
    let e = parse_err(GARBAGE);
    // 300 random bytes starting `89 ff fe 00`: not UTF-8.
    assert!(matches!(e, Error::Encoding), "{e:?}");
}

#[test]
fn empty_body_is_missing_envelope() {
    let e = parse_err(b"");
    assert!(matches!(e, Error::Missing("Envelope")), "{e:?}");
    let e = parse_err(b"<?xml version=\"1.0\"?>\n  \n");
    assert!(matches!(e, Error::Missing("Envelope")), "{e:?}");
}

#[test]
fn other_root_is_not_soap11() {
    let e = parse_err(b"<notifications xmlns=\"http://soap.sforce.com/2005/09/outbound\"/>");
    assert!(matches!(e, Error::NotSoap11), "{e:?}");
    let e = parse_err(b"{\"not\": \"xml\"}");
    assert!(matches!(e, Error::NotSoap11), "{e:?}");
}

// === Organization ID ===

#[test]
fn fifteen_char_org_id_normalised_to_18() {
    let body = om1_with(
        "<OrganizationId>00D000000000001EAA<",
        "<OrganizationId>00D000000000001<",
    );
    assert_eq!(parse_ok(body.as_bytes()).organization_id, ORG_ID);
}

#[test]
fn eighteen_char_org_id_is_case_insensitive() {
    let body = om1_with(
        "<OrganizationId>00D000000000001EAA<",
        "<OrganizationId>00d000000000001eaa<",
    );
    assert_eq!(parse_ok(body.as_bytes()).organization_id, ORG_ID);
    let body = om1_with(
        "<OrganizationId>00D000000000001EAA<",
        "<OrganizationId>\n  00D000000000001EAA\n<",
    );
    assert_eq!(parse_ok(body.as_bytes()).organization_id, ORG_ID);
}

#[test]
fn bad_org_ids_invalid() {
    for bad in [
        "001Hs0000010wBUIAY", // an Account id, not an org
        "00D000000000001EAB", // bad checksum
        "00D00000000001",     // 14 characters
        "",
    ] {
        let body = om1_with(
            "<OrganizationId>00D000000000001EAA<",
            &format!("<OrganizationId>{bad}<"),
        );
        let e = parse_err(body.as_bytes());
        assert!(
            matches!(e, Error::Invalid("OrganizationId")),
            "{bad:?}: {e:?}"
        );
    }
}

#[test]
fn missing_org_id_and_action_id() {
    let body = om1_with("<OrganizationId>00D000000000001EAA</OrganizationId>", "");
    let e = parse_err(body.as_bytes());
    assert!(matches!(e, Error::Missing("OrganizationId")), "{e:?}");

    let body = om1_with("<ActionId>04kHs000000GmaBIAS</ActionId>", "");
    let e = parse_err(body.as_bytes());
    assert!(matches!(e, Error::Missing("ActionId")), "{e:?}");

    let body = om1_with(
        "<ActionId>04kHs000000GmaBIAS</ActionId>",
        "<ActionId>04k/bad</ActionId>",
    );
    let e = parse_err(body.as_bytes());
    assert!(matches!(e, Error::Invalid("ActionId")), "{e:?}");
}

#[test]
fn empty_session_id_is_none() {
    let body = om1_with("<SessionId xsi:nil=\"true\"/>", "<SessionId></SessionId>");
    assert_eq!(parse_ok(body.as_bytes()).session_id, None);
    let body = om1_with(
        "<SessionId xsi:nil=\"true\"/>",
        "<SessionId>tok</SessionId>",
    );
    assert_eq!(parse_ok(body.as_bytes()).session_id.as_deref(), Some("tok"));
}

// === limits ===

/// Opening and closing tags for `n` nested elements named `tag`.
fn nest(tag: &str, n: usize) -> String {
    format!(
        "{}x{}",
        format!("<{tag}>").repeat(n),
        format!("</{tag}>").repeat(n)
    )
}

#[test]
fn deep_nesting_in_unknown_outbound_element_hits_depth_limit() {
    let body = om1_with(
        "<Notification>",
        &format!("{}\n<Notification>", nest("Extra", 40)),
    );
    let e = parse_err(body.as_bytes());
    assert!(matches!(e, Error::Limit("depth")), "{e:?}");
}

#[test]
fn nesting_inside_a_field_refused() {
    let body = om1_with_name(&nest("sf:Deep", 40));
    let e = parse_err(body.as_bytes());
    assert!(matches!(e, Error::Unexpected("field")), "{e:?}");
}

#[test]
fn depth_limit_boundary() {
    // Envelope/Body/notifications/Notification/sObject/field: 6 deep.
    let ok = Limits {
        max_depth: 6,
        ..Limits::default()
    };
    assert!(parse(OM_1.as_bytes(), ok).is_ok());
    let tight = Limits {
        max_depth: 5,
        ..Limits::default()
    };
    let e = parse(OM_1.as_bytes(), tight).unwrap_err();
    assert!(matches!(e, Error::Limit("depth")), "{e:?}");
}

#[test]
fn element_count_limit_boundary() {
    // om_1 has 20 elements: Envelope, Body, notifications, 5 header
    // elements, Notification, Id, sObject and 9 fields.
    let ok = Limits {
        max_elements: 20,
        ..Limits::default()
    };
    assert!(parse(OM_1.as_bytes(), ok).is_ok());
    let tight = Limits {
        max_elements: 19,
        ..Limits::default()
    };
    let e = parse(OM_1.as_bytes(), tight).unwrap_err();
    assert!(matches!(e, Error::Limit("elements")), "{e:?}");
}

#[test]
fn element_count_limit_applies_to_skipped_elements() {
    let many = "<Extra/>".repeat(50);
    let body = om1_with("<Notification>", &format!("{many}<Notification>"));
    let limits = Limits {
        max_elements: 60,
        ..Limits::default()
    };
    let e = parse(body.as_bytes(), limits).unwrap_err();
    assert!(matches!(e, Error::Limit("elements")), "{e:?}");
}

#[test]
fn attribute_count_limit() {
    // The Envelope carries 3 namespace declarations, the most in om_1.
    let ok = Limits {
        max_attributes: 3,
        ..Limits::default()
    };
    assert!(parse(OM_1.as_bytes(), ok).is_ok());
    let tight = Limits {
        max_attributes: 2,
        ..Limits::default()
    };
    let e = parse(OM_1.as_bytes(), tight).unwrap_err();
    assert!(matches!(e, Error::Limit("attributes")), "{e:?}");

    // Default limit (32): 33 attributes on one field.
    let attrs: String = (0..33).map(|i| format!(" a{i}=\"v\"")).collect();
    let body = om1_with(NAME_ELEMENT, &format!("<sf:Name{attrs}>Acme</sf:Name>"));
    let e = parse_err(body.as_bytes());
    assert!(matches!(e, Error::Limit("attributes")), "{e:?}");
    let attrs: String = (0..30).map(|i| format!(" a{i}=\"v\"")).collect();
    let body = om1_with(NAME_ELEMENT, &format!("<sf:Name{attrs}>Acme</sf:Name>"));
    assert_eq!(name_of(&body).as_deref(), Some("Acme"));
}

#[test]
fn text_over_max_text_bytes() {
    let max = Limits::default().max_text_bytes;
    let exact = "x".repeat(max);
    assert_eq!(name_of(&om1_with_name(&exact)), Some(exact));

    let body = om1_with_name(&"x".repeat(max + 1));
    let e = parse_err(body.as_bytes());
    assert!(matches!(e, Error::Limit("text")), "{e:?}");
}

#[test]
fn text_limit_counts_decoded_pieces_together() {
    // Pieces split by references must not each slip under the limit.
    let max = Limits::default().max_text_bytes;
    let half = "x".repeat(max / 2);
    let body = om1_with_name(&format!("{half}&amp;{half}"));
    let e = parse_err(body.as_bytes());
    assert!(matches!(e, Error::Limit("text")), "{e:?}");
}

#[test]
fn attribute_value_over_max_text_bytes() {
    let limits = Limits::default();
    let value = "v".repeat(limits.max_text_bytes + 1);
    let body = om1_with(
        NAME_ELEMENT,
        &format!("<sf:Name a=\"{value}\">Acme</sf:Name>"),
    );
    let e = parse_err(body.as_bytes());
    assert!(matches!(e, Error::Limit("attribute value")), "{e:?}");
}

// === entities, references, processing instructions ===

#[test]
fn unknown_entity_refused() {
    let e = parse_err(om1_with_name("Acme &foo; Inc").as_bytes());
    assert!(matches!(e, Error::Entity), "{e:?}");
    // The Display text is fixed and never quotes the input.
    assert_eq!(e.to_string(), "entity references are not allowed");
}

#[test]
fn predefined_entities_decoded() {
    assert_eq!(
        name_of(&om1_with_name("a&lt;b&gt;c&amp;d&apos;e&quot;f")).as_deref(),
        Some("a<b>c&d'e\"f")
    );
}

#[test]
fn character_references_decoded() {
    assert_eq!(name_of(&om1_with_name("&#65;")).as_deref(), Some("A"));
    assert_eq!(name_of(&om1_with_name("x&#x41;y")).as_deref(), Some("xAy"));
    assert_eq!(
        name_of(&om1_with_name("Ren&#xE9;")).as_deref(),
        Some("René")
    );
    assert_eq!(name_of(&om1_with_name("&#128512;")).as_deref(), Some("😀"));
}

#[test]
fn invalid_character_reference_refused() {
    for bad in ["&#0;", "&#xZZ;", "&#;"] {
        let e = parse_err(om1_with_name(bad).as_bytes());
        assert!(matches!(e, Error::Entity), "{bad}: {e:?}");
    }
}

#[test]
fn cdata_and_comments_inside_a_field() {
    assert_eq!(
        name_of(&om1_with_name("<![CDATA[a<b&c]]>")).as_deref(),
        Some("a<b&c")
    );
    assert_eq!(
        name_of(&om1_with_name("Ac<!-- note -->me")).as_deref(),
        Some("Acme")
    );
}

#[test]
fn processing_instruction_after_declaration_refused() {
    let body = om1_with(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<?xml-stylesheet href=\"x.xsl\"?>\n",
    );
    let e = parse_err(body.as_bytes());
    assert!(matches!(e, Error::ProcessingInstruction), "{e:?}");
}

#[test]
fn processing_instruction_inside_document_refused() {
    let e = parse_err(om1_with_name("Acme<?php echo 1; ?>").as_bytes());
    assert!(matches!(e, Error::ProcessingInstruction), "{e:?}");
}

#[test]
fn declaration_after_root_refused() {
    let body = om1_with("<soapenv:Body>", "<soapenv:Body><?xml version=\"1.0\"?>");
    let e = parse_err(body.as_bytes());
    assert!(matches!(e, Error::ProcessingInstruction), "{e:?}");
}

#[test]
fn invalid_utf8_in_text_refused() {
    let mut body = OM_1.as_bytes().to_vec();
    let at = OM_1.find("Acme Corporation").unwrap();
    body[at] = 0xff;
    body[at + 1] = 0xfe;
    let e = parse_err(&body);
    assert!(matches!(e, Error::Encoding), "{e:?}");
}

// === document structure ===

#[test]
fn second_root_element_refused() {
    let body = format!("{OM_1}<soapenv:Envelope xmlns:soapenv=\"{SOAP11_NS}\"/>");
    let e = parse_err(body.as_bytes());
    assert!(matches!(e, Error::Unexpected("document")), "{e:?}");
    let body = format!("{OM_1}<x/>");
    assert!(matches!(
        parse_err(body.as_bytes()),
        Error::Unexpected("document")
    ));
}

#[test]
fn trailing_garbage_after_envelope_refused() {
    let body = format!("{OM_1}garbage");
    let e = parse_err(body.as_bytes());
    assert!(matches!(e, Error::Unexpected("document")), "{e:?}");
}

#[test]
fn trailing_whitespace_and_comments_accepted() {
    let body = format!("{OM_1}\n<!-- trailing comment -->\n\n");
    assert_eq!(parse_ok(body.as_bytes()).notifications.len(), 1);
}

#[test]
fn soap_header_is_skipped() {
    let body = om1_with(
        "<soapenv:Body>",
        "<soapenv:Header><x:Security xmlns:x=\"urn:x\"><x:Token>t</x:Token></x:Security></soapenv:Header>\n <soapenv:Body>",
    );
    let m = parse_ok(body.as_bytes());
    assert_eq!(m.organization_id, ORG_ID);
    assert_eq!(m.notifications[0].id, "04lHs000000oLkOIAU");
}

#[test]
fn missing_body_and_second_body() {
    let start = OM_1.find("<soapenv:Body>").unwrap();
    let end = OM_1.find("</soapenv:Body>").unwrap() + "</soapenv:Body>".len();
    let body = format!("{}{}", &OM_1[..start], &OM_1[end..]);
    let e = parse_err(body.as_bytes());
    assert!(matches!(e, Error::Missing("Body")), "{e:?}");

    let body = om1_with(
        "</soapenv:Body>",
        "</soapenv:Body><soapenv:Body></soapenv:Body>",
    );
    let e = parse_err(body.as_bytes());
    assert!(matches!(e, Error::Unexpected("Envelope")), "{e:?}");
}

#[test]
fn unknown_element_in_outbound_namespace_ignored() {
    let body = om1_with(
        "<Notification>",
        "<FutureElement><Nested a=\"1\">text</Nested></FutureElement>\n<Notification>",
    );
    let m = parse_ok(body.as_bytes());
    assert_eq!(m.notifications.len(), 1);
    // ... also inside a Notification.
    let body = om1_with(
        "<Id>04lHs000000oLkOIAU</Id>",
        "<Id>04lHs000000oLkOIAU</Id><Unknown>x</Unknown>",
    );
    let m = parse_ok(body.as_bytes());
    assert_eq!(m.notifications[0].id, "04lHs000000oLkOIAU");
}

#[test]
fn element_of_other_namespace_in_notifications_refused() {
    let body = om1_with("<Notification>", "<x:Foo xmlns:x=\"urn:x\"/><Notification>");
    let e = parse_err(body.as_bytes());
    assert!(matches!(e, Error::Unexpected("notifications")), "{e:?}");
}

#[test]
fn text_between_elements_refused() {
    let body = om1_with("<Notification>", "stray text<Notification>");
    let e = parse_err(body.as_bytes());
    assert!(matches!(e, Error::Unexpected("notifications")), "{e:?}");
}

#[test]
fn non_sobject_children_of_sobject_ignored() {
    let body = om1_with(
        NAME_ELEMENT,
        "<x:Meta xmlns:x=\"urn:x\"><x:Deep>1</x:Deep></x:Meta><sf:Name>Acme</sf:Name>",
    );
    let m = parse_ok(body.as_bytes());
    let n = &m.notifications[0];
    assert_eq!(field(n, "Name"), Some("Acme"));
    assert!(!n.fields.contains_key("Meta"));
    assert_eq!(n.fields.len(), 9);
}

#[test]
fn field_with_child_element_refused() {
    let body = om1_with_name("<sf:Inner>x</sf:Inner>");
    let e = parse_err(body.as_bytes());
    assert!(matches!(e, Error::Unexpected("field")), "{e:?}");
}

#[test]
fn field_nil_forms() {
    let nil1 = om1_with(NAME_ELEMENT, "<sf:Name xsi:nil=\"1\"/>");
    assert_eq!(name_of(&nil1), None);
    let nil_with_text = om1_with(NAME_ELEMENT, "<sf:Name xsi:nil=\"true\">ignored</sf:Name>");
    assert_eq!(name_of(&nil_with_text), None);
    let not_nil = om1_with(NAME_ELEMENT, "<sf:Name xsi:nil=\"false\">Acme</sf:Name>");
    assert_eq!(name_of(&not_nil).as_deref(), Some("Acme"));
    // A `nil` attribute outside the xsi namespace means nothing.
    let other_ns = om1_with(NAME_ELEMENT, "<sf:Name nil=\"true\">Acme</sf:Name>");
    assert_eq!(name_of(&other_ns).as_deref(), Some("Acme"));
}

#[test]
fn invalid_field_name_refused() {
    let body = om1_with(NAME_ELEMENT, "<sf:_Name>Acme</sf:_Name>");
    let e = parse_err(body.as_bytes());
    assert!(matches!(e, Error::Invalid("field name")), "{e:?}");
}

#[test]
fn missing_xsi_type_refused() {
    let body = om1_with(" xsi:type=\"sf:Account\"", "");
    let e = parse_err(body.as_bytes());
    assert!(matches!(e, Error::Missing("sObject xsi:type")), "{e:?}");
}

#[test]
fn xsi_type_outside_sobject_namespace_refused() {
    let body = om1_with("xsi:type=\"sf:Account\"", "xsi:type=\"xsd:string\"");
    let e = parse_err(body.as_bytes());
    assert!(matches!(e, Error::Invalid("sObject xsi:type")), "{e:?}");
    // Unbound prefix.
    let body = om1_with("xsi:type=\"sf:Account\"", "xsi:type=\"zz:Account\"");
    let e = parse_err(body.as_bytes());
    assert!(matches!(e, Error::Invalid("sObject xsi:type")), "{e:?}");
}

#[test]
fn xsi_type_with_other_prefix_for_sobject_namespace_accepted() {
    let body = om1_with(
        "xsi:type=\"sf:Account\"",
        "xmlns:obj=\"urn:sobject.enterprise.soap.sforce.com\" xsi:type=\"obj:Custom_Object__c\"",
    );
    let m = parse_ok(body.as_bytes());
    assert_eq!(m.notifications[0].sobject_type, "Custom_Object__c");
}

#[test]
fn invalid_notification_id_refused() {
    for bad in [
        "04l-bad-id-000000",
        "04lHs000000oLk",
        "04lHs000000oLkOIAU1",
        "",
    ] {
        let body = om1_with("<Id>04lHs000000oLkOIAU</Id>", &format!("<Id>{bad}</Id>"));
        let e = parse_err(body.as_bytes());
        assert!(
            matches!(e, Error::Invalid("Notification Id")),
            "{bad:?}: {e:?}"
        );
    }
}

#[test]
fn missing_notification_id_and_sobject() {
    let body = om1_with("<Id>04lHs000000oLkOIAU</Id>", "");
    let e = parse_err(body.as_bytes());
    assert!(matches!(e, Error::Missing("Notification Id")), "{e:?}");

    let start = OM_1.find("<sObject").unwrap();
    let end = OM_1.find("</sObject>").unwrap() + "</sObject>".len();
    let body = format!("{}{}", &OM_1[..start], &OM_1[end..]);
    let e = parse_err(body.as_bytes());
    assert!(matches!(e, Error::Missing("sObject")), "{e:?}");
}

#[test]
fn mismatched_end_tag_is_malformed() {
    let body = om1_with("</sf:Name>", "</sf:Nam>");
    let e = parse_err(body.as_bytes());
    assert!(matches!(e, Error::Xml(_)), "{e:?}");
}

#[test]
fn second_xml_declaration_refused() {
    // `<?xml ...?>` is only allowed as the very first thing in a document;
    // anywhere else it is a processing instruction with the reserved target
    // `xml`, which the module documentation says is refused.
    let body = format!("<?xml version=\"1.0\"?>\n{OM_1}");
    let e = parse_err(body.as_bytes());
    assert!(matches!(e, Error::ProcessingInstruction), "{e:?}");
}
