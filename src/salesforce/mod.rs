//! Salesforce: Outbound Message parsing and replies ([`om`]) and record ids ([`id`]).
//!
//! Source: `../shared/docs/SALESFORCE.md` (Salesforce's SOAP API guide, Outbound
//! Messaging chapter, and real captures).

pub mod id;
pub mod om;
pub(crate) mod rest;
