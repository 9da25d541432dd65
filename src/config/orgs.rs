//! The worker's orgs: one `[salesforce]` table or `[[salesforce.orgs]]`,
//! validated into [`OrgConfig`]s (secrets read, ids in their 18-character
//! form), and the `org` each `[[worker.actions]]` names.

use std::collections::HashSet;
use std::path::Path;

use serde::Deserialize;

use super::salesforce::SalesforceSection;
use crate::config::Error;
use crate::salesforce::rest::Auth;

/// The name of the org of a single `[salesforce]` table without `name`.
pub const DEFAULT_ORG: &str = "default";

/// One validated org.
#[derive(Debug, Clone)]
pub struct OrgConfig {
    /// Unique name (`org` of an action, the `org` metric label).
    pub(crate) name: String,
    /// 18-character Organization ID; `None` only for a single org, which
    /// then receives every Notification.
    pub(crate) organization_id: Option<String>,
    /// 18-character id of the user whose changes are not written back
    /// (loop guard).
    pub(crate) skip_if_last_modified_by: Option<String>,
    /// The org's keys as written.
    pub(crate) section: SalesforceSection,
    /// The token flow with its secrets resolved.
    pub(crate) auth: Auth,
}

/// `[salesforce]` as written: either one org's keys or `orgs`.
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub(super) struct SalesforceTable(toml::Table);

impl SalesforceTable {
    /// Takes `[[salesforce.subscriptions]]` out (`hookgate subscribe`).
    pub(super) fn take_subscriptions(&mut self) -> Option<toml::Value> {
        self.0.remove("subscriptions")
    }

    /// The orgs it configures, validated, their secrets read.
    ///
    /// # Errors
    /// [`Error`] naming the key: both forms together, a missing or
    /// duplicate `name` or `organization_id`, a bad id, a bad secret.
    pub(super) fn orgs(self, file: &Path) -> Result<Vec<OrgConfig>, Error> {
        let mut table = self.0;
        // `hookgate subscribe`'s list (`super::pubsub`), not an org key.
        table.remove("subscriptions");
        let Some(list) = table.remove("orgs") else {
            let section: SalesforceSection = toml::Value::Table(table)
                .try_into()
                .map_err(|e| Error::invalid(file, "salesforce", e.to_string()))?;
            return Ok(vec![org(file, "salesforce", section, false)?]);
        };
        if let Some(other) = table.keys().next() {
            return Err(Error::invalid(
                file,
                format!("salesforce.{other}"),
                "[salesforce] keys and [[salesforce.orgs]] together: keep one form",
            ));
        }
        let sections: Vec<SalesforceSection> = list
            .try_into()
            .map_err(|e| Error::invalid(file, "salesforce.orgs", e.to_string()))?;
        if sections.is_empty() {
            return Err(Error::invalid(file, "salesforce.orgs", "at least one org"));
        }
        let mut orgs: Vec<OrgConfig> = Vec::with_capacity(sections.len());
        let mut names = HashSet::new();
        let mut ids = HashSet::new();
        for (i, section) in sections.into_iter().enumerate() {
            let key = format!("salesforce.orgs[{i}]");
            let o = org(file, &key, section, true)?;
            if !names.insert(o.name.clone()) {
                let reason = format!("duplicate org name {:?}", o.name);
                return Err(Error::invalid(file, format!("{key}.name"), reason));
            }
            if let Some(id) = &o.organization_id {
                if !ids.insert(id.clone()) {
                    let reason = format!("{id} is already another org's");
                    return Err(Error::invalid(
                        file,
                        format!("{key}.organization_id"),
                        reason,
                    ));
                }
            }
            orgs.push(o);
        }
        Ok(orgs)
    }
}

/// One org under `key`; in the list form `name` and `organization_id` are
/// required.
fn org(
    file: &Path,
    key: &str,
    section: SalesforceSection,
    listed: bool,
) -> Result<OrgConfig, Error> {
    section.validate(file, key)?;
    let name = match (&section.name, listed) {
        (Some(n), _) if !super::is_word(n) => {
            return Err(Error::invalid(
                file,
                format!("{key}.name"),
                "1 to 64 characters of [A-Za-z0-9_-] (the org label of metrics and logs)",
            ))
        }
        (Some(n), _) => n.clone(),
        (None, false) => DEFAULT_ORG.to_owned(),
        (None, true) => return Err(Error::invalid(file, format!("{key}.name"), "required")),
    };
    let organization_id = match (&section.organization_id, listed) {
        (Some(id), _) => Some(id18(file, &format!("{key}.organization_id"), id, "00D")?),
        (None, false) => None,
        (None, true) => {
            let reason = "required in [[salesforce.orgs]] (Notifications are routed by it)";
            return Err(Error::invalid(
                file,
                format!("{key}.organization_id"),
                reason,
            ));
        }
    };
    let skip = match &section.skip_if_last_modified_by {
        Some(id) => Some(id18(
            file,
            &format!("{key}.skip_if_last_modified_by"),
            id,
            "005",
        )?),
        None => None,
    };
    let auth = section.auth(file, key)?;
    Ok(OrgConfig {
        name,
        organization_id,
        skip_if_last_modified_by: skip,
        section,
        auth,
    })
}

/// `id` in its 18-character form, which must start with `prefix` (the key
/// prefix of its object: `00D` Organization, `005` User).
fn id18(file: &Path, key: &str, id: &str, prefix: &str) -> Result<String, Error> {
    match crate::salesforce::id::to_18(id) {
        Some(id) if id.starts_with(prefix) => Ok(id),
        _ => Err(Error::invalid(
            file,
            key,
            format!("a 15- or 18-character id starting with {prefix}"),
        )),
    }
}

#[cfg(test)]
#[path = "tests/orgs.rs"]
mod tests;
