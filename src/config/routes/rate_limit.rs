//! `routes[].rate_limit`: a token bucket per route or per client.

use serde::Deserialize;

use super::RouteKey;
use crate::config::Error;

/// `routes[].rate_limit = { per_second = N, burst = M }`: a token bucket
/// (GCRA) refilled at `per_second` holding at most `burst`; past it the
/// route answers 429 (a SOAP Server fault for `salesforce_om`).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Sustained rate: requests admitted per second.
    pub(crate) per_second: u32,
    /// Requests admitted at once after a quiet period (the bucket's size).
    pub(crate) burst: u32,
    /// One bucket per client address (IPv6 by /64) instead of one for the
    /// whole route.
    #[serde(default)]
    pub(crate) per_client: bool,
}

/// A validated rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests admitted per second.
    pub(crate) per_second: std::num::NonZeroU32,
    /// The bucket's size.
    pub(crate) burst: std::num::NonZeroU32,
    /// A bucket per client address.
    pub(crate) per_client: bool,
}

impl RateLimitConfig {
    /// Both numbers must be positive.
    pub(super) fn validate(self, at: &RouteKey<'_>) -> Result<RateLimit, Error> {
        let positive = |key: &str, v: u32| {
            std::num::NonZeroU32::new(v)
                .ok_or_else(|| at.invalid(&format!("rate_limit.{key}"), "must be greater than 0"))
        };
        Ok(RateLimit {
            per_second: positive("per_second", self.per_second)?,
            burst: positive("burst", self.burst)?,
            per_client: self.per_client,
        })
    }
}
