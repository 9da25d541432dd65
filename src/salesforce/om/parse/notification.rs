//! The `notifications` element: the message's own fields, each
//! `Notification` and its `sObject`'s fields, checked as Salesforce sends
//! them (ids, API names, at most `max_notifications`).

use std::collections::BTreeMap;

use super::{is_blank, truncated, Error, Ev, Ns, Reader};
use crate::salesforce::om::model::{Notification, OutboundMessage};

/// The children of `notifications`, whose start was just read.
pub(super) fn parse_notifications(r: &mut Reader<'_>) -> Result<OutboundMessage, Error> {
    let mut org = None;
    let mut action = None;
    let mut session = None;
    let mut enterprise = None;
    let mut partner = None;
    let mut notifications = Vec::new();
    loop {
        match r.next()? {
            Ev::Start(e) if e.ns == Ns::Outbound => match e.local.as_str() {
                "OrganizationId" => org = r.leaf(e.nil)?,
                "ActionId" => action = r.leaf(e.nil)?,
                "SessionId" => session = r.leaf(e.nil)?,
                "EnterpriseUrl" => enterprise = r.leaf(e.nil)?,
                "PartnerUrl" => partner = r.leaf(e.nil)?,
                "Notification" => {
                    if notifications.len() == r.limits.max_notifications {
                        return Err(Error::TooManyNotifications(r.limits.max_notifications));
                    }
                    notifications.push(parse_notification(r)?);
                }
                // Unknown elements of the outbound namespace: tolerated.
                _ => r.skip()?,
            },
            Ev::Start(_) => return Err(Error::Unexpected("notifications")),
            Ev::Text(t) if is_blank(&t) => {}
            Ev::Text(_) => return Err(Error::Unexpected("notifications")),
            Ev::End => break,
            Ev::Eof => return Err(Error::Xml(truncated())),
        }
    }
    let org = org.ok_or(Error::Missing("OrganizationId"))?;
    let organization_id = crate::salesforce::id::to_18(org.trim())
        .filter(|id| id.starts_with("00D"))
        .ok_or(Error::Invalid("OrganizationId"))?;
    let action_id = action.ok_or(Error::Missing("ActionId"))?;
    if !is_id(&action_id) {
        return Err(Error::Invalid("ActionId"));
    }
    if notifications.is_empty() {
        return Err(Error::NoNotifications);
    }
    Ok(OutboundMessage {
        organization_id,
        action_id,
        session_id: session.filter(|s| !s.is_empty()),
        enterprise_url: enterprise,
        partner_url: partner,
        notifications,
    })
}

/// One `Notification`: its `Id` and its `sObject`.
fn parse_notification(r: &mut Reader<'_>) -> Result<Notification, Error> {
    let mut id = None;
    let mut sobject = None;
    loop {
        match r.next()? {
            Ev::Start(e) if e.ns == Ns::Outbound && e.local == "Id" => id = r.leaf(e.nil)?,
            Ev::Start(e) if e.ns == Ns::Outbound && e.local == "sObject" => {
                let (ns, ty) = e.xsi_type.ok_or(Error::Missing("sObject xsi:type"))?;
                if ns != Ns::SObject || !is_api_name(&ty) {
                    return Err(Error::Invalid("sObject xsi:type"));
                }
                sobject = Some((ty, parse_fields(r)?));
            }
            Ev::Start(e) if e.ns == Ns::Outbound => r.skip()?,
            Ev::Start(_) => return Err(Error::Unexpected("Notification")),
            Ev::Text(t) if is_blank(&t) => {}
            Ev::Text(_) => return Err(Error::Unexpected("Notification")),
            Ev::End => break,
            Ev::Eof => return Err(Error::Xml(truncated())),
        }
    }
    let id = id.ok_or(Error::Missing("Notification Id"))?;
    if !is_id(&id) {
        return Err(Error::Invalid("Notification Id"));
    }
    let (sobject_type, fields) = sobject.ok_or(Error::Missing("sObject"))?;
    Ok(Notification {
        id,
        sobject_type,
        fields,
    })
}

/// The fields of an `sObject`, by API name; `None` when `xsi:nil`.
fn parse_fields(r: &mut Reader<'_>) -> Result<BTreeMap<String, Option<String>>, Error> {
    let mut fields = BTreeMap::new();
    loop {
        match r.next()? {
            Ev::Start(e) if e.ns == Ns::SObject => {
                if !is_api_name(&e.local) {
                    return Err(Error::Invalid("field name"));
                }
                let value = r.leaf(e.nil)?;
                fields.insert(e.local, value);
            }
            // Children of other namespaces: ignored, as Salesforce may add some.
            Ev::Start(_) => r.skip()?,
            Ev::Text(t) if is_blank(&t) => {}
            Ev::Text(_) => return Err(Error::Unexpected("sObject")),
            Ev::End => break,
            Ev::Eof => return Err(Error::Xml(truncated())),
        }
    }
    Ok(fields)
}

/// An 15- or 18-character Salesforce id.
fn is_id(s: &str) -> bool {
    matches!(s.len(), 15 | 18) && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// An sObject or field API name: `Account`, `Stripe_Id__c`.
fn is_api_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 80
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && s.as_bytes()[0].is_ascii_alphabetic()
}
