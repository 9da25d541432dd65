//! The replies Salesforce understands (SALESFORCE.md section 2).
//!
//! Only HTTP 200 with `ACK` counts as delivered. Anything else makes
//! Salesforce retry; we refuse with a SOAP 1.1 Fault on HTTP 500:
//! `soapenv:Client` for bad input, `soapenv:Server` for our own failure
//! (broker down, no publisher confirm). Fault strings are fixed texts that
//! never echo the request.

/// Content type of every SOAP reply.
pub(crate) const CONTENT_TYPE: &str = "text/xml; charset=utf-8";

/// The positive acknowledgement: `notificationsResponse` with `Ack` = true in
/// the outbound namespace (not `notifications`, a common bug).
pub(crate) const ACK: &str = concat!(
    r#"<?xml version="1.0" encoding="UTF-8"?>"#,
    r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">"#,
    r#"<soapenv:Body><notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound">"#,
    r#"<Ack>true</Ack></notificationsResponse></soapenv:Body></soapenv:Envelope>"#
);

/// Who is at fault, as SOAP 1.1 `faultcode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FaultCode {
    /// `soapenv:Client`: the request was bad; resending it unchanged fails again.
    Client,
    /// `soapenv:Server`: our failure; a retry may succeed.
    Server,
}

impl FaultCode {
    /// The qualified `faultcode` text.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            FaultCode::Client => "soapenv:Client",
            FaultCode::Server => "soapenv:Server",
        }
    }
}

/// A SOAP 1.1 Fault envelope. `reason` must be a fixed text of ours (it is
/// not escaped beyond the five XML entities, and must never carry input).
pub(crate) fn fault(code: FaultCode, reason: &str) -> String {
    let mut escaped = String::with_capacity(reason.len());
    for c in reason.chars() {
        match c {
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '&' => escaped.push_str("&amp;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            c => escaped.push(c),
        }
    }
    format!(
        concat!(
            r#"<?xml version="1.0" encoding="UTF-8"?>"#,
            r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">"#,
            r#"<soapenv:Body><soapenv:Fault><faultcode>{}</faultcode>"#,
            r#"<faultstring>{}</faultstring></soapenv:Fault></soapenv:Body></soapenv:Envelope>"#
        ),
        code.as_str(),
        escaped
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ack_is_notifications_response_in_outbound_ns() {
        assert!(ACK.contains(
            r#"<notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound"><Ack>true</Ack></notificationsResponse>"#
        ));
    }

    #[test]
    fn fault_escapes_and_names_code() {
        let f = fault(FaultCode::Server, "broker <down>");
        assert!(f.contains("<faultcode>soapenv:Server</faultcode>"));
        assert!(f.contains("<faultstring>broker &lt;down&gt;</faultstring>"));
    }
}
