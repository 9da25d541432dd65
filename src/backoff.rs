//! The one retry schedule: jittered exponential backoff (the `backon`
//! crate), with no limit on attempts. Used by the broker connection (the
//! gateway's and the worker's), the spool forwarder and the stores' reopen.

use std::time::Duration;

/// Delays from `min`, doubling up to `max`, each with random jitter; never
/// runs out (`next()` is always `Some`).
pub(crate) fn jittered(min: Duration, max: Duration) -> backon::ExponentialBackoff {
    use backon::BackoffBuilder as _;
    backon::ExponentialBuilder::default()
        .with_min_delay(min)
        .with_max_delay(max)
        .with_jitter()
        .without_max_times()
        .build()
}
