//! `routes[].parse_limits` (kind `salesforce_om`): the Outbound Message
//! parser's bounds for one route.
//!
//! Salesforce sends up to 100 Notifications per POST, each with the fields
//! the Outbound Message action selected, and a Long Text Area holds up to
//! 131,072 characters (`../shared/docs/SALESFORCE.md` §1; Salesforce Help,
//! "Custom Field Types"). A message refused here is retried by Salesforce for
//! 24 h and then dropped, so the defaults accept 100 Notifications of 150
//! fields with a 131,072-character value; a route for wider objects raises
//! them.

use serde::Deserialize;

use super::RouteKey;
use crate::config::Error;
use crate::salesforce::om::Limits;

/// `routes[].parse_limits = { max_notifications, max_elements, max_text_bytes }`.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParseLimitsConfig {
    /// Notifications in one message (1..=100 is what Salesforce sends;
    /// at most 1,000 accepted).
    pub(crate) max_notifications: Option<usize>,
    /// Elements in the whole document (at least 16).
    pub(crate) max_elements: Option<usize>,
    /// Bytes of one text value after entity decoding (at least 1,024).
    pub(crate) max_text_bytes: Option<usize>,
}

impl ParseLimitsConfig {
    /// The route's limits over [`Limits::default`] (32,768 elements,
    /// 524,288 text bytes, 100 Notifications).
    ///
    /// # Errors
    /// [`Error::Invalid`] naming `routes[i].parse_limits.<key>` when a value
    /// is out of its range.
    pub(super) fn validate(self, at: &RouteKey<'_>) -> Result<Limits, Error> {
        let mut limits = Limits::default();
        let checks = [
            ("max_notifications", self.max_notifications, 1, 1_000),
            ("max_elements", self.max_elements, 16, 10_000_000),
            (
                "max_text_bytes",
                self.max_text_bytes,
                1_024,
                64 * 1024 * 1024,
            ),
        ];
        for (key, value, min, max) in checks {
            let Some(v) = value else { continue };
            if !(min..=max).contains(&v) {
                return Err(at.invalid(
                    &format!("parse_limits.{key}"),
                    format!("must be between {min} and {max}"),
                ));
            }
            match key {
                "max_notifications" => limits.max_notifications = v,
                "max_elements" => limits.max_elements = v,
                _ => limits.max_text_bytes = v,
            }
        }
        Ok(limits)
    }
}
