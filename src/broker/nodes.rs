//! Which broker node the connection manager (`super::connect`) tries next,
//! and when a connection's nacks say it should move on.
//!
//! `amqp.urls` lists a cluster's nodes (`amqp.url` is the one-node list).
//! The manager tries them round-robin from a random start, so a fleet of
//! gateways and workers spreads over the cluster; a connection that ends
//! moves it to the next node, and only after a full round of failed
//! attempts does it wait the jittered backoff (`crate::backoff`). With one
//! node this is the single-broker behaviour: reconnect at once after a
//! loss, back off between failed attempts.
//!
//! A node that just lost a cluster peer can nack every publish on a channel
//! opened within milliseconds of the death, until it notices the death
//! (RabbitMQ 3.10): with several nodes, [`NackStreak`] counts the nacks on
//! a connection before its first ack, and [`NACK_STREAK`] of them close it,
//! so the manager backs off and connects to the next node instead of
//! feeding the spool messages that are never confirmed. A connection that
//! has confirmed anything is healthy: its nacks are per-message refusals (a
//! `reject-publish` queue that is full) and never close it, nor does a
//! streak with one node (there is nowhere else to go).

use std::hash::{BuildHasher as _, Hasher as _};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::config::AmqpConfig;

/// Nacks before the first ack after which a connection to one of several
/// nodes is closed and the manager reconnects, after a backoff delay, to
/// the next node.
pub(crate) const NACK_STREAK: u32 = 16;

/// The nodes' URIs and where the rotation stands.
pub(super) struct Nodes {
    urls: Vec<String>,
    /// Index of the node the next attempt goes to.
    next: usize,
    /// Failed attempts since the last connection (or the last backoff).
    failed: usize,
}

impl Nodes {
    /// Rotation over the nodes of `config` (`amqp.urls`, or `amqp.url`
    /// alone) starting at a random node.
    pub(super) fn shuffled(config: &AmqpConfig) -> Self {
        let urls = config.nodes().into_iter().map(str::to_owned).collect();
        Nodes::starting_at(urls, random() as usize)
    }

    /// Rotation over `urls` starting at `start` (modulo their count).
    pub(super) fn starting_at(urls: Vec<String>, start: usize) -> Self {
        let next = if urls.is_empty() {
            0
        } else {
            start % urls.len()
        };
        Nodes {
            urls,
            next,
            failed: 0,
        }
    }

    /// How many nodes there are.
    pub(super) fn len(&self) -> usize {
        self.urls.len()
    }

    /// The node the next attempt goes to: its index and URI.
    pub(super) fn current(&self) -> (usize, &str) {
        let url = self.urls.get(self.next).map(String::as_str).unwrap_or("");
        (self.next, url)
    }

    /// The attempt on the current node failed: moves to the next node.
    /// `true` when every node failed since the last connection (or since the
    /// last `true`): the caller backs off before the next round.
    pub(super) fn failed(&mut self) -> bool {
        self.step();
        self.failed += 1;
        if self.failed >= self.urls.len() {
            self.failed = 0;
            true
        } else {
            false
        }
    }

    /// The connection to the current node ended: the next attempt goes to
    /// the next node, and a new round of attempts starts.
    pub(super) fn ended(&mut self) {
        self.step();
        self.failed = 0;
    }

    fn step(&mut self) {
        if !self.urls.is_empty() {
            self.next = (self.next + 1) % self.urls.len();
        }
    }
}

/// A random number from the standard library's per-process hash keys.
fn random() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(u64::from(std::process::id()));
    h.finish()
}

/// The nacks on one connection before its first ack.
#[derive(Debug, Default)]
pub(crate) struct NackStreak {
    run: AtomicU32,
}

/// [`NackStreak::run`] once the connection acked a message: never trips.
const ACKED: u32 = u32::MAX;

impl NackStreak {
    /// Records one confirm: `acked` or nacked. `true` exactly once, when
    /// the nacks reach [`NACK_STREAK`] before any ack.
    pub(crate) fn record(&self, acked: bool) -> bool {
        if acked {
            self.run.store(ACKED, Ordering::Relaxed);
            return false;
        }
        self.run
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n != ACKED).then(|| n + 1)
            })
            .is_ok_and(|n| n + 1 == NACK_STREAK)
    }
}

#[cfg(test)]
mod tests;
