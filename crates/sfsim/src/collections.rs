//! sObject Collections: `PATCH composite/sobjects` (update) and
//! `PATCH composite/sobjects/{Obj}/{ExtField}` (upsert).
//!
//! A malformed request (not JSON, no `records` list, more than 200 records,
//! a record without `attributes.type`, more than 10 type chunks) is HTTP 400
//! with a top-level `errorCode`. A well-formed one is HTTP 200 with one
//! result per record in request order; a record's failure is
//! `{"success":false,"errors":[{"statusCode","message","fields"}]}` (no `id`).
//! All records are checked first, then applied: with `allOrNone` and any
//! failure nothing is written and the valid records get
//! `ALL_OR_NONE_OPERATION_ROLLED_BACK`.
//!
//! Typed objects ([`super::schema`]) are checked as a whole first, in
//! document order: a value that does not fit its field is HTTP 400
//! `JSON_PARSER_ERROR` "... at [line:1, column:N]", an unknown field HTTP
//! 400 `INVALID_FIELD`; one bad record fails the whole call
//! (`../shared/docs/SALESFORCE.md` section 6, "Whole-request errors"; the
//! position format is the JSON parser's, see [`super::jsonpos`]).
//!
//! Duplicates in one call (decided here; Salesforce documents only the
//! upsert case): every record of an upsert whose external id value occurs
//! twice fails with `DUPLICATE_VALUE`; in an update the first record with an
//! Id is applied and the later ones fail with `DUPLICATE_VALUE`.

use std::collections::{HashMap, HashSet};

use http::StatusCode;
use serde_json::{json, Value};

use super::data::{body_value, json_error, not_found, token_name, Body};
use super::jsonpos;
use super::record::{
    external_value, get_field, is_identifier, take_field, Fields, Plan, RecordError,
};
use super::schema::{check_value, is_setup};
use super::state::State;
use super::Reply;

/// Most records in one call.
pub const MAX_RECORDS: usize = 200;
/// Most runs of consecutive records of one type in an update call (REST
/// API Developer Guide, "Update Multiple Records with Fewer Round-Trips",
/// usage guidelines: records of several types are processed in chunks, at
/// most 10 per call).
const MAX_CHUNKS: usize = 10;

/// A well-formed collections body.
struct Batch {
    all_or_none: bool,
    /// `(attributes.type, fields without attributes)`.
    records: Vec<(String, Fields)>,
}

pub(super) fn update(st: &mut State, json: Body, raw: &[u8]) -> Reply {
    let batch = match parse(json).and_then(|b| check_types(st, raw, &b).map(|()| b)) {
        Ok(b) => b,
        Err(reply) => return reply,
    };
    let mut chunks = 0;
    let mut last: Option<&str> = None;
    for (t, _) in &batch.records {
        if !last.is_some_and(|l| l.eq_ignore_ascii_case(t)) {
            chunks += 1;
            last = Some(t);
        }
    }
    if chunks > MAX_CHUNKS {
        return Reply::error(
            StatusCode::BAD_REQUEST,
            "EXCEEDED_MAX_TYPES_LIMIT",
            "Cannot have more than 10 chunks in a single operation. Please rearrange the data \
             to reduce chunking.",
        );
    }
    // Setup objects (User, ...) and other objects cannot share one
    // transaction (Apex Developer Guide, "sObjects That Can't Be Used
    // Together in DML Operations"): the records whose kind differs from the
    // first record's fail.
    let first = batch.records.first().map(|(t, _)| t.clone());
    let mut seen = HashSet::new();
    let outcomes = batch
        .records
        .into_iter()
        .map(|(sobject, mut fields)| {
            if !st.object_exists(&sobject) {
                return Err(RecordError::invalid_type(&sobject));
            }
            if let Some(first) = first
                .as_deref()
                .filter(|f| is_setup(f) != is_setup(&sobject))
            {
                return Err(RecordError::new(
                    "MIXED_DML_OPERATION",
                    format!(
                        "DML operation on setup object is not permitted after you have updated \
                         a non-setup object (or vice versa): {sobject}, original object: {first}"
                    ),
                ));
            }
            let raw_id = match take_field(&mut fields, "Id") {
                None | Some(Value::Null) => {
                    return Err(RecordError::new(
                        "MISSING_ARGUMENT",
                        "Id not specified in an update call",
                    ))
                }
                Some(Value::String(s)) => s,
                Some(other) => return Err(RecordError::malformed_id(&sobject, &other.to_string())),
            };
            if let Some(id) = crate::id::to_18(&raw_id) {
                if !seen.insert(id.clone()) {
                    return Err(RecordError::new(
                        "DUPLICATE_VALUE",
                        format!("Duplicate id in list: {id}"),
                    ));
                }
            }
            st.check_update(&sobject, &raw_id, &fields)
        })
        .collect();
    finish(st, outcomes, batch.all_or_none, false)
}

pub(super) fn upsert(st: &mut State, sobject: &str, field: &str, json: Body, raw: &[u8]) -> Reply {
    if !st.object_exists(sobject) || !is_identifier(field) || field.eq_ignore_ascii_case("Id") {
        return not_found();
    }
    let batch = match parse(json).and_then(|b| check_types(st, raw, &b).map(|()| b)) {
        Ok(b) => b,
        Err(reply) => return reply,
    };
    let values: Vec<Option<String>> = batch
        .records
        .iter()
        .map(|(_, f)| get_field(f, field).and_then(external_value))
        .collect();
    let mut occurrences: HashMap<String, usize> = HashMap::new();
    for v in values.iter().flatten() {
        *occurrences.entry(v.to_lowercase()).or_default() += 1;
    }
    // One lookup table per call (the values of one call are distinct, see
    // DUPLICATE_VALUE below), not a scan of the object per record.
    let index = st.external_index(sobject, field);
    let outcomes = batch
        .records
        .into_iter()
        .zip(values)
        .map(|((record_type, fields), value)| {
            if !record_type.eq_ignore_ascii_case(sobject) {
                return Err(RecordError::new(
                    "INVALID_TYPE",
                    format!(
                        "Record type {record_type} does not match the type {sobject} of this \
                         upsert"
                    ),
                ));
            }
            if get_field(&fields, "Id").is_some() {
                return Err(RecordError::new(
                    "INVALID_FIELD",
                    format!("Id must not be set when upserting by external id field {field}"),
                )
                .on("Id"));
            }
            let Some(value) = value else {
                return Err(
                    RecordError::new("MISSING_ARGUMENT", format!("{field} not specified"))
                        .on(field),
                );
            };
            if occurrences.get(&value.to_lowercase()).copied().unwrap_or(0) > 1 {
                return Err(RecordError::new(
                    "DUPLICATE_VALUE",
                    format!("Duplicate external id specified: {value}"),
                )
                .on(field));
            }
            let matches = index
                .get(&st.external_key(sobject, field, &value))
                .cloned()
                .unwrap_or_default();
            st.check_upsert_among(sobject, field, &value, &fields, &matches)
        })
        .collect();
    finish(st, outcomes, batch.all_or_none, true)
}

/// The whole-request checks of typed records, in document order.
fn check_types(st: &State, raw: &[u8], batch: &Batch) -> Result<(), Reply> {
    let text = String::from_utf8_lossy(raw);
    for span in jsonpos::record_fields(&text) {
        let Some((sobject, fields)) = batch.records.get(span.record) else {
            continue;
        };
        let Some(schema) = st.schema(sobject) else {
            continue;
        };
        if span.key == "attributes" || span.key.eq_ignore_ascii_case("Id") {
            continue;
        }
        let Some(field) = schema.field(&span.key) else {
            return Err(Reply::error(
                StatusCode::BAD_REQUEST,
                "INVALID_FIELD",
                format!(
                    "No such column '{}' on sobject of type {}",
                    span.key, schema.name
                ),
            ));
        };
        let Some(value) = get_field(fields, &span.key) else {
            continue;
        };
        if let Err(type_name) = check_value(field.field_type, value) {
            let shown = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            return Err(json_error(format!(
                "Cannot deserialize instance of {type_name} from {} value {shown} or request \
                 may be missing a required field at [line:{}, column:{}]",
                token_name(value),
                span.line,
                span.column
            )));
        }
    }
    Ok(())
}

fn parse(json: Body) -> Result<Batch, Reply> {
    let Value::Object(mut body) = body_value(json)? else {
        return Err(json_error(
            "Cannot deserialize instance of the collection request out of a non-object token",
        ));
    };
    let all_or_none = match body.get("allOrNone") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(json_error(format!(
                "Cannot deserialize value of type boolean (allOrNone) from {}",
                token_name(other)
            )))
        }
    };
    let records = match body.remove("records") {
        Some(Value::Array(records)) => records,
        _ => return Err(json_error("records: a list of sObjects is required")),
    };
    if records.len() > MAX_RECORDS {
        return Err(Reply::error(
            StatusCode::BAD_REQUEST,
            "EXCEEDED_ID_LIMIT",
            "record limit reached. cannot submit more than 200 records into this call",
        ));
    }
    let mut out = Vec::with_capacity(records.len());
    for (index, record) in records.into_iter().enumerate() {
        let Value::Object(mut fields) = record else {
            return Err(json_error(format!(
                "Cannot deserialize instance of SObject out of {} token (record {index})",
                token_name(&record)
            )));
        };
        let record_type = fields
            .remove("attributes")
            .and_then(|a| a.get("type").and_then(Value::as_str).map(str::to_owned));
        let Some(record_type) = record_type else {
            return Err(Reply::error(
                StatusCode::BAD_REQUEST,
                "INVALID_TYPE",
                format!("Record {index} has no attributes map with a type"),
            ));
        };
        out.push((record_type, fields));
    }
    Ok(Batch {
        all_or_none,
        records: out,
    })
}

/// Applies the valid records (unless `allOrNone` and one failed) and builds
/// the results array.
fn finish(
    st: &mut State,
    outcomes: Vec<Result<Plan, RecordError>>,
    all_or_none: bool,
    upsert: bool,
) -> Reply {
    let roll_back = all_or_none && outcomes.iter().any(Result::is_err);
    let results: Vec<Value> = outcomes
        .into_iter()
        .map(|outcome| match outcome {
            Err(e) => failure(e, upsert),
            Ok(_) if roll_back => failure(
                RecordError::new(
                    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                    "Record rolled back because not all records were valid and the request was \
                     using AllOrNone header",
                ),
                upsert,
            ),
            Ok(plan) => {
                let applied = st.apply(plan);
                let mut result = json!({ "id": applied.id, "success": true, "errors": [] });
                if upsert {
                    result["created"] = Value::Bool(applied.created);
                }
                result
            }
        })
        .collect();
    Reply::json(StatusCode::OK, Value::Array(results))
}

fn failure(e: RecordError, upsert: bool) -> Value {
    let mut result = json!({
        "success": false,
        "errors": [{ "statusCode": e.code, "message": e.message, "fields": e.fields }],
    });
    if upsert {
        result["created"] = Value::Bool(false);
    }
    result
}
