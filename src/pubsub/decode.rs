//! Pub/Sub event payloads (raw Avro datums) to JSON that keeps their types
//! \[PROTO\]\[AVRO\].
//!
//! A `ConsumerEvent` payload is one Avro binary datum without container
//! header, written with the schema its `schema_id` names (fetched once by
//! `GetSchema`, parsed once into a [`Codec`]). Mapping to JSON:
//!
//! | Avro | JSON |
//! |---|---|
//! | null, boolean, string | the same |
//! | int, long; date, time-*, timestamp-*, local-timestamp-* | integer (never a string) |
//! | float, double | number; NaN and infinities become `null` |
//! | bytes, fixed | standard base64 string (padded) |
//! | enum | its symbol |
//! | array, map | array, object |
//! | record | object (keys sorted: serde_json's `preserve_order` is off, schema order is not kept) |
//! | union | the chosen branch's value (Salesforce unions are `["null", T]`) |
//! | decimal (bytes or fixed), big-decimal, uuid | plain decimal string, string |
//! | duration | `{"months", "days", "millis"}` integers |
//!
//! Change events (a top-level `ChangeEventHeader` field) get the header's
//! `changedFields`, `nulledFields` and `diffFields` bitmaps replaced by the
//! field names they denote in this event's schema ([`super::bitmap`]).
//!
//! Hostile payloads: a truncated datum, trailing bytes, a bad union or enum
//! index, invalid UTF-8 are [`DecodeError`]s, never panics. apache-avro
//! allocates a claimed string/bytes length (or element count times the
//! element size) before reading it; [`MAX_ALLOCATION_BYTES`] caps that.

use std::io::Read;

use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::schema::{NamesRef, NamespaceRef, ResolvedSchema};
use apache_avro::types::Value;
use apache_avro::Schema;
use base64::Engine as _;
use serde_json::{Map, Value as Json};

use super::bitmap::{self, BitmapError};

/// Largest single allocation apache-avro may make while decoding, in bytes
/// (16 MiB). Events are at most 1 MB \[ALLOC\], so a length or count above
/// this is a lie. The setting is process-wide and only its first setting
/// counts (`apache_avro::util::max_allocation_bytes`); [`Codec`] sets it
/// before it parses or decodes anything.
pub const MAX_ALLOCATION_BYTES: usize = 16 * 1024 * 1024;

/// The name of the change events' header field \[CDCH\].
const HEADER: &str = "ChangeEventHeader";
/// The header's bitmap fields, replaced by field names.
const BITMAP_FIELDS: [&str; 3] = ["changedFields", "nulledFields", "diffFields"];

/// Why a schema or payload could not be decoded. Messages never carry
/// payload bytes; the Avro source names kinds, lengths and indexes.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The schema JSON is not a valid Avro schema.
    #[error("invalid Avro schema")]
    Schema(#[source] apache_avro::Error),
    /// The schema is valid but its root is not a record (events are records).
    #[error("Avro schema root is not a record")]
    NotARecord,
    /// The payload does not decode with the schema (bad index, UTF-8, a
    /// length over [`MAX_ALLOCATION_BYTES`], ...).
    #[error("payload is not an Avro datum of this schema")]
    Malformed(#[source] apache_avro::Error),
    /// The payload ended inside the datum.
    #[error("payload is truncated")]
    Truncated,
    /// Bytes follow the datum.
    #[error("{extra} bytes follow the Avro datum")]
    TrailingBytes {
        /// How many bytes were left over.
        extra: usize,
    },
    /// The decoded value does not follow the schema (a decimal without its
    /// decimal schema); an apache-avro inconsistency, not bad input.
    #[error("decoded value does not match the schema")]
    SchemaMismatch,
    /// A change event's header bitmap does not fit its schema.
    #[error("ChangeEventHeader.{field} cannot be read")]
    Bitmap {
        /// Which header field: `changedFields`, `nulledFields` or `diffFields`.
        field: &'static str,
        /// What was wrong with it.
        #[source]
        source: BitmapError,
    },
}

/// A parsed writer schema of one `schema_id`: decodes that schema's payloads.
/// Parse once per schema id and cache it; decoding borrows it immutably.
#[derive(Debug, Clone)]
pub struct Codec {
    /// The parsed writer schema; its root is a record.
    schema: Schema,
    /// Whether the root record has a `ChangeEventHeader` field.
    change_event: bool,
}

impl Codec {
    /// Parses `schema_json` (`SchemaInfo.schema_json` from `GetSchema`).
    ///
    /// # Errors
    /// [`DecodeError::Schema`] for invalid schema JSON,
    /// [`DecodeError::NotARecord`] when the root is not a record.
    pub fn parse(schema_json: &str) -> Result<Codec, DecodeError> {
        apache_avro::util::max_allocation_bytes(MAX_ALLOCATION_BYTES);
        let schema = Schema::parse_str(schema_json).map_err(DecodeError::Schema)?;
        let Schema::Record(root) = &schema else {
            return Err(DecodeError::NotARecord);
        };
        let change_event = root.fields.iter().any(|f| f.name == HEADER);
        Ok(Codec {
            schema,
            change_event,
        })
    }

    /// Whether this is a change event schema (a top-level `ChangeEventHeader`).
    pub fn is_change_event(&self) -> bool {
        self.change_event
    }

    /// The parsed writer schema.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// Decodes `payload`, one raw Avro datum of this schema, to a JSON object
    /// (mapping in the module doc); change events get their bitmaps named.
    ///
    /// # Errors
    /// [`DecodeError::Malformed`], [`DecodeError::Truncated`],
    /// [`DecodeError::TrailingBytes`] for payloads that are not exactly one
    /// datum; [`DecodeError::Bitmap`] for a header bitmap that does not fit.
    pub fn decode(&self, payload: &[u8]) -> Result<Json, DecodeError> {
        apache_avro::util::max_allocation_bytes(MAX_ALLOCATION_BYTES);
        let resolved = ResolvedSchema::try_from(&self.schema).map_err(DecodeError::Schema)?;
        let reader = GenericDatumReader::builder(&self.schema)
            .resolved_writer_schemata(resolved.clone())
            .build()
            .map_err(DecodeError::Schema)?;
        let mut input = Input::new(payload);
        let value = reader.read_value(&mut input);
        // apache-avro reads an early end of a string or a union index as
        // null: only the reader knows the payload ran out.
        if input.ran_out {
            return Err(DecodeError::Truncated);
        }
        let value = value.map_err(DecodeError::Malformed)?;
        if !input.rest.is_empty() {
            return Err(DecodeError::TrailingBytes {
                extra: input.rest.len(),
            });
        }
        let mut json = to_json(value, &self.schema, resolved.get_names(), None)?;
        if self.change_event {
            self.name_bitmaps(&mut json)?;
        }
        Ok(json)
    }

    /// Replaces the header's bitmap arrays (when present and all strings) by
    /// the field names they denote.
    fn name_bitmaps(&self, json: &mut Json) -> Result<(), DecodeError> {
        let Some(Json::Object(header)) = json.get_mut(HEADER) else {
            return Ok(());
        };
        for field in BITMAP_FIELDS {
            let Some(Json::Array(items)) = header.get(field) else {
                continue;
            };
            let bitmaps: Option<Vec<String>> = items
                .iter()
                .map(|i| i.as_str().map(str::to_owned))
                .collect();
            let Some(bitmaps) = bitmaps else {
                continue;
            };
            let names = bitmap::field_names(&self.schema, &bitmaps)
                .map_err(|source| DecodeError::Bitmap { field, source })?;
            header.insert(
                field.to_owned(),
                Json::Array(names.into_iter().map(Json::String).collect()),
            );
        }
        Ok(())
    }
}

/// The payload as a reader that notes whether a read asked past its end.
struct Input<'a> {
    /// Bytes not read yet.
    rest: &'a [u8],
    /// Set once a read wanted bytes and none were left.
    ran_out: bool,
}

impl<'a> Input<'a> {
    /// A reader over all of `payload`.
    fn new(payload: &'a [u8]) -> Self {
        Input {
            rest: payload,
            ran_out: false,
        }
    }
}

impl Read for Input<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if !buf.is_empty() && buf.len() > self.rest.len() {
            self.ran_out = true;
        }
        self.rest.read(buf)
    }
}

/// Converts a decoded `value` of `schema` to JSON (mapping in the module
/// doc); `names` resolves named references, `namespace` is the enclosing one.
fn to_json(
    value: Value,
    schema: &Schema,
    names: &NamesRef<'_>,
    namespace: NamespaceRef,
) -> Result<Json, DecodeError> {
    if let Schema::Ref { name } = schema {
        let full = name.fully_qualified_name(namespace);
        let target = names
            .get(full.as_ref())
            .ok_or(DecodeError::SchemaMismatch)?;
        return to_json(value, target, names, full.namespace());
    }
    Ok(match value {
        Value::Null => Json::Null,
        Value::Boolean(b) => Json::Bool(b),
        Value::Int(n) | Value::Date(n) | Value::TimeMillis(n) => Json::from(n),
        Value::Long(n)
        | Value::TimeMicros(n)
        | Value::TimestampMillis(n)
        | Value::TimestampMicros(n)
        | Value::TimestampNanos(n)
        | Value::LocalTimestampMillis(n)
        | Value::LocalTimestampMicros(n)
        | Value::LocalTimestampNanos(n) => Json::from(n),
        Value::Float(f) => number(f64::from(f)),
        Value::Double(f) => number(f),
        Value::Bytes(b) | Value::Fixed(_, b) => base64_string(&b),
        Value::String(s) | Value::Enum(_, s) => Json::String(s),
        Value::Uuid(u) => Json::String(u.to_string()),
        Value::BigDecimal(d) => Json::String(d.to_plain_string()),
        Value::Decimal(d) => {
            let Schema::Decimal(decimal) = schema else {
                return Err(DecodeError::SchemaMismatch);
            };
            let scale = i64::try_from(decimal.scale).map_err(|_| DecodeError::SchemaMismatch)?;
            let unscaled = bigdecimal::num_bigint::BigInt::from(d);
            Json::String(bigdecimal::BigDecimal::new(unscaled, scale).to_plain_string())
        }
        Value::Duration(d) => serde_json::json!({
            "months": u32::from(d.months()),
            "days": u32::from(d.days()),
            "millis": u32::from(d.millis()),
        }),
        compound => compound_json(compound, schema, names, namespace)?,
    })
}

/// [`to_json`] for unions, arrays, maps and records: each part converted with
/// its own schema.
fn compound_json(
    value: Value,
    schema: &Schema,
    names: &NamesRef<'_>,
    namespace: NamespaceRef,
) -> Result<Json, DecodeError> {
    match (value, schema) {
        (Value::Union(index, inner), Schema::Union(union)) => {
            let branch = usize::try_from(index)
                .ok()
                .and_then(|i| union.variants().get(i))
                .ok_or(DecodeError::SchemaMismatch)?;
            to_json(*inner, branch, names, namespace)
        }
        (Value::Array(items), Schema::Array(array)) => items
            .into_iter()
            .map(|item| to_json(item, &array.items, names, namespace))
            .collect::<Result<Vec<_>, _>>()
            .map(Json::Array),
        (Value::Map(entries), Schema::Map(map)) => entries
            .into_iter()
            .map(|(key, item)| Ok((key, to_json(item, &map.types, names, namespace)?)))
            .collect::<Result<Map<_, _>, _>>()
            .map(Json::Object),
        (Value::Record(fields), Schema::Record(record)) => {
            let full = record.name.fully_qualified_name(namespace);
            let inner = full.namespace();
            let mut object = Map::new();
            for ((name, item), field) in fields.into_iter().zip(&record.fields) {
                object.insert(name, to_json(item, &field.schema, names, inner)?);
            }
            Ok(Json::Object(object))
        }
        _ => Err(DecodeError::SchemaMismatch),
    }
}

/// A JSON number, or `null` for NaN and the infinities (JSON has neither).
fn number(f: f64) -> Json {
    serde_json::Number::from_f64(f).map_or(Json::Null, Json::Number)
}

/// Bytes as a standard (padded) base64 string.
fn base64_string(bytes: &[u8]) -> Json {
    Json::String(base64::engine::general_purpose::STANDARD.encode(bytes))
}

#[cfg(test)]
#[path = "tests/decode.rs"]
mod tests;
