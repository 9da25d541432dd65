//! Bitmap cases: the documented example shape, wide bitmaps, nested
//! collapse, and malformed elements.

use apache_avro::Schema;

use super::{field_names, BitmapError};

/// The change event fixture (header, Name, Type, Phone, BillingAddress,
/// AnnualRevenue, NumberOfEmployees, ShippingAddress (a reference),
/// CreatedDate, LastModifiedDate, OwnerId).
fn account() -> Schema {
    Schema::parse_str(include_str!(
        "../../../fixtures/pubsub/account_change_event.avsc"
    ))
    .expect("schema")
}

/// A record of `n` top-level fields `F<i>`, except 4 = `BillingAddress`
/// (optional `Address` record) and 7 = `ShippingAddress` (a reference to it).
fn wide(n: usize) -> Schema {
    let address = r#"{"type": "record", "name": "Address", "fields": [
        {"name": "Street", "type": ["null", "string"]}, {"name": "City", "type": ["null", "string"]},
        {"name": "State", "type": ["null", "string"]}, {"name": "PostalCode", "type": ["null", "string"]},
        {"name": "Country", "type": ["null", "string"]}]}"#;
    let fields: Vec<String> = (0..n)
        .map(|i| match i {
            4 => format!(r#"{{"name": "BillingAddress", "type": ["null", {address}]}}"#),
            7 => r#"{"name": "ShippingAddress", "type": ["null", "Address"]}"#.to_string(),
            _ => format!(r#"{{"name": "F{i}", "type": ["null", "string"]}}"#),
        })
        .collect();
    let json = format!(
        r#"{{"type": "record", "name": "Wide", "namespace": "com.sforce.eventbus", "fields": [{}]}}"#,
        fields.join(",")
    );
    Schema::parse_str(&json).expect("schema")
}

/// [`field_names`] over string literals.
fn names(schema: &Schema, bitmaps: &[&str]) -> Result<Vec<String>, BitmapError> {
    let owned: Vec<String> = bitmaps.iter().map(|s| s.to_string()).collect();
    field_names(schema, &owned)
}

#[test]
fn documented_example_shape() {
    // 0x650004E0: bits 5 6 7 10 24 26 29 30; 4-0x10: Address bit 4
    // (Country); 7-0x06: Address bits 1 2 (City, State) through a reference.
    let got = names(&wide(32), &["0x650004E0", "4-0x10", "7-0x06"]).expect("names");
    let want = [
        "F5",
        "F6",
        "ShippingAddress",
        "F10",
        "F24",
        "F26",
        "F29",
        "F30",
        "BillingAddress.Country",
        "ShippingAddress.City",
        "ShippingAddress.State",
    ];
    assert_eq!(got, want);
}

#[test]
fn empty_array_and_zero_bitmap_name_nothing() {
    assert_eq!(names(&account(), &[]).expect("empty"), Vec::<String>::new());
    assert_eq!(
        names(&account(), &["0x0"]).expect("zero"),
        Vec::<String>::new()
    );
    assert_eq!(
        names(&account(), &["1-0x00"]).expect("zero nested"),
        Vec::<String>::new()
    );
}

#[test]
fn top_level_bits_on_the_change_event() {
    // bit 3 Phone, bit 9 LastModifiedDate; lowercase hex works too.
    let got = names(&account(), &["0x208", "1-0x4"]).expect("names");
    assert_eq!(got, ["Phone", "LastModifiedDate", "Name.LastName"]);
    // 0x0a0: bits 5 and 7; lowercase hex, odd digit count.
    let lower = names(&account(), &["0x0a0"]).expect("lower");
    assert_eq!(lower, ["AnnualRevenue", "ShippingAddress"]);
}

#[test]
fn all_nested_bits_set_names_the_parent() {
    let schema = account();
    assert_eq!(names(&schema, &["1-0x7"]).expect("all"), ["Name"]);
    assert_eq!(
        names(&schema, &["1-0x5"]).expect("some"),
        ["Name.Salutation", "Name.LastName"]
    );
    assert_eq!(
        names(&schema, &["4-0x1F"]).expect("address"),
        ["BillingAddress"]
    );
    assert_eq!(
        names(&schema, &["7-0x1f"]).expect("ref"),
        ["ShippingAddress"]
    );
}

#[test]
fn bitmaps_wider_than_64_bits() {
    let schema = wide(70);
    // 18 digits: bits 69 and 64 in the top byte, bit 0 at the bottom.
    assert_eq!(
        names(&schema, &["0x210000000000000001"]).expect("wide"),
        ["F0", "F64", "F69"]
    );
    // 17 digits (odd): read as left-padded, bits 64 and 1.
    assert_eq!(
        names(&schema, &["0x10000000000000002"]).expect("odd"),
        ["F1", "F64"]
    );
    // Leading zero bytes beyond the field count are fine.
    assert_eq!(
        names(&schema, &["0x0000000000000000000001"]).expect("zeros"),
        ["F0"]
    );
}

#[test]
fn malformed_elements_are_errors() {
    let schema = account();
    let malformed = |e: &str| {
        matches!(
            names(&schema, &[e]),
            Err(BitmapError::Malformed { index: 0 })
        )
    };
    for element in [
        "0xZZ", "x-0x1", "0x", "-0x1", "1-0x", "1-0xG", "", "12", "1-1", "+1-0x1", "0x 1",
    ] {
        assert!(malformed(element), "{element:?} should be malformed");
    }
    assert!(matches!(
        names(&schema, &["0x1", "99-0x1"]),
        Err(BitmapError::PositionOutOfRange {
            index: 1,
            position: 99,
            fields: 11
        })
    ));
    assert!(matches!(
        names(&schema, &["2-0x1"]),
        Err(BitmapError::NotCompound {
            index: 0,
            position: 2
        })
    ));
    // 11 top-level fields: bit 11 is past them; Name has 3 fields.
    assert!(matches!(
        names(&schema, &["0x800"]),
        Err(BitmapError::BitOutOfRange {
            index: 0,
            bit: 11,
            fields: 11
        })
    ));
    assert!(matches!(
        names(&schema, &["1-0x8"]),
        Err(BitmapError::BitOutOfRange {
            index: 0,
            bit: 3,
            fields: 3
        })
    ));
    assert!(matches!(
        field_names(&Schema::String, &[]),
        Err(BitmapError::NotARecord)
    ));
}

#[test]
fn error_messages_do_not_echo_the_element() {
    let err = names(&account(), &["0xSECRET"]).expect_err("bad");
    assert!(!err.to_string().contains("SECRET"), "{err}");
}
