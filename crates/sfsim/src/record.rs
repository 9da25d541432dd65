//! Records as JSON field maps, per-record errors and checked writes.

use serde_json::{Map, Value};

/// The fields of a record (never `Id`, never `attributes`).
pub(super) type Fields = Map<String, Value>;

/// A per-record failure: `statusCode` in collections results, `errorCode`
/// in a single-record call's error array.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct RecordError {
    pub code: String,
    pub message: String,
    pub fields: Vec<String>,
}

impl RecordError {
    pub fn new(code: &str, message: impl Into<String>) -> RecordError {
        RecordError {
            code: code.to_owned(),
            message: message.into(),
            fields: Vec::new(),
        }
    }

    pub fn on(mut self, field: &str) -> RecordError {
        self.fields.push(field.to_owned());
        self
    }

    /// Salesforce's text for a type that does not exist.
    pub fn invalid_type(sobject: &str) -> RecordError {
        RecordError::new(
            "INVALID_TYPE",
            format!(
                "sObject type '{sobject}' is not supported. If you are attempting to use a custom \
                 object, be sure to append the '__c' after the entity name."
            ),
        )
    }

    /// Salesforce's text for an id that is not an id of `sobject`.
    pub fn malformed_id(sobject: &str, raw: &str) -> RecordError {
        RecordError::new(
            "MALFORMED_ID",
            format!("{sobject} ID: id value of incorrect type: {raw}"),
        )
        .on("Id")
    }
}

/// A checked write, applied only if the whole call may proceed.
#[derive(Debug)]
pub(super) enum Plan {
    Update {
        object: String,
        id: String,
        fields: Fields,
    },
    Create {
        object: String,
        fields: Fields,
    },
}

/// What an applied [`Plan`] did.
pub(super) struct Applied {
    pub id: String,
    pub created: bool,
}

/// An API name: a letter, then letters, digits and underscores.
pub(super) fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !s.ends_with('_')
}

/// Every field name must be an API name (there is no schema to check more).
pub(super) fn check_field_names(sobject: &str, fields: &Fields) -> Result<(), RecordError> {
    match fields.keys().find(|k| !is_identifier(k)) {
        Some(bad) => Err(RecordError::new(
            "INVALID_FIELD",
            format!("No such column '{bad}' on sobject of type {sobject}"),
        )),
        None => Ok(()),
    }
}

/// A field by case-insensitive name (field names are case-insensitive).
pub(super) fn get_field<'a>(fields: &'a Fields, name: &str) -> Option<&'a Value> {
    fields
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// Removes a field by case-insensitive name.
pub(super) fn take_field(fields: &mut Fields, name: &str) -> Option<Value> {
    let key = fields
        .keys()
        .find(|k| k.eq_ignore_ascii_case(name))?
        .clone();
    fields.remove(&key)
}

/// The text of an external id value (strings and numbers; not null).
pub(super) fn external_value(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// PATCH semantics: set each given field, keeping the stored name's case.
pub(super) fn merge(into: &mut Fields, fields: Fields) {
    for (k, v) in fields {
        match into.keys().find(|e| e.eq_ignore_ascii_case(&k)).cloned() {
            Some(existing) => {
                into.insert(existing, v);
            }
            None => {
                into.insert(k, v);
            }
        }
    }
}
