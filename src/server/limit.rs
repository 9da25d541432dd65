//! Per-route rate limits (`routes[].rate_limit`): `governor`'s GCRA, one
//! bucket for the route or one per client address.
//!
//! Per-client buckets live in a keyed store that is kept bounded: buckets
//! that refilled completely are dropped every [`PURGE_EVERY`] (they are
//! indistinguishable from new ones) and when [`MAX_CLIENTS`] are held; if
//! more than half of those are still partly spent, the store starts over
//! (every client gets a full bucket: a flood of addresses costs memory for
//! a moment, never without bound).

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::RateLimit;

/// How often per-client buckets that refilled are dropped.
pub(crate) const PURGE_EVERY: Duration = Duration::from_secs(10);
/// Most per-client buckets kept per route.
pub(crate) const MAX_CLIENTS: usize = 100_000;

/// One route's limiter.
#[derive(Debug)]
pub(crate) struct Limiter {
    /// What it was built from (a reload keeps the buckets while this is
    /// unchanged).
    config: RateLimit,
    buckets: Buckets,
}

#[derive(Debug)]
enum Buckets {
    /// One bucket for the whole route.
    Route(DefaultDirectRateLimiter),
    /// One bucket per client key (see [`client_key`]).
    PerClient {
        limiter: ArcSwap<DefaultKeyedRateLimiter<IpAddr>>,
        /// Milliseconds since `born` of the next purge.
        next_purge_ms: AtomicU64,
        born: Instant,
    },
}

impl Limiter {
    /// A limiter with full buckets.
    pub(crate) fn new(config: RateLimit) -> Limiter {
        let buckets = if config.per_client {
            Buckets::PerClient {
                limiter: ArcSwap::from_pointee(RateLimiter::keyed(quota(config))),
                next_purge_ms: AtomicU64::new(millis(PURGE_EVERY)),
                born: Instant::now(),
            }
        } else {
            Buckets::Route(RateLimiter::direct(quota(config)))
        };
        Limiter { config, buckets }
    }

    /// The configuration it was built from.
    pub(crate) fn config(&self) -> RateLimit {
        self.config
    }

    /// Admits one request from `client`, or says how long until the next
    /// one would be admitted.
    pub(crate) fn check(&self, client: IpAddr) -> Result<(), Duration> {
        let clock = DefaultClock::default();
        match &self.buckets {
            Buckets::Route(limiter) => limiter
                .check()
                .map_err(|not_until| not_until.wait_time_from(clock.now())),
            Buckets::PerClient {
                limiter,
                next_purge_ms,
                born,
            } => {
                let now_ms = millis(born.elapsed());
                let due = next_purge_ms.load(Ordering::Relaxed);
                let store = limiter.load();
                if now_ms >= due
                    && next_purge_ms
                        .compare_exchange(
                            due,
                            now_ms + millis(PURGE_EVERY),
                            Ordering::Relaxed,
                            Ordering::Relaxed,
                        )
                        .is_ok()
                {
                    store.retain_recent();
                    store.shrink_to_fit();
                }
                if store.len() >= MAX_CLIENTS {
                    store.retain_recent();
                    // Half free at least, or the next purge would come too
                    // soon: O(MAX_CLIENTS) work per MAX_CLIENTS / 2 clients.
                    if store.len() > MAX_CLIENTS / 2 {
                        tracing::warn!(
                            buckets = store.len(),
                            "too many clients with a partly used rate-limit bucket; starting over"
                        );
                        limiter.store(Arc::new(RateLimiter::keyed(quota(self.config))));
                    }
                }
                limiter
                    .load()
                    .check_key(&client_key(client))
                    .map_err(|not_until| not_until.wait_time_from(clock.now()))
            }
        }
    }

    /// Per-client buckets held now (0 for a route-wide limit).
    #[cfg(test)]
    fn clients(&self) -> usize {
        match &self.buckets {
            Buckets::Route(_) => 0,
            Buckets::PerClient { limiter, .. } => limiter.load().len(),
        }
    }
}

fn quota(config: RateLimit) -> Quota {
    Quota::per_second(config.per_second).allow_burst(config.burst)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The bucket a client address counts against: an IPv4 address (also
/// IPv4-mapped IPv6) alone, an IPv6 address by its /64 (one subscriber's
/// usual allocation: addresses within it cost nothing to change).
pub(crate) fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(bits.into())
            }
        },
    }
}

/// `Retry-After` seconds for a wait: rounded up, at least 1.
pub(crate) fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

#[cfg(test)]
mod tests {
    use super::{client_key, retry_after_secs, Limiter};
    use crate::config::RateLimit;
    use std::net::IpAddr;
    use std::num::NonZeroU32;
    use std::time::Duration;

    fn limit(per_second: u32, burst: u32, per_client: bool) -> RateLimit {
        RateLimit {
            per_second: NonZeroU32::new(per_second).unwrap(),
            burst: NonZeroU32::new(burst).unwrap(),
            per_client,
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_burst_passes_then_the_wait_is_about_one_token() {
        let l = Limiter::new(limit(1, 3, false));
        for _ in 0..3 {
            assert!(l.check(ip("192.0.2.1")).is_ok());
        }
        let wait = l.check(ip("192.0.2.2")).expect_err("a route-wide bucket");
        assert!(wait <= Duration::from_secs(1), "{wait:?}");
        assert_eq!(retry_after_secs(wait), 1);
        assert_eq!(l.clients(), 0);
    }

    #[test]
    fn per_client_buckets_are_separate_and_ipv6_counts_by_64() {
        let l = Limiter::new(limit(1, 1, true));
        assert!(l.check(ip("192.0.2.1")).is_ok());
        assert!(l.check(ip("192.0.2.1")).is_err());
        assert!(l.check(ip("192.0.2.2")).is_ok(), "another client");
        assert!(l.check(ip("::ffff:192.0.2.2")).is_err(), "the same, mapped");
        assert!(l.check(ip("2001:db8:1:2::1")).is_ok());
        assert!(l.check(ip("2001:db8:1:2:ffff::9")).is_err(), "same /64");
        assert!(l.check(ip("2001:db8:1:3::1")).is_ok(), "another /64");
        assert_eq!(l.clients(), 4);
    }

    #[test]
    fn client_keys_and_retry_after_rounding() {
        assert_eq!(client_key(ip("192.0.2.7")), ip("192.0.2.7"));
        assert_eq!(client_key(ip("::ffff:192.0.2.7")), ip("192.0.2.7"));
        assert_eq!(client_key(ip("2001:db8::1:2:3:4")), ip("2001:db8::"));
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(2)), 2);
        assert_eq!(retry_after_secs(Duration::from_millis(2001)), 3);
    }
}
