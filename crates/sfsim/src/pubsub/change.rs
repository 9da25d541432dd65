//! Change events: the `ChangeEventHeader` a test describes by field names,
//! encoded as Salesforce sends it over Pub/Sub \[CDCH\]\[DESER\]\[DIFF\].

use serde_json::{json, Map, Value};

use super::avro::EventSchema;
use super::bitmap;
use super::Error;

/// `ChangeEventHeader.changeType` \[CDCH\]\[GAP\]\[OVF\].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChangeType {
    /// `CREATE`.
    #[default]
    Create,
    /// `UPDATE`.
    Update,
    /// `DELETE`.
    Delete,
    /// `UNDELETE`.
    Undelete,
    /// `GAP_CREATE`: header only, re-read the record \[GAP\].
    GapCreate,
    /// `GAP_UPDATE` \[GAP\].
    GapUpdate,
    /// `GAP_DELETE` \[GAP\].
    GapDelete,
    /// `GAP_UNDELETE` \[GAP\].
    GapUndelete,
    /// Over 100,000 changes in one transaction: header only, no ids \[OVF\].
    GapOverflow,
}

impl ChangeType {
    /// The Avro enum symbol.
    pub fn symbol(self) -> &'static str {
        match self {
            ChangeType::Create => "CREATE",
            ChangeType::Update => "UPDATE",
            ChangeType::Delete => "DELETE",
            ChangeType::Undelete => "UNDELETE",
            ChangeType::GapCreate => "GAP_CREATE",
            ChangeType::GapUpdate => "GAP_UPDATE",
            ChangeType::GapDelete => "GAP_DELETE",
            ChangeType::GapUndelete => "GAP_UNDELETE",
            ChangeType::GapOverflow => "GAP_OVERFLOW",
        }
    }
}

/// One change event as a test describes it; field lists are names
/// (`Field`, `Compound.Child`, or a compound's name), encoded into bitmaps.
#[derive(Debug, Clone, Default)]
pub struct ChangeSpec {
    /// `entityName`; empty: the topic's entity.
    pub entity: String,
    /// `changeType`.
    pub change_type: ChangeType,
    /// `recordIds` (usually one).
    pub record_ids: Vec<String>,
    /// `changedFields`, as names.
    pub changed_fields: Vec<String>,
    /// `nulledFields`, as names.
    pub nulled_fields: Vec<String>,
    /// `diffFields`, as names.
    pub diff_fields: Vec<String>,
    /// The entity's field values (a JSON object; fields left out are null,
    /// as every unchanged field is \[DIFF\]); compound fields as objects.
    pub values: Value,
    /// `transactionKey`; empty: a fresh one per event.
    pub transaction_key: String,
    /// `sequenceNumber` within the transaction (from 1).
    pub sequence_number: i32,
    /// `commitUser`; empty: the integration user.
    pub commit_user: String,
    /// `changeOrigin`, e.g. `com/salesforce/api/rest/61.0;client=hookgate`;
    /// empty for UI changes.
    pub change_origin: String,
    /// `commitNumber` (SCN); 0: derived from the clock.
    pub commit_number: i64,
    /// `commitTimestamp`, epoch ms; `None`: the simulated clock.
    pub commit_timestamp: Option<i64>,
}

/// The Avro datum of `spec` under `schema`.
pub(super) fn encode(
    schema: &EventSchema,
    entity: &str,
    user: &str,
    now_ms: i64,
    fresh_key: String,
    spec: ChangeSpec,
) -> Result<Vec<u8>, Error> {
    let mut values = match spec.values {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    let or = |s: String, d: &str| if s.is_empty() { d.to_owned() } else { s };
    let transaction_key = if spec.transaction_key.is_empty() {
        fresh_key
    } else {
        spec.transaction_key
    };
    let header = json!({
        "entityName": or(spec.entity, entity),
        "recordIds": spec.record_ids,
        "changeType": spec.change_type.symbol(),
        "changeOrigin": spec.change_origin,
        "transactionKey": transaction_key,
        "sequenceNumber": spec.sequence_number,
        "commitTimestamp": spec.commit_timestamp.unwrap_or(now_ms),
        "commitNumber": if spec.commit_number == 0 { now_ms } else { spec.commit_number },
        "commitUser": or(spec.commit_user, user),
        "nulledFields": bitmap::encode(schema, &spec.nulled_fields)?,
        "diffFields": bitmap::encode(schema, &spec.diff_fields)?,
        "changedFields": bitmap::encode(schema, &spec.changed_fields)?,
    });
    values.insert("ChangeEventHeader".to_owned(), header);
    schema.encode(&Value::Object(values))
}
