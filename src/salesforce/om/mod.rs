//! Outbound Messaging: the SOAP 1.1 request Salesforce POSTs, and our replies.
//!
//! Pure code: bytes in, values out, no I/O. [`parse()`] reads the request with
//! quick-xml as a stream under fixed bounds; [`ack`] holds the constant Ack
//! and SOAP 1.1 Fault bodies. Wire format: `../shared/docs/SALESFORCE.md`
//! sections 1-2, and `wsdl/account_outbound.wsdl` in this repository.

pub mod ack;
pub mod model;
pub mod parse;

pub use model::{Notification, OutboundMessage};
pub use parse::{parse, Error, Limits};

/// SOAP 1.1 envelope namespace.
pub const SOAP11_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// SOAP 1.2 envelope namespace (recognised only to refuse it clearly).
pub(crate) const SOAP12_NS: &str = "http://www.w3.org/2003/05/soap-envelope";
/// Namespace of `notifications`, `Notification` and `notificationsResponse`.
pub(crate) const OUTBOUND_NS: &str = "http://soap.sforce.com/2005/09/outbound";
/// Namespace of `sObject` fields in the enterprise WSDL.
pub(crate) const SOBJECT_NS: &str = "urn:sobject.enterprise.soap.sforce.com";
/// XML Schema instance namespace (`xsi:type`, `xsi:nil`).
pub(crate) const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";
