//! Salesforce Outbound Messages: unsigned SOAP, so the sender is known by
//! the Organization ID inside the message, checked against the route's
//! `org_ids` once the body parsed (sans-io, [`om::parse`]). A route that
//! also wants the sender's client certificate has it checked, like every
//! route's, when the request is admitted, before its body is read.

use crate::salesforce::om::{self, OutboundMessage};

/// Why an Outbound Message was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// Not an Outbound Message the parser accepts (XML, SOAP, limits); the
    /// parser's fixed text.
    #[error(transparent)]
    Malformed(#[from] om::Error),
    /// From an Organization ID that is not in the route's `org_ids`.
    #[error("Organization ID not in org_ids")]
    WrongOrg,
}

impl Error {
    /// Metric label for `verification_failures_total{reason}`.
    pub(crate) fn reason(&self) -> &'static str {
        match self {
            Error::Malformed(_) => "malformed_message",
            Error::WrongOrg => "wrong_org",
        }
    }
}

/// Parses `body` within `limits` (the route's `parse_limits`) and checks
/// its Organization ID against `org_ids` (the route's, normalised to 18
/// characters).
///
/// # Errors
/// [`Error::Malformed`] when it does not parse, [`Error::WrongOrg`] when the
/// Organization ID is not listed.
pub(crate) fn verify(
    org_ids: &[String],
    limits: om::Limits,
    body: &[u8],
) -> Result<OutboundMessage, Error> {
    let om = om::parse(body, limits)?;
    if !org_ids.contains(&om.organization_id) {
        return Err(Error::WrongOrg);
    }
    Ok(om)
}

#[cfg(test)]
mod tests {
    use super::{verify, Error};

    const OM_1: &[u8] = include_bytes!("../../fixtures/salesforce/om_1.xml");

    #[test]
    fn only_listed_organizations_pass() {
        let org = match verify(&[], Default::default(), OM_1) {
            Err(Error::WrongOrg) => crate::salesforce::om::parse(OM_1, Default::default())
                .map(|om| om.organization_id)
                .unwrap(),
            other => panic!("unlisted org: {other:?}"),
        };
        let om = verify(std::slice::from_ref(&org), Default::default(), OM_1).unwrap();
        assert_eq!(om.organization_id, org);
        let e = verify(&[org], Default::default(), b"<not-soap/>").unwrap_err();
        assert_eq!(e.reason(), "malformed_message");
        assert_eq!(Error::WrongOrg.reason(), "wrong_org");
    }
}
