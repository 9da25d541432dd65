//! The `fields` of a `[[worker.actions]]`: literal text, templates, JSON
//! Pointers and typed pointers.

use serde::Deserialize;

/// One entry of an action's `fields`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub(crate) enum FieldSpec {
    /// Literal text, a template (update) or a JSON Pointer (upsert): the
    /// value is sent as the body holds it.
    Text(String),
    /// A JSON Pointer whose value is converted to `type` (upsert only).
    Typed(TypedField),
}

/// `{ pointer = "/data/object/amount_paid", type = "number", scale = 0.01 }`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TypedField {
    /// JSON Pointer (RFC 6901) into the webhook body.
    pub(crate) pointer: String,
    /// What the value becomes; absent: sent as the body holds it.
    #[serde(rename = "type")]
    pub(crate) value_type: Option<ValueType>,
    /// `number` only: the value is multiplied by this (0.01: cents to units).
    pub(crate) scale: Option<f64>,
}

/// The type a typed field's value is converted to before it is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ValueType {
    /// A JSON number (from a number or numeric text), times `scale`.
    Number,
    /// `true`/`false` (from a boolean, "true"/"false", 1/0).
    Boolean,
    /// `yyyy-MM-dd` (from that, an RFC 3339 timestamp or Unix seconds, UTC).
    Date,
    /// `yyyy-MM-ddTHH:mm:ss.SSSZ` (from RFC 3339 or Unix seconds).
    Datetime,
    /// Text (from text, a number or a boolean).
    String,
}

impl FieldSpec {
    /// The JSON Pointer this field reads, if it reads the body.
    pub(crate) fn pointer(&self) -> Option<&str> {
        match self {
            FieldSpec::Text(s) if s.starts_with('/') => Some(s),
            FieldSpec::Text(_) => None,
            FieldSpec::Typed(t) => Some(&t.pointer),
        }
    }
}

impl TypedField {
    /// A pointer, and a positive finite `scale` on numbers only.
    pub(super) fn validate(&self) -> Result<(), String> {
        if !self.pointer.starts_with('/') {
            return Err("pointer must be a JSON Pointer starting with /".into());
        }
        match (self.scale, self.value_type) {
            (None, _) => Ok(()),
            (Some(s), Some(ValueType::Number)) if s.is_finite() && s > 0.0 => Ok(()),
            (Some(_), Some(ValueType::Number)) => Err("scale must be a positive number".into()),
            (Some(_), _) => Err("scale is for type = \"number\" only".into()),
        }
    }
}
