//! What the org says about the objects and fields the actions write,
//! fetched once at start (and by `hookgate check-config --online`):
//! `api_version` must be one the org serves (`GET /services/data/`), and
//! every sObject and field an action names must exist and be writable
//! (`describe`), before any message is consumed. Per write, the describe
//! refuses values whose JSON kind can never fit the field (no call spent)
//! and puts DateTime text in Salesforce's form. Facts:
//! `../shared/docs/SALESFORCE.md` sections 6 and 7.

use std::collections::HashMap;

use serde_json::Value;

use super::action::Write;
use super::convert;
use crate::config::worker::{ActionConfig, ActionKind, WorkerConfig};
use crate::salesforce::rest::client::Counters;
use crate::salesforce::rest::describe::Field;
use crate::salesforce::rest::{ApiError, Client, Describe};

/// A start-up check that failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Salesforce could not be asked.
    #[error("salesforce: {what}: {error}")]
    Api {
        /// What was asked.
        what: String,
        /// The failure.
        error: ApiError,
    },
    /// `api_version` is not served by the org.
    #[error("salesforce.api_version: {version} is not served by the org (it serves {served})")]
    Version {
        /// The configured version.
        version: String,
        /// The served range.
        served: String,
    },
    /// An action's sObject, field or external id does not fit the org.
    #[error("{action}: {reason}")]
    Action {
        /// `worker.actions[i] (match = "...")`.
        action: String,
        /// What is wrong.
        reason: String,
    },
}

impl Error {
    /// Why the checks could not be made when Salesforce, not the config, is
    /// the problem (token endpoint, maintenance, limits, 5xx, unreachable):
    /// the worker waits paused and asks again. `None`: the config does not
    /// fit the org.
    pub fn pause_reason(&self) -> Option<super::pause::Reason> {
        match self {
            Error::Api { error, .. } => super::pause::Reason::of(error),
            Error::Version { .. } | Error::Action { .. } => None,
        }
    }
}

/// The describes of the objects the actions write, by lower-case name.
#[derive(Debug, Default, Clone)]
pub struct Schema {
    objects: HashMap<String, Describe>,
}

impl Schema {
    /// Checks `api_version`, describes every sObject the actions writing to
    /// `org` name once and checks each such action against it (an action
    /// without `org` writes to any org).
    ///
    /// # Errors
    /// [`Error`] naming the action, or the failed call.
    pub(crate) async fn load(
        client: &Client,
        config: &WorkerConfig,
        org: &str,
    ) -> Result<Schema, Error> {
        let versions = retry(|| client.versions())
            .await
            .map_err(|error| Error::Api {
                what: "GET /services/data/".into(),
                error,
            })?;
        let version = client.api_version();
        if !versions.iter().any(|v| v.version == version) {
            let served = match (versions.first(), versions.last()) {
                (Some(a), Some(b)) => format!("{} to {}", a.version, b.version),
                _ => "none".into(),
            };
            return Err(Error::Version {
                version: version.to_owned(),
                served,
            });
        }
        let mut schema = Schema::default();
        for (i, action) in config.worker.actions.iter().enumerate() {
            if action.org.as_deref().is_some_and(|o| o != org) {
                continue;
            }
            // An update without `sobject` writes the Notification's type:
            // known only per message.
            let Some(sobject) = action.sobject.as_deref() else {
                continue;
            };
            let key = sobject.to_ascii_lowercase();
            if !schema.objects.contains_key(&key) {
                let found =
                    retry(|| client.describe(sobject))
                        .await
                        .map_err(|error| Error::Api {
                            what: format!("describe {sobject}"),
                            error,
                        })?;
                let Some(d) = found else {
                    return Err(action_error(
                        i,
                        action,
                        format!("sObject {sobject} does not exist in the org"),
                    ));
                };
                schema.objects.insert(key.clone(), d);
            }
            if let Some(d) = schema.objects.get(&key) {
                check_action(d, action).map_err(|reason| action_error(i, action, reason))?;
            }
        }
        Ok(schema)
    }

    /// Fits a write to the describe of its object (when it was described):
    /// DateTime text becomes `yyyy-MM-ddTHH:mm:ss.SSSZ`; a value whose JSON
    /// kind cannot fit its field's type is refused.
    ///
    /// # Errors
    /// `ApiError` with code `malformed` naming the field.
    pub(crate) fn prepare(&self, write: &mut Write) -> Result<(), ApiError> {
        let Some(d) = self.objects.get(&write.sobject().to_ascii_lowercase()) else {
            return Ok(());
        };
        for (name, value) in write.fields_mut().iter_mut() {
            let Some(field) = d.field(name) else {
                continue;
            };
            if field.field_type == "datetime" {
                if let Some(text) = value.as_str().and_then(convert::normalize_datetime) {
                    *value = Value::String(text);
                }
            }
            if !fits(&field.field_type, value) {
                return Err(ApiError::new(
                    "malformed",
                    format!(
                        "field {name}: {} cannot be sent to a {} field",
                        convert::shorten(value),
                        field.field_type
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// Calls `f` until it succeeds or fails for good: a retryable failure (5xx,
/// timeouts, `REQUEST_LIMIT_EXCEEDED`) is tried again up to 4 times, after
/// jittered delays from 0.2 s doubling ([`crate::backoff`]).
async fn retry<T, F, Fut>(mut f: F) -> Result<T, ApiError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ApiError>>,
{
    let delays = crate::backoff::jittered(
        std::time::Duration::from_millis(200),
        std::time::Duration::from_secs(2),
    );
    for delay in delays.take(4) {
        match f().await {
            // A hold (token endpoint, maintenance, limit) is not retried
            // here: the worker waits paused for it (`worker::checked`).
            Err(e) if e.retryable() && e.hold().is_none() => {
                tracing::warn!(error = %e, "salesforce: start-up check failed; trying again");
                tokio::time::sleep(delay).await;
            }
            other => return other,
        }
    }
    f().await
}

/// A check of [`check_online`] that failed, with the org it failed on.
#[derive(Debug, thiserror::Error)]
#[error("salesforce org {org:?}: {error}")]
pub struct OrgCheckError {
    /// The org's `name` (`default` for a lone `[salesforce]` table).
    pub org: String,
    /// What failed.
    pub error: Error,
}

/// `hookgate check-config --online`: the start-up checks of `Schema::load`
/// for every org, in config order, each with a client of its own,
/// consuming nothing.
///
/// # Errors
/// [`OrgCheckError`]: the first org whose check failed, with the
/// [`Error`] naming the action or the failed call.
pub async fn check_online(config: &WorkerConfig) -> Result<Vec<Schema>, OrgCheckError> {
    crate::tls::install_crypto_provider();
    let mut schemas = Vec::with_capacity(config.orgs.len());
    for org in &config.orgs {
        let named = |error| OrgCheckError {
            org: org.name.clone(),
            error,
        };
        let tracer = crate::telemetry::trace::Tracer::disabled();
        let client = super::org::client(org, Counters::default(), tracer).map_err(|e| {
            named(Error::Api {
                what: "HTTP client".into(),
                error: ApiError::new("CONNECT", e.to_string()),
            })
        })?;
        schemas.push(
            Schema::load(&client, config, &org.name)
                .await
                .map_err(named)?,
        );
    }
    Ok(schemas)
}

/// Every field exists and can be written: updateable for an update;
/// createable and updateable for an upsert (it inserts or updates), whose
/// key must be marked External ID.
fn check_action(d: &Describe, action: &ActionConfig) -> Result<(), String> {
    let upsert = action.kind == ActionKind::SalesforceUpsert;
    let key = action.external_id_field.as_deref();
    for name in action.fields.keys() {
        let field: &Field = d
            .field(name)
            .ok_or_else(|| format!("field {name} does not exist on {}", d.name))?;
        let is_key = key.is_some_and(|k| k.eq_ignore_ascii_case(name));
        if is_key && !field.external_id {
            return Err(format!(
                "external_id_field {name} of {} is not marked External ID",
                d.name
            ));
        }
        if upsert && !field.createable {
            return Err(format!("field {name} of {} is not createable", d.name));
        }
        if (!upsert || !is_key) && !field.updateable {
            return Err(format!("field {name} of {} is not updateable", d.name));
        }
    }
    Ok(())
}

fn action_error(i: usize, action: &ActionConfig, reason: String) -> Error {
    Error::Action {
        action: format!("worker.actions[{i}] (match = \"{}\")", action.pattern),
        reason,
    }
}

/// Whether a JSON value's kind can ever fit a field of `field_type`
/// (Salesforce's parser judges text formats; numbers and booleans pass as
/// text into text fields).
fn fits(field_type: &str, value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(_) | Value::Object(_) => false,
        Value::Bool(_) => !matches!(
            field_type,
            "int" | "double" | "currency" | "percent" | "date" | "datetime" | "time"
        ),
        Value::Number(_) => !matches!(field_type, "boolean" | "date" | "datetime" | "time"),
        Value::String(s) => match field_type {
            "boolean" => s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false"),
            "int" | "double" | "currency" | "percent" => s.trim().parse::<f64>().is_ok(),
            _ => true,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Map};

    fn describe() -> Describe {
        serde_json::from_value(json!({"name": "Payment__c", "fields": [
            {"name": "Id", "type": "id", "createable": false, "updateable": false},
            {"name": "Stripe_Id__c", "type": "string", "createable": true, "updateable": true, "externalId": true},
            {"name": "Amount__c", "type": "currency", "createable": true, "updateable": true},
            {"name": "Paid_At__c", "type": "datetime", "createable": true, "updateable": true},
            {"name": "Origin__c", "type": "string", "createable": true, "updateable": false},
            {"name": "Legacy__c", "type": "string", "createable": true, "updateable": true},
        ]}))
        .unwrap()
    }

    fn upsert(fields: &[&str], key: &str) -> ActionConfig {
        ActionConfig {
            pattern: "stripe.#".into(),
            kind: ActionKind::SalesforceUpsert,
            org: None,
            sobject: Some("Payment__c".into()),
            external_id_field: Some(key.into()),
            fields: fields
                .iter()
                .map(|f| {
                    (
                        f.to_string(),
                        crate::config::worker::FieldSpec::Text("/x".into()),
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn actions_are_checked_against_the_describe() {
        let d = describe();
        assert_eq!(
            check_action(&d, &upsert(&["Stripe_Id__c", "Amount__c"], "Stripe_Id__c")),
            Ok(())
        );
        assert_eq!(
            check_action(&d, &upsert(&["Stripe_Id__c", "Amont__c"], "Stripe_Id__c")),
            Err("field Amont__c does not exist on Payment__c".into())
        );
        assert_eq!(
            check_action(&d, &upsert(&["Stripe_Id__c", "Origin__c"], "Stripe_Id__c")),
            Err("field Origin__c of Payment__c is not updateable".into())
        );
        assert_eq!(
            check_action(&d, &upsert(&["Legacy__c"], "Legacy__c")),
            Err("external_id_field Legacy__c of Payment__c is not marked External ID".into())
        );
        assert_eq!(
            check_action(&d, &upsert(&["stripe_id__c", "Id"], "Stripe_Id__c")),
            Err("field Id of Payment__c is not createable".into())
        );
    }

    #[test]
    fn writes_are_fitted_to_the_describe() {
        let mut schema = Schema::default();
        schema.objects.insert("payment__c".into(), describe());
        let write = |amount: Value, at: Value| {
            let mut fields = Map::new();
            fields.insert("Stripe_Id__c".into(), json!("in_1"));
            fields.insert("Amount__c".into(), amount);
            fields.insert("Paid_At__c".into(), at);
            Write::Upsert {
                sobject: "Payment__c".into(),
                external_id_field: "Stripe_Id__c".into(),
                external_id: "in_1".into(),
                fields,
            }
        };
        let mut w = write(json!(12.5), json!("2026-01-02T03:04:05+01:00"));
        schema.prepare(&mut w).unwrap();
        assert_eq!(w.fields_mut()["Paid_At__c"], "2026-01-02T02:04:05.000Z");
        let mut w = write(json!("abc"), json!(null));
        let e = schema.prepare(&mut w).unwrap_err();
        assert_eq!(
            e.message,
            "field Amount__c: \"abc\" cannot be sent to a currency field"
        );
        // Text formats are Salesforce's to judge: a bad DateTime text passes.
        let mut w = write(json!("12"), json!("not a time"));
        assert!(schema.prepare(&mut w).is_ok());
        let mut w = write(json!(1), json!(true));
        assert!(schema.prepare(&mut w).is_err());
    }
}
