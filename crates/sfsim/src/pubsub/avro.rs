//! Event schemas as Salesforce builds them for Pub/Sub API topics, and the
//! Avro encoding of one event: a raw binary datum, no container header
//! \[AVRO\] (SALESFORCE.md section 9).
//!
//! Schema shapes (record named after the event, namespace
//! `com.sforce.eventbus`, every custom or entity field a `["null", T]` union
//! defaulting to null) follow Salesforce's published platform event and
//! change event schemas \[AVRO\]\[DIFF\]\[CDCH\].

use std::collections::HashMap;

use apache_avro::schema::{RecordSchema, UnionSchema};
use apache_avro::types::Value as Avro;
use apache_avro::writer::datum::GenericDatumWriter;
use apache_avro::Schema;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use super::Error;

/// The namespace of every event record \[AVRO\].
pub const NAMESPACE: &str = "com.sforce.eventbus";

/// The type of one event field (inside its `["null", T]` union).
#[derive(Debug, Clone, PartialEq)]
pub enum AvroType {
    /// `boolean` (checkbox).
    Boolean,
    /// `int` (32-bit).
    Int,
    /// `long` (64-bit; date/time fields as epoch numbers \[DIFF\]).
    Long,
    /// `float` (32-bit).
    Float,
    /// `double` (number, currency, percent).
    Double,
    /// `string` (text, picklist, id).
    String,
    /// `bytes` (a JSON string's UTF-8 bytes when publishing).
    Bytes,
    /// A compound field (e.g. Contact `Name`, an address): a record named
    /// `name` whose own fields are `["null", T]` unions; change event
    /// bitmaps name its fields with the `p-0xHEX` form \[DESER\].
    Compound {
        /// The record's Avro name (e.g. `Switchable_PersonName`).
        name: String,
        fields: Vec<(String, AvroType)>,
    },
}

impl AvroType {
    /// A compound field type from borrowed names (a test convenience).
    pub fn compound(name: &str, fields: &[(&str, AvroType)]) -> AvroType {
        AvroType::Compound {
            name: name.to_owned(),
            fields: owned(fields),
        }
    }

    fn json(&self) -> Value {
        match self {
            AvroType::Boolean => json!("boolean"),
            AvroType::Int => json!("int"),
            AvroType::Long => json!("long"),
            AvroType::Float => json!("float"),
            AvroType::Double => json!("double"),
            AvroType::String => json!("string"),
            AvroType::Bytes => json!("bytes"),
            AvroType::Compound { name, fields } => json!({
                "type": "record",
                "name": name,
                "namespace": NAMESPACE,
                "fields": fields.iter().map(|(n, t)| nullable(n, t)).collect::<Vec<_>>(),
            }),
        }
    }
}

pub(super) fn owned(fields: &[(&str, AvroType)]) -> Vec<(String, AvroType)> {
    fields
        .iter()
        .map(|(n, t)| ((*n).to_owned(), t.clone()))
        .collect()
}

/// `{"name": n, "type": ["null", T], "default": null}`.
fn nullable(name: &str, t: &AvroType) -> Value {
    json!({ "name": name, "type": ["null", t.json()], "default": null })
}

/// A parsed topic schema with its id and JSON text.
#[derive(Debug)]
pub(super) struct EventSchema {
    pub id: String,
    pub json: String,
    pub schema: Schema,
    /// Top-level field names in schema order (bit i = field i \[DESER\]).
    pub fields: Vec<String>,
    /// Nested field names of compound fields, by top-level position.
    pub nested: HashMap<usize, Vec<String>>,
}

impl EventSchema {
    fn build(json: Value, nested: HashMap<usize, Vec<String>>) -> Result<EventSchema, Error> {
        let text = json.to_string();
        let schema = Schema::parse_str(&text).map_err(|e| Error::Schema(e.to_string()))?;
        let fields = match &schema {
            Schema::Record(RecordSchema { fields, .. }) => {
                fields.iter().map(|f| f.name.clone()).collect()
            }
            _ => Vec::new(),
        };
        // The schema id is a fingerprint of the schema, opaque to clients
        // [PROTO][AVRO]: here hex of the first 16 bytes of SHA-256 of the
        // Parsing Canonical Form.
        let digest = Sha256::digest(schema.canonical_form().as_bytes());
        let id = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        Ok(EventSchema {
            id,
            json: text,
            schema,
            fields,
            nested,
        })
    }

    /// A platform event `/event/<Name>__e`: `CreatedDate` (long, epoch
    /// ms), `CreatedById` (string), then the custom fields as nullable
    /// unions \[AVRO\].
    pub fn platform_event(name: &str, fields: &[(String, AvroType)]) -> Result<Self, Error> {
        let mut all = vec![
            json!({"name": "CreatedDate", "type": "long", "doc": "CreatedDate:DateTime"}),
            json!({"name": "CreatedById", "type": "string", "doc": "CreatedBy:EntityId"}),
        ];
        all.extend(fields.iter().map(|(n, t)| nullable(n, t)));
        let json = json!({
            "type": "record", "name": name, "namespace": NAMESPACE, "fields": all,
        });
        EventSchema::build(json, nested_names(fields, 2))
    }

    /// A change event `<Entity>ChangeEvent`: `ChangeEventHeader` first, then
    /// the entity's fields as nullable unions \[CDCH\]\[DIFF\].
    pub fn change_event(entity: &str, fields: &[(String, AvroType)]) -> Result<Self, Error> {
        let mut all = vec![json!({"name": "ChangeEventHeader", "type": header_schema()})];
        all.extend(fields.iter().map(|(n, t)| nullable(n, t)));
        let name = match entity.strip_suffix("__c") {
            Some(custom) => format!("{custom}__ChangeEvent"),
            None => format!("{entity}ChangeEvent"),
        };
        let json = json!({
            "type": "record", "name": name, "namespace": NAMESPACE, "fields": all,
        });
        EventSchema::build(json, nested_names(fields, 1))
    }

    /// Encodes `fields` (a JSON object; missing fields are null) as a raw
    /// Avro datum of this schema \[AVRO\].
    ///
    /// # Errors
    /// A value that does not fit its field's type.
    pub fn encode(&self, fields: &Value) -> Result<Vec<u8>, Error> {
        let value = to_avro(fields, &self.schema, "")?;
        GenericDatumWriter::builder(&self.schema)
            .build()
            .and_then(|w| w.write_value_to_vec(value))
            .map_err(|e| Error::Encode(e.to_string()))
    }
}

fn nested_names(fields: &[(String, AvroType)], offset: usize) -> HashMap<usize, Vec<String>> {
    fields
        .iter()
        .enumerate()
        .filter_map(|(i, (_, t))| match t {
            AvroType::Compound { fields, .. } => {
                Some((i + offset, fields.iter().map(|(n, _)| n.clone()).collect()))
            }
            _ => None,
        })
        .collect()
}

/// `com.sforce.eventbus.ChangeEventHeader` \[CDCH\]\[APEXCEH\]\[GAP\]\[OVF\].
fn header_schema() -> Value {
    let strings = json!({"type": "array", "items": "string"});
    json!({
        "type": "record",
        "name": "ChangeEventHeader",
        "namespace": NAMESPACE,
        "fields": [
            {"name": "entityName", "type": "string"},
            {"name": "recordIds", "type": strings},
            {"name": "changeType", "type": {
                "type": "enum", "name": "ChangeType", "namespace": NAMESPACE,
                "symbols": ["CREATE", "UPDATE", "DELETE", "UNDELETE", "GAP_CREATE",
                    "GAP_UPDATE", "GAP_DELETE", "GAP_UNDELETE", "GAP_OVERFLOW"],
            }},
            {"name": "changeOrigin", "type": "string"},
            {"name": "transactionKey", "type": "string"},
            {"name": "sequenceNumber", "type": "int"},
            {"name": "commitTimestamp", "type": "long"},
            {"name": "commitNumber", "type": "long"},
            {"name": "commitUser", "type": "string"},
            {"name": "nulledFields", "type": strings},
            {"name": "diffFields", "type": strings},
            {"name": "changedFields", "type": strings},
        ],
    })
}

/// JSON to an Avro value of `schema`; `path` names the field for errors.
fn to_avro(v: &Value, schema: &Schema, path: &str) -> Result<Avro, Error> {
    let bad = || Error::Encode(format!("{path}: {v} does not fit {schema:?}"));
    Ok(match (schema, v) {
        (Schema::Null, Value::Null) => Avro::Null,
        (Schema::Boolean, Value::Bool(b)) => Avro::Boolean(*b),
        (Schema::Int, Value::Number(n)) => Avro::Int(
            n.as_i64()
                .and_then(|n| i32::try_from(n).ok())
                .ok_or_else(bad)?,
        ),
        (Schema::Long, Value::Number(n)) => Avro::Long(n.as_i64().ok_or_else(bad)?),
        #[allow(clippy::cast_possible_truncation)]
        (Schema::Float, Value::Number(n)) => Avro::Float(n.as_f64().ok_or_else(bad)? as f32),
        (Schema::Double, Value::Number(n)) => Avro::Double(n.as_f64().ok_or_else(bad)?),
        (Schema::String, Value::String(s)) => Avro::String(s.clone()),
        (Schema::Bytes, Value::String(s)) => Avro::Bytes(s.as_bytes().to_vec()),
        (Schema::Enum(e), Value::String(s)) => {
            let i = e.symbols.iter().position(|x| x == s).ok_or_else(bad)?;
            Avro::Enum(u32::try_from(i).map_err(|_| bad())?, s.clone())
        }
        (Schema::Array(a), Value::Array(items)) => Avro::Array(
            items
                .iter()
                .map(|i| to_avro(i, &a.items, path))
                .collect::<Result<_, _>>()?,
        ),
        (Schema::Union(u), v) => union(u, v, path)?,
        (Schema::Record(r), Value::Object(map)) => Avro::Record(
            r.fields
                .iter()
                .map(|f| {
                    let inner = map.get(&f.name).unwrap_or(&Value::Null);
                    let p = if path.is_empty() {
                        f.name.clone()
                    } else {
                        format!("{path}.{}", f.name)
                    };
                    to_avro(inner, &f.schema, &p).map(|a| (f.name.clone(), a))
                })
                .collect::<Result<_, _>>()?,
        ),
        _ => return Err(bad()),
    })
}

/// The first branch the value fits (null first for `["null", T]`).
fn union(u: &UnionSchema, v: &Value, path: &str) -> Result<Avro, Error> {
    let mut last = None;
    for (i, branch) in u.variants().iter().enumerate() {
        match to_avro(v, branch, path) {
            Ok(a) => {
                let i = u32::try_from(i).map_err(|_| Error::Encode(path.to_owned()))?;
                return Ok(Avro::Union(i, Box::new(a)));
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| Error::Encode(format!("{path}: empty union"))))
}
