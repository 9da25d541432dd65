//! Actions: which messages become which Salesforce writes. Pure code.

use serde_json::{Map, Value};

use super::convert;
pub(crate) use crate::config::pattern::Pattern;
use crate::config::worker::{ActionConfig, ActionKind, FieldSpec};

/// What shares a collections call: (operation, sObject, external id field).
pub(crate) type BatchKey = (&'static str, String, Option<String>);

/// A Salesforce write derived from one message.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Write {
    /// Update by Id: goes to `PATCH composite/sobjects`.
    Update {
        /// sObject type.
        sobject: String,
        /// Record Id.
        id: String,
        /// Fields to set.
        fields: Map<String, Value>,
    },
    /// Upsert by external id: `PATCH composite/sobjects/{Obj}/{Field}`.
    Upsert {
        /// sObject type.
        sobject: String,
        /// External id field.
        external_id_field: String,
        /// External id value (also in `fields`).
        external_id: String,
        /// Fields to set (including the external id field).
        fields: Map<String, Value>,
    },
}

impl Write {
    /// Messages whose writes share a batch key go into one collections
    /// call: one sObject type per call, so a call never has more than one
    /// type chunk and never mixes setup objects (User, ...) with others.
    pub(crate) fn batch_key(&self) -> BatchKey {
        match self {
            Write::Update { sobject, .. } => ("update", sobject.clone(), None),
            Write::Upsert {
                sobject,
                external_id_field,
                ..
            } => ("upsert", sobject.clone(), Some(external_id_field.clone())),
        }
    }

    /// The sObject written.
    pub(crate) fn sobject(&self) -> &str {
        match self {
            Write::Update { sobject, .. } | Write::Upsert { sobject, .. } => sobject,
        }
    }

    /// The fields set (for an upsert, with the external id field).
    pub(crate) fn fields_mut(&mut self) -> &mut Map<String, Value> {
        match self {
            Write::Update { fields, .. } | Write::Upsert { fields, .. } => fields,
        }
    }

    /// The record this write touches (two writes to one record never share
    /// a call).
    pub(crate) fn record_key(&self) -> String {
        match self {
            Write::Update { sobject, id, .. } => format!("{sobject}/{id}"),
            Write::Upsert {
                sobject,
                external_id_field,
                external_id,
                ..
            } => format!("{sobject}/{external_id_field}/{external_id}"),
        }
    }

    /// The collections record: `{"attributes":{"type":Obj}, "id"?, fields...}`.
    pub(crate) fn record(&self) -> Value {
        let (sobject, id, fields) = match self {
            Write::Update {
                sobject,
                id,
                fields,
            } => (sobject, Some(id), fields),
            Write::Upsert {
                sobject, fields, ..
            } => (sobject, None, fields),
        };
        let mut m = Map::new();
        m.insert("attributes".into(), serde_json::json!({ "type": sobject }));
        if let Some(id) = id {
            m.insert("id".into(), Value::String(id.clone()));
        }
        for (k, v) in fields {
            m.insert(k.clone(), v.clone());
        }
        Value::Object(m)
    }
}

/// Why a message cannot become a write: permanent, dead-lettered at once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Error {
    /// The body is not the JSON the action needs.
    #[error("malformed body: {0}")]
    Body(&'static str),
    /// A JSON Pointer of `fields` points at nothing.
    #[error("missing {pointer} for field {field}")]
    MissingPointer {
        /// The sObject field.
        field: String,
        /// The pointer.
        pointer: String,
    },
    /// A typed field's value does not convert to its declared type.
    #[error("field {field} ({pointer}): {source}")]
    Convert {
        /// The sObject field.
        field: String,
        /// The pointer.
        pointer: String,
        /// What did not convert.
        source: convert::Error,
    },
}

/// Context for update placeholders.
pub(crate) struct Context<'a> {
    /// AMQP message_id.
    pub(crate) message_id: &'a str,
    /// `x-hookgate-received-at` (RFC 3339).
    pub(crate) received_at: &'a str,
}

/// Builds the write for a message under `action`.
///
/// # Errors
/// [`Error`] when the body lacks what the action needs.
pub(crate) fn build(action: &ActionConfig, body: &[u8], ctx: &Context<'_>) -> Result<Write, Error> {
    let v: Value = serde_json::from_slice(body).map_err(|_| Error::Body("not JSON"))?;
    match action.kind {
        ActionKind::SalesforceUpdate => {
            let text = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("");
            let sobject = action
                .sobject
                .clone()
                .unwrap_or_else(|| text("sobject_type").to_owned());
            let id = v
                .pointer("/sobject/Id")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .ok_or(Error::Body(
                    "no sobject.Id (not an Outbound Message Notification)",
                ))?;
            if sobject.is_empty() {
                return Err(Error::Body("no sobject_type"));
            }
            let mut fields = Map::new();
            for (name, spec) in &action.fields {
                // Typed fields are refused for updates by the config.
                let FieldSpec::Text(template) = spec else {
                    continue;
                };
                let value = template
                    .replace("{received_at}", ctx.received_at)
                    .replace("{message_id}", ctx.message_id)
                    .replace("{notification_id}", text("notification_id"))
                    .replace("{organization_id}", text("organization_id"))
                    .replace("{action_id}", text("action_id"))
                    .replace("{sobject_type}", text("sobject_type"));
                fields.insert(name.clone(), Value::String(value));
            }
            Ok(Write::Update {
                sobject,
                id: id.to_owned(),
                fields,
            })
        }
        ActionKind::SalesforceUpsert => {
            let sobject = action.sobject.clone().unwrap_or_default();
            let ext = action.external_id_field.clone().unwrap_or_default();
            let mut fields = Map::new();
            for (name, spec) in &action.fields {
                fields.insert(name.clone(), field_value(&v, name, spec)?);
            }
            let external_id = match fields.get(&ext) {
                Some(Value::String(s)) if !s.is_empty() => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                _ => return Err(Error::Body("external id is not a string or number")),
            };
            Ok(Write::Upsert {
                sobject,
                external_id_field: ext,
                external_id,
                fields,
            })
        }
    }
}

/// An upsert field's value: literal text, the value at a pointer, or that
/// value converted to its declared type.
fn field_value(body: &Value, name: &str, spec: &FieldSpec) -> Result<Value, Error> {
    let Some(pointer) = spec.pointer() else {
        return match spec {
            FieldSpec::Text(text) => Ok(Value::String(text.clone())),
            FieldSpec::Typed(_) => Err(Error::Body("typed field without a pointer")),
        };
    };
    let raw = body
        .pointer(pointer)
        .filter(|x| !x.is_null())
        .ok_or_else(|| Error::MissingPointer {
            field: name.to_owned(),
            pointer: pointer.to_owned(),
        })?;
    match spec {
        FieldSpec::Typed(t) => match t.value_type {
            Some(to) => convert::convert(raw, to, t.scale).map_err(|source| Error::Convert {
                field: name.to_owned(),
                pointer: pointer.to_owned(),
                source,
            }),
            None => Ok(raw.clone()),
        },
        FieldSpec::Text(_) => Ok(raw.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action(kind: ActionKind, fields: &[(&str, &str)]) -> ActionConfig {
        ActionConfig {
            pattern: "#".into(),
            kind,
            org: None,
            sobject: (kind == ActionKind::SalesforceUpsert).then(|| "Payment__c".into()),
            external_id_field: (kind == ActionKind::SalesforceUpsert)
                .then(|| "Stripe_Id__c".into()),
            fields: fields
                .iter()
                .map(|(a, b)| (a.to_string(), FieldSpec::Text(b.to_string())))
                .collect(),
        }
    }

    #[test]
    fn update_from_notification() {
        let body = br#"{"organization_id":"00D000000000001EAA","action_id":"04k","notification_id":"04lN","sobject_type":"Account","sobject":{"Id":"001A"}}"#;
        let a = action(
            ActionKind::SalesforceUpdate,
            &[
                ("Integration_Status__c", "Received"),
                ("Last_Synced__c", "{received_at}"),
                ("Note__c", "{notification_id}"),
            ],
        );
        let w = build(
            &a,
            body,
            &Context {
                message_id: "04lN",
                received_at: "2026-01-01T00:00:00Z",
            },
        )
        .unwrap();
        assert_eq!(
            w.record(),
            serde_json::json!({"attributes":{"type":"Account"},"id":"001A","Integration_Status__c":"Received","Last_Synced__c":"2026-01-01T00:00:00Z","Note__c":"04lN"})
        );
        assert!(build(
            &a,
            br#"{"sobject":{}}"#,
            &Context {
                message_id: "x",
                received_at: ""
            }
        )
        .is_err());
    }

    #[test]
    fn upsert_from_pointers() {
        let body = br#"{"id":"evt_1","data":{"object":{"id":"in_1","amount_paid":1200}}}"#;
        let a = action(
            ActionKind::SalesforceUpsert,
            &[
                ("Stripe_Id__c", "/data/object/id"),
                ("Amount__c", "/data/object/amount_paid"),
                ("Source__c", "stripe"),
            ],
        );
        let ctx = Context {
            message_id: "evt_1",
            received_at: "",
        };
        let w = build(&a, body, &ctx).unwrap();
        assert_eq!(w.record_key(), "Payment__c/Stripe_Id__c/in_1");
        assert_eq!(
            w.record(),
            serde_json::json!({"attributes":{"type":"Payment__c"},"Stripe_Id__c":"in_1","Amount__c":1200,"Source__c":"stripe"})
        );
        let missing = build(&a, br#"{"data":{"object":{"id":"in_1"}}}"#, &ctx).unwrap_err();
        assert_eq!(
            missing,
            Error::MissingPointer {
                field: "Amount__c".into(),
                pointer: "/data/object/amount_paid".into()
            }
        );
        assert_eq!(
            build(&a, b"not json", &ctx).unwrap_err(),
            Error::Body("not JSON")
        );
    }

    #[test]
    fn typed_fields_convert_or_refuse() {
        use crate::config::worker::{TypedField, ValueType};
        let mut a = action(ActionKind::SalesforceUpsert, &[("Stripe_Id__c", "/id")]);
        let typed = |pointer: &str, t, scale| {
            FieldSpec::Typed(TypedField {
                pointer: pointer.into(),
                value_type: Some(t),
                scale,
            })
        };
        a.fields.insert(
            "Amount__c".into(),
            typed("/amount", ValueType::Number, Some(0.01)),
        );
        a.fields
            .insert("Paid__c".into(), typed("/paid", ValueType::Boolean, None));
        a.fields
            .insert("Paid_At__c".into(), typed("/at", ValueType::Datetime, None));
        let ctx = Context {
            message_id: "m",
            received_at: "",
        };
        let w = build(
            &a,
            br#"{"id":"in_1","amount":1999,"paid":"true","at":1700000000}"#,
            &ctx,
        )
        .unwrap();
        assert_eq!(
            w.record(),
            serde_json::json!({"attributes":{"type":"Payment__c"},"Stripe_Id__c":"in_1","Amount__c":19.99,"Paid__c":true,"Paid_At__c":"2023-11-14T22:13:20.000Z"})
        );
        let e = build(
            &a,
            br#"{"id":"in_1","amount":"n/a","paid":true,"at":1}"#,
            &ctx,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "field Amount__c (/amount): \"n/a\" is not a number"
        );
    }
}
