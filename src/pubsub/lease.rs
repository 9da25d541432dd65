//! One subscriber at a time per subscription, when a fleet shares the Redis
//! replay store: a lease, `SET <key_prefix><name>:lease <instance> NX PX
//! <lease_s>`, renewed every third of its life by its holder (a Lua
//! compare-and-expire), released at shutdown. A process that cannot take it
//! waits as a standby and tries again every third of the lease; one whose
//! renewal fails stops its stream at once (a publish already in flight may
//! then be repeated by the next holder: a duplicate, never a gap, since the
//! position only moves after confirms).
//!
//! The embedded store needs none: redb refuses a second process the file
//! (`DatabaseAlreadyOpen`), so a second subscriber does not start.

use std::time::{Duration, Instant};

use tokio::sync::watch;

/// Renews the lease if this instance holds it: 1, else 0.
const RENEW: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
    return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end";
/// Deletes the lease if this instance holds it.
const RELEASE: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
    return redis.call('DEL', KEYS[1]) else return 0 end";

/// A subscription's lease, or none (embedded store).
#[derive(Clone)]
pub(crate) enum Lease {
    /// No lease needed.
    None,
    /// A Redis lease.
    Redis {
        /// The shared connection.
        conn: redis::aio::ConnectionManager,
        /// `<key_prefix><name>:lease`.
        key: String,
        /// This process's id (`<host>-<pid>-<random>`).
        me: String,
        /// Its lifetime.
        ttl: Duration,
    },
}

impl Lease {
    /// Waits until this instance holds the lease (at once for [`Lease::None`]).
    /// False on shutdown.
    pub(crate) async fn acquire(&self, shutdown: &mut watch::Receiver<bool>) -> bool {
        let Lease::Redis { conn, key, me, ttl } = self else {
            return true;
        };
        let mut waited = false;
        loop {
            if *shutdown.borrow() {
                return false;
            }
            let set: Result<Option<String>, _> = redis::cmd("SET")
                .arg(key)
                .arg(me)
                .arg("NX")
                .arg("PX")
                .arg(millis(*ttl))
                .query_async(&mut conn.clone())
                .await;
            // A renewal that raced a restart of ours counts as held too.
            if matches!(set, Ok(Some(_))) || self.renew().await {
                if waited {
                    tracing::info!(lease = %key, "lease taken: this instance subscribes now");
                }
                return true;
            }
            if !waited {
                tracing::info!(lease = %key, "another instance holds the lease: standing by");
                waited = true;
            }
            tokio::select! {
                _ = tokio::time::sleep(*ttl / 3) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    /// Renews the lease every third of its life; returns when it was lost
    /// (another holder, or no successful renewal within its lifetime).
    /// Never returns for [`Lease::None`].
    pub(crate) async fn lost(&self) {
        let Lease::Redis { key, ttl, .. } = self else {
            return std::future::pending().await;
        };
        let mut renewed = Instant::now();
        loop {
            tokio::time::sleep(*ttl / 3).await;
            match self.try_renew().await {
                Ok(true) => renewed = Instant::now(),
                Ok(false) => {
                    tracing::warn!(lease = %key, "lease taken by another instance: stopping the stream");
                    return;
                }
                Err(e) if renewed.elapsed() >= *ttl => {
                    tracing::warn!(lease = %key, error = %e, "lease not renewed within its lifetime: stopping the stream");
                    return;
                }
                Err(_) => {}
            }
        }
    }

    /// Gives the lease up (at shutdown), if held.
    pub(crate) async fn release(&self) {
        if let Lease::Redis { conn, key, me, .. } = self {
            let _: Result<i64, _> = redis::cmd("EVAL")
                .arg(RELEASE)
                .arg(1)
                .arg(key)
                .arg(me)
                .query_async(&mut conn.clone())
                .await;
        }
    }

    async fn renew(&self) -> bool {
        matches!(self.try_renew().await, Ok(true))
    }

    async fn try_renew(&self) -> Result<bool, redis::RedisError> {
        let Lease::Redis { conn, key, me, ttl } = self else {
            return Ok(true);
        };
        let n: i64 = redis::cmd("EVAL")
            .arg(RENEW)
            .arg(1)
            .arg(key)
            .arg(me)
            .arg(millis(*ttl))
            .query_async(&mut conn.clone())
            .await?;
        Ok(n == 1)
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// This process's lease holder id: `<pid>-<64 random bits, hex>`, unique
/// per start (ring's system RNG).
pub(crate) fn instance_id() -> String {
    use ring::rand::SecureRandom as _;
    let mut b = [0u8; 8];
    let _ = ring::rand::SystemRandom::new().fill(&mut b);
    format!("{}-{}", std::process::id(), hex::encode(b))
}
