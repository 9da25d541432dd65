//! The orgs a worker writes to, each with its own REST client (token,
//! `Sforce-Limit-Info` budget), describes and pause state, and which org a
//! message goes to:
//!
//! | message | org |
//! |---|---|
//! | Notification (`salesforce_update`) | the org whose `organization_id` is the message's (15/18 characters compared in 18-character form); a single org without `organization_id` takes all; the action's `org`, if set, must be that org |
//! | webhook (`salesforce_upsert`) | the action's `org` (the only org when it has none) |
//! | anything else | none: dead-lettered `unknown_org`, no call |

use std::time::Duration;

use serde_json::Value;

use crate::config::worker::{ActionConfig, ActionKind, OrgConfig};
use crate::salesforce::rest::client::Counters;
use crate::salesforce::rest::Client;
use crate::telemetry::trace::Tracer;

/// A REST client for `org`, counting its calls into `counters` and making
/// their spans with `tracer`.
///
/// # Errors
/// The HTTP client could not be built.
pub(crate) fn client(
    org: &OrgConfig,
    counters: Counters,
    tracer: Tracer,
) -> Result<Client, reqwest::Error> {
    let sf = &org.section;
    Client::new(
        org.auth.clone(),
        sf.login_url.clone(),
        sf.instance_url.clone(),
        sf.api_version.clone(),
        Duration::from_millis(sf.timeout_ms),
        counters,
    )
    .map(|c| c.with_tracer(tracer))
}

/// What of a Notification body decides its org and the loop guard.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Origin {
    /// `organization_id`, 18-character form (`None`: absent or not an id).
    pub(crate) organization_id: Option<String>,
    /// `sobject.LastModifiedById`, 18-character form.
    pub(crate) last_modified_by: Option<String>,
}

impl Origin {
    /// Reads a Notification body (anything else gives an empty origin).
    pub(crate) fn of(body: &[u8]) -> Origin {
        let Ok(v) = serde_json::from_slice::<Value>(body) else {
            return Origin::default();
        };
        let id = |p: &str| {
            v.pointer(p)
                .and_then(Value::as_str)
                .and_then(crate::salesforce::id::to_18)
        };
        Origin {
            organization_id: id("/organization_id"),
            last_modified_by: id("/sobject/LastModifiedById"),
        }
    }
}

/// The index of the org `action` writes `body` to; `None`: no configured
/// org (dead-lettered `unknown_org`).
pub(crate) fn route(orgs: &[OrgConfig], action: &ActionConfig, origin: &Origin) -> Option<usize> {
    let named = |name: &str| orgs.iter().position(|o| o.name == name);
    match action.kind {
        ActionKind::SalesforceUpsert => match &action.org {
            Some(name) => named(name),
            None => (orgs.len() == 1).then_some(0),
        },
        ActionKind::SalesforceUpdate => {
            let found = match (orgs, &origin.organization_id) {
                ([only], _) if only.organization_id.is_none() => Some(0),
                (_, Some(id)) => orgs
                    .iter()
                    .position(|o| o.organization_id.as_deref() == Some(id)),
                (_, None) => None,
            };
            match (&action.org, found) {
                (Some(name), Some(i)) if orgs.get(i).is_some_and(|o| o.name != *name) => None,
                (_, found) => found,
            }
        }
    }
}

/// The loop guard: the record was last modified by the org's
/// `skip_if_last_modified_by` user (the integration itself), so writing it
/// back would fire the org's automation again.
pub(crate) fn loop_guarded(org: &OrgConfig, action: &ActionConfig, origin: &Origin) -> bool {
    action.kind == ActionKind::SalesforceUpdate
        && org.skip_if_last_modified_by.is_some()
        && org.skip_if_last_modified_by == origin.last_modified_by
}

#[cfg(test)]
#[path = "tests/org.rs"]
mod tests;
