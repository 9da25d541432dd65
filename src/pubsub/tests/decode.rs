//! Decoding: exact JSON of both fixture kinds and of every Avro type, and
//! hostile payloads (prefixes, trailing bytes, random bytes, huge lengths).

use apache_avro::types::Value;
use apache_avro::writer::datum::GenericDatumWriter;
use apache_avro::Schema;
use serde_json::json;

use super::{Codec, DecodeError};

const ORDER: &str = include_str!("../../../fixtures/pubsub/order_placed_event.avsc");
const ACCOUNT: &str = include_str!("../../../fixtures/pubsub/account_change_event.avsc");

/// `value` as a raw Avro datum of `schema`.
fn encode(schema: &Schema, value: Value) -> Vec<u8> {
    GenericDatumWriter::builder(schema)
        .build()
        .expect("writer")
        .write_value_to_vec(value)
        .expect("encode")
}

/// A record value from `(field, value)` pairs in schema order.
fn record(fields: Vec<(&str, Value)>) -> Value {
    Value::Record(
        fields
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

/// The second branch of a `["null", T]` union.
fn some(v: Value) -> Value {
    Value::Union(1, Box::new(v))
}

/// The null branch of a `["null", T]` union.
fn none() -> Value {
    Value::Union(0, Box::new(Value::Null))
}

/// An array of strings.
fn strings(items: &[&str]) -> Value {
    Value::Array(items.iter().map(|s| Value::String(s.to_string())).collect())
}

/// An `Order_Placed__e` payload (every field set but `Ship_Date__c`).
fn order_payload(codec: &Codec) -> Vec<u8> {
    let value = record(vec![
        ("CreatedDate", Value::Long(1_740_933_909_123)),
        ("CreatedById", Value::String("005xx000001X8UzAAK".into())),
        ("Order_Number__c", some(Value::String("ORD-0042".into()))),
        ("Amount__c", some(Value::Double(1234.5))),
        ("Rush__c", some(Value::Boolean(true))),
        ("Ship_Date__c", none()),
    ]);
    encode(codec.schema(), value)
}

/// An `AccountChangeEvent` UPDATE payload with bitmaps in the header.
fn account_payload(codec: &Codec) -> Vec<u8> {
    let header = record(vec![
        ("entityName", Value::String("Account".into())),
        ("recordIds", strings(&["001xx000003DGb2AAG"])),
        ("changeType", Value::Enum(1, "UPDATE".into())),
        (
            "changeOrigin",
            Value::String("com/salesforce/api/rest/62.0;client=hookgate".into()),
        ),
        (
            "transactionKey",
            Value::String("0004d6f6-8b5c-0d1e-5e3b-4b1b3a1f0c2d".into()),
        ),
        ("sequenceNumber", Value::Int(1)),
        ("commitTimestamp", Value::Long(1_740_933_909_000)),
        ("commitNumber", Value::Long(1_234_567_890_123)),
        ("commitUser", Value::String("005xx000001X8UzAAK".into())),
        ("nulledFields", strings(&["4-0x1F"])),
        ("diffFields", strings(&[])),
        ("changedFields", strings(&["0x0208", "1-0x04"])),
    ]);
    let name = record(vec![
        ("Salutation", none()),
        ("FirstName", none()),
        ("LastName", some(Value::String("Lovelace".into()))),
    ]);
    let value = record(vec![
        ("ChangeEventHeader", header),
        ("Name", some(name)),
        ("Type", none()),
        ("Phone", some(Value::String("+1 555 0100".into()))),
        ("BillingAddress", none()),
        ("AnnualRevenue", none()),
        ("NumberOfEmployees", some(Value::Int(42))),
        ("ShippingAddress", none()),
        ("CreatedDate", none()),
        ("LastModifiedDate", some(Value::Long(1_740_933_909_000))),
        ("OwnerId", none()),
    ]);
    encode(codec.schema(), value)
}

#[test]
fn platform_event_decodes_with_types_kept() {
    let codec = Codec::parse(ORDER).expect("codec");
    assert!(!codec.is_change_event());
    let got = codec.decode(&order_payload(&codec)).expect("decode");
    let want = json!({
        "CreatedDate": 1_740_933_909_123_i64,
        "CreatedById": "005xx000001X8UzAAK",
        "Order_Number__c": "ORD-0042",
        "Amount__c": 1234.5,
        "Rush__c": true,
        "Ship_Date__c": null,
    });
    assert_eq!(got, want);
    assert!(got["CreatedDate"].is_i64());
}

#[test]
fn change_event_bitmaps_become_field_names() {
    let codec = Codec::parse(ACCOUNT).expect("codec");
    assert!(codec.is_change_event());
    let got = codec.decode(&account_payload(&codec)).expect("decode");
    let want = json!({
        "ChangeEventHeader": {
            "entityName": "Account",
            "recordIds": ["001xx000003DGb2AAG"],
            "changeType": "UPDATE",
            "changeOrigin": "com/salesforce/api/rest/62.0;client=hookgate",
            "transactionKey": "0004d6f6-8b5c-0d1e-5e3b-4b1b3a1f0c2d",
            "sequenceNumber": 1,
            "commitTimestamp": 1_740_933_909_000_i64,
            "commitNumber": 1_234_567_890_123_i64,
            "commitUser": "005xx000001X8UzAAK",
            "nulledFields": ["BillingAddress"],
            "diffFields": [],
            "changedFields": ["Phone", "LastModifiedDate", "Name.LastName"],
        },
        "Name": {"Salutation": null, "FirstName": null, "LastName": "Lovelace"},
        "Type": null,
        "Phone": "+1 555 0100",
        "BillingAddress": null,
        "AnnualRevenue": null,
        "NumberOfEmployees": 42,
        "ShippingAddress": null,
        "CreatedDate": null,
        "LastModifiedDate": 1_740_933_909_000_i64,
        "OwnerId": null,
    });
    assert_eq!(got, want);
}

#[test]
fn bad_bitmap_is_a_decode_error() {
    let codec = Codec::parse(ACCOUNT).expect("codec");
    let mut payload = account_payload(&codec);
    // "0x0208" -> "0xZ208": same length, so the datum stays well-formed.
    let at = payload
        .windows(6)
        .position(|w| w == b"0x0208")
        .expect("bitmap");
    payload[at + 2] = b'Z';
    let err = codec.decode(&payload).expect_err("bad bitmap");
    assert!(
        matches!(
            err,
            DecodeError::Bitmap {
                field: "changedFields",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn every_avro_type_maps_as_documented() {
    let schema = r#"{"type": "record", "name": "All", "namespace": "t", "fields": [
        {"name": "n", "type": "null"}, {"name": "i", "type": "int"},
        {"name": "f", "type": "float"}, {"name": "nan", "type": "double"},
        {"name": "inf", "type": "float"}, {"name": "b", "type": "bytes"},
        {"name": "x", "type": {"type": "fixed", "name": "Four", "size": 4}},
        {"name": "e", "type": {"type": "enum", "name": "Color", "symbols": ["RED", "GREEN"]}},
        {"name": "m", "type": {"type": "map", "values": ["null", "long"]}},
        {"name": "d", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}},
        {"name": "u", "type": {"type": "string", "logicalType": "uuid"}},
        {"name": "day", "type": {"type": "int", "logicalType": "date"}},
        {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "again", "type": ["null", "Four"]}]}"#;
    let codec = Codec::parse(schema).expect("codec");
    let uuid = apache_avro::Uuid::parse_str("0b3a5f8e-1c2d-4e5f-8a9b-0c1d2e3f4a5b").expect("uuid");
    let value = record(vec![
        ("n", Value::Null),
        ("i", Value::Int(-7)),
        ("f", Value::Float(0.5)),
        ("nan", Value::Double(f64::NAN)),
        ("inf", Value::Float(f32::INFINITY)),
        ("b", Value::Bytes(b"hi?".to_vec())),
        ("x", Value::Fixed(4, vec![0, 1, 2, 255])),
        ("e", Value::Enum(1, "GREEN".into())),
        (
            "m",
            Value::Map(
                [("k".to_string(), some(Value::Long(5)))]
                    .into_iter()
                    .collect(),
            ),
        ),
        (
            "d",
            Value::Decimal(apache_avro::Decimal::from(vec![0xFF, 0x85])),
        ),
        ("u", Value::Uuid(uuid)),
        ("day", Value::Date(20_000)),
        ("ts", Value::TimestampMillis(1_740_933_909_123)),
        ("again", some(Value::Fixed(4, vec![9, 9, 9, 9]))),
    ]);
    let got = codec
        .decode(&encode(codec.schema(), value))
        .expect("decode");
    let want = json!({
        "n": null, "i": -7, "f": 0.5, "nan": null, "inf": null, "b": "aGk/",
        "x": "AAEC/w==", "e": "GREEN", "m": {"k": 5}, "d": "-1.23",
        "u": "0b3a5f8e-1c2d-4e5f-8a9b-0c1d2e3f4a5b", "day": 20000,
        "ts": 1_740_933_909_123_i64, "again": "CQkJCQ==",
    });
    assert_eq!(got, want);
}

#[test]
fn schema_errors() {
    assert!(matches!(
        Codec::parse("{not json"),
        Err(DecodeError::Schema(_))
    ));
    assert!(matches!(
        Codec::parse(r#""string""#),
        Err(DecodeError::NotARecord)
    ));
}

#[test]
fn every_strict_prefix_is_an_error_and_trailing_bytes_too() {
    for schema in [ORDER, ACCOUNT] {
        let codec = Codec::parse(schema).expect("codec");
        let payload = if codec.is_change_event() {
            account_payload(&codec)
        } else {
            order_payload(&codec)
        };
        for len in 0..payload.len() {
            assert!(
                codec.decode(&payload[..len]).is_err(),
                "prefix {len} decoded"
            );
        }
        let mut longer = payload.clone();
        longer.push(0);
        assert!(matches!(
            codec.decode(&longer),
            Err(DecodeError::TrailingBytes { extra: 1 })
        ));
    }
}

#[test]
fn random_and_mutated_payloads_never_panic() {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for schema in [ORDER, ACCOUNT] {
        let codec = Codec::parse(schema).expect("codec");
        for _ in 0..3000 {
            let len = (next() % 160) as usize;
            let bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            let _ = codec.decode(&bytes);
        }
        let payload = account_payload(&Codec::parse(ACCOUNT).expect("codec"));
        for at in 0..payload.len() {
            for byte in [0x00, 0x01, 0x7F, 0x80, 0xFF, next() as u8] {
                let mut mutated = payload.clone();
                mutated[at] = byte;
                let _ = codec.decode(&mutated);
            }
        }
    }
}

/// Zigzag varint of `n`, the Avro `long` encoding.
fn varint(n: i64) -> Vec<u8> {
    let mut z = ((n << 1) ^ (n >> 63)) as u64;
    let mut out = Vec::new();
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
    out
}

#[test]
fn huge_claimed_lengths_are_refused_without_allocating() {
    let order = Codec::parse(ORDER).expect("codec");
    // CreatedDate 0, then a CreatedById string claiming 2^40 bytes, and one
    // claiming 100 MiB (over our 16 MiB cap, under apache-avro's 512 MiB).
    for claim in [1_i64 << 40, 100 << 20, 17 << 20] {
        let mut payload = varint(0);
        payload.extend(varint(claim));
        payload.extend(b"abc");
        assert!(
            matches!(order.decode(&payload), Err(DecodeError::Malformed(_))),
            "{claim}"
        );
    }
    // A change event whose recordIds array claims 2^40 elements.
    let account = Codec::parse(ACCOUNT).expect("codec");
    let mut payload = varint(7);
    payload.extend(b"Account");
    payload.extend(varint(1 << 40));
    payload.extend(varint(1));
    payload.extend(b"0");
    assert!(account.decode(&payload).is_err());
}
