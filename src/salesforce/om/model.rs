//! Values parsed from an Outbound Message.

use std::collections::BTreeMap;

/// One Outbound Message POST: the `notifications` element.
///
/// Shape (SALESFORCE.md section 1): `OrganizationId`, `ActionId`,
/// `SessionId` (nil unless "Send Session ID" is on), `EnterpriseUrl`,
/// `PartnerUrl`, then 1 to 100 `Notification`s, all of one sObject type.
#[derive(Clone, PartialEq, Eq)]
pub struct OutboundMessage {
    /// Organization ID, normalised to 18 characters (prefix `00D`).
    pub organization_id: String,
    /// Id of the Outbound Message action that fired (prefix `04k`).
    pub action_id: String,
    /// Session token of the "User to send as"; a credential. `None` when nil.
    pub session_id: Option<String>,
    /// `https://<host>/services/Soap/c/<version>/<org id>`, as sent.
    pub(crate) enterprise_url: Option<String>,
    /// `https://<host>/services/Soap/u/<version>/<org id>`, as sent.
    pub(crate) partner_url: Option<String>,
    /// The Notifications, in document order.
    pub notifications: Vec<Notification>,
}

/// One `Notification`: the notification id and a snapshot of one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// Notification id (prefix `04l`): the idempotency key.
    pub(crate) id: String,
    /// sObject API name from `xsi:type="sf:<Object>"`, e.g. `Account`.
    pub(crate) sobject_type: String,
    /// Field name to lexical value; `None` for `xsi:nil` fields. Absent
    /// fields are simply not present. Sorted by name.
    pub(crate) fields: BTreeMap<String, Option<String>>,
}

impl std::fmt::Debug for OutboundMessage {
    /// Redacts the SessionId (a credential).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboundMessage")
            .field("organization_id", &self.organization_id)
            .field("action_id", &self.action_id)
            .field(
                "session_id",
                &self.session_id.as_ref().map(|_| "[REDACTED]"),
            )
            .field("enterprise_url", &self.enterprise_url)
            .field("partner_url", &self.partner_url)
            .field("notifications", &self.notifications)
            .finish()
    }
}
