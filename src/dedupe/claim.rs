//! Claims: the keys a request is storing right now, so that an identical
//! request arriving meanwhile (a sender's retry after its own timeout, on
//! this gateway or, with Redis, on another one) waits for the first one's
//! outcome instead of being published a second time.
//!
//! A claim is taken in the same step as the lookup (embedded: under the
//! pending set's lock; Redis: `SET key pending NX PX <hold>` in the lookup's
//! round trip), turns into the mark when the messages are stored
//! ([`Cache::record`] overwrites it) and is given back when they are not
//! ([`Claims`] releases on drop). A claim whose holder died (a crashed
//! gateway, a dropped connection whose release did not run) ends by itself
//! after its hold, the request deadline.

use std::time::Duration;

use super::{err, now_ms, Cache, Embedded, Error, REDIS_PREFIX};

/// The Redis value of a claim (a stored key's mark is `1`).
const CLAIMED: &str = "pending";

/// What [`Cache::claim_all`] found for one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Claim {
    /// Nobody had it: it is now claimed by this request.
    Claimed,
    /// Recorded within its TTL: a replay.
    Seen,
    /// Claimed by another request still in flight.
    Pending,
}

impl Cache {
    /// For each of `keys`, whether it was recorded ([`Claim::Seen`]), is
    /// claimed by a request in flight ([`Claim::Pending`]), or was neither
    /// and is now claimed for `hold` ([`Claim::Claimed`]). One read
    /// transaction (embedded) or one Redis round trip for all of them.
    ///
    /// # Errors
    /// [`Error`] when the store fails (nothing is claimed then).
    pub(crate) async fn claim_all(
        &self,
        keys: &[String],
        hold: Duration,
    ) -> Result<Vec<Claim>, Error> {
        let now = now_ms();
        let until = now.saturating_add(u64::try_from(hold.as_millis()).unwrap_or(u64::MAX));
        match self {
            Cache::Embedded(e) => {
                // Marks and claims first, then the file: a mark leaves the
                // pending set only after its commit, so one of the two has
                // it. A key found in neither is claimed under the lock, so
                // a second request sees the claim.
                let mut claims: Vec<Claim> = {
                    let mut pending = e.pending.lock().map_err(err)?;
                    keys.iter()
                        .map(|k| {
                            if pending.seen.get(k).is_some_and(|&u| u > now) {
                                Claim::Seen
                            } else if pending.claims.get(k).is_some_and(|&u| u > now) {
                                Claim::Pending
                            } else {
                                pending.claims.insert(k.clone(), until);
                                Claim::Claimed
                            }
                        })
                        .collect()
                };
                let mut seen: Vec<bool> = claims.iter().map(|c| *c != Claim::Claimed).collect();
                let looked_up = e.in_file(keys, &mut seen, now);
                let mut pending = e.pending.lock().map_err(err)?;
                for ((k, c), in_file) in keys.iter().zip(claims.iter_mut()).zip(seen) {
                    if *c == Claim::Claimed && (in_file || looked_up.is_err()) {
                        pending.claims.remove(k);
                        *c = Claim::Seen;
                    }
                }
                drop(pending);
                looked_up.map(|()| claims)
            }
            Cache::Redis(conn) => {
                let mut conn = conn.clone();
                let mut pipe = redis::pipe();
                for k in keys {
                    let key = format!("{REDIS_PREFIX}{k}");
                    pipe.cmd("SET")
                        .arg(&key)
                        .arg(CLAIMED)
                        .arg("NX")
                        .arg("PX")
                        .arg(until - now)
                        .cmd("GET")
                        .arg(&key);
                }
                let answers: Vec<(Option<String>, Option<String>)> =
                    pipe.query_async(&mut conn).await.map_err(err)?;
                Ok(answers
                    .into_iter()
                    .map(|(set, value)| match (set, value.as_deref()) {
                        (Some(_), _) => Claim::Claimed,
                        // Gone between the two commands: a claim that
                        // was released; asked again.
                        (None, None | Some(CLAIMED)) => Claim::Pending,
                        (None, Some(_)) => Claim::Seen,
                    })
                    .collect())
            }
        }
    }

    /// Gives back the claims on `keys` (their messages were not stored).
    ///
    /// # Errors
    /// [`Error`] when the store fails (the claims then end after their
    /// hold).
    pub(crate) async fn release(&self, keys: &[String]) -> Result<(), Error> {
        match self {
            Cache::Embedded(e) => e.release(keys),
            Cache::Redis(conn) => {
                let mut conn = conn.clone();
                let mut pipe = redis::pipe();
                for k in keys {
                    // Only a claim: a mark written meanwhile stays.
                    pipe.cmd("EVAL")
                        .arg(RELEASE)
                        .arg(1)
                        .arg(format!("{REDIS_PREFIX}{k}"))
                        .arg(CLAIMED)
                        .ignore();
                }
                pipe.query_async::<()>(&mut conn).await.map_err(err)
            }
        }
    }
}

impl Embedded {
    /// Removes the claims on `keys`.
    fn release(&self, keys: &[String]) -> Result<(), Error> {
        let mut pending = self.pending.lock().map_err(err)?;
        for k in keys {
            pending.claims.remove(k);
        }
        Ok(())
    }
}

/// Deletes KEYS[1] when its value is ARGV[1] (a claim, not a mark).
const RELEASE: &str =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

/// The keys one request claimed: released when dropped unless
/// [`Claims::stored`] was called (the cache's record took them over).
pub(crate) struct Claims {
    cache: Cache,
    keys: Vec<String>,
}

impl Claims {
    /// Holds the claims on `keys` in `cache`.
    pub(crate) fn new(cache: Cache, keys: Vec<String>) -> Claims {
        Claims { cache, keys }
    }

    /// Adds the claim on `key`.
    pub(crate) fn add(&mut self, key: String) {
        self.keys.push(key);
    }

    /// The claims' keys were recorded: nothing to release.
    pub(crate) fn stored(mut self) {
        self.keys.clear();
    }
}

impl Drop for Claims {
    fn drop(&mut self) {
        if self.keys.is_empty() {
            return;
        }
        let keys = std::mem::take(&mut self.keys);
        match &self.cache {
            // In memory: at once, no runtime needed.
            Cache::Embedded(e) => {
                if let Err(e) = e.release(&keys) {
                    tracing::warn!(error = %e, "replay cache: claim not released; it ends after its hold");
                }
            }
            Cache::Redis(_) => {
                let cache = self.cache.clone();
                let Ok(rt) = tokio::runtime::Handle::try_current() else {
                    return;
                };
                rt.spawn(async move {
                    if let Err(e) = cache.release(&keys).await {
                        tracing::warn!(error = %e, "replay cache: claim not released; it ends after its hold");
                    }
                });
            }
        }
    }
}

#[cfg(test)]
mod tests;
