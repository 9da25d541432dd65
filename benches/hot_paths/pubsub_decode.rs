//! `pubsub_decode/{platform_event,change_event}`: one Pub/Sub payload (raw
//! Avro datum) to JSON with a parsed `Codec`, the change event with its three
//! header bitmaps named. Schemas: fixtures/pubsub/.

use std::hint::black_box;

use apache_avro::types::Value;
use apache_avro::writer::datum::GenericDatumWriter;
use criterion::{BenchmarkId, Criterion, Throughput};
use hookgate::pubsub::decode::Codec;

fn schema(file: &str) -> Codec {
    let json = String::from_utf8(super::fixture(&format!("pubsub/{file}"))).expect("utf8");
    Codec::parse(&json).expect("schema")
}

fn record(fields: Vec<(&str, Value)>) -> Value {
    Value::Record(
        fields
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

fn some(v: Value) -> Value {
    Value::Union(1, Box::new(v))
}

fn text(s: &str) -> Value {
    Value::String(s.to_string())
}

fn strings(items: &[&str]) -> Value {
    Value::Array(items.iter().map(|s| text(s)).collect())
}

fn encode(codec: &Codec, value: Value) -> Vec<u8> {
    GenericDatumWriter::builder(codec.schema())
        .build()
        .expect("writer")
        .write_value_to_vec(value)
        .expect("encode")
}

/// An `Order_Placed__e` with every field set.
fn platform_event() -> (Codec, Vec<u8>) {
    let codec = schema("order_placed_event.avsc");
    let value = record(vec![
        ("CreatedDate", Value::Long(1_740_933_909_123)),
        ("CreatedById", text("005xx000001X8UzAAK")),
        ("Order_Number__c", some(text("ORD-0042"))),
        ("Amount__c", some(Value::Double(1234.5))),
        ("Rush__c", some(Value::Boolean(true))),
        ("Ship_Date__c", some(Value::Long(1_741_000_000_000))),
    ]);
    let payload = encode(&codec, value);
    (codec, payload)
}

/// An `AccountChangeEvent` UPDATE: name, phone and billing address set, a
/// bitmap in each of `changedFields`, `nulledFields`, `diffFields`.
fn change_event() -> (Codec, Vec<u8>) {
    let codec = schema("account_change_event.avsc");
    let header = record(vec![
        ("entityName", text("Account")),
        ("recordIds", strings(&["001xx000003DGb2AAG"])),
        ("changeType", Value::Enum(1, "UPDATE".into())),
        (
            "changeOrigin",
            text("com/salesforce/api/rest/62.0;client=hookgate"),
        ),
        (
            "transactionKey",
            text("0004d6f6-8b5c-0d1e-5e3b-4b1b3a1f0c2d"),
        ),
        ("sequenceNumber", Value::Int(1)),
        ("commitTimestamp", Value::Long(1_740_933_909_000)),
        ("commitNumber", Value::Long(1_234_567_890_123)),
        ("commitUser", text("005xx000001X8UzAAK")),
        ("nulledFields", strings(&["0x4"])),
        ("diffFields", strings(&["0x8"])),
        ("changedFields", strings(&["0x21A", "1-0x06", "4-0x1F"])),
    ]);
    let name = record(vec![
        ("Salutation", some(text("Ms."))),
        ("FirstName", some(text("Ada"))),
        ("LastName", some(text("Lovelace"))),
    ]);
    let address = record(vec![
        ("Street", some(text("1 Market St"))),
        ("City", some(text("San Francisco"))),
        ("State", some(text("CA"))),
        ("PostalCode", some(text("94105"))),
        ("Country", some(text("US"))),
    ]);
    let null = || Value::Union(0, Box::new(Value::Null));
    let value = record(vec![
        ("ChangeEventHeader", header),
        ("Name", some(name)),
        ("Type", null()),
        ("Phone", some(text("+1 555 0100"))),
        ("BillingAddress", some(address)),
        ("AnnualRevenue", some(Value::Double(2.5e6))),
        ("NumberOfEmployees", some(Value::Int(42))),
        ("ShippingAddress", null()),
        ("CreatedDate", some(Value::Long(1_700_000_000_000))),
        ("LastModifiedDate", some(Value::Long(1_740_933_909_000))),
        ("OwnerId", some(text("005xx000001X8UzAAK"))),
    ]);
    let payload = encode(&codec, value);
    (codec, payload)
}

/// The `pubsub_decode` group.
pub fn pubsub_decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("pubsub_decode");
    for (name, (codec, payload)) in [
        ("platform_event", platform_event()),
        ("change_event", change_event()),
    ] {
        g.throughput(Throughput::Bytes(payload.len() as u64));
        g.bench_with_input(BenchmarkId::from_parameter(name), &payload, |b, payload| {
            b.iter(|| codec.decode(black_box(payload)).expect("decode"))
        });
    }
    g.finish();
}
