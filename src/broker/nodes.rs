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
//! (RabbitMQ 3.10): [`NackStreak`] counts nacks in a row on one connection,
//! and [`NACK_STREAK`] of them close it, so the manager backs off and
//! connects to the next node instead of feeding the spool messages that are
//! never confirmed.

use std::hash::{BuildHasher as _, Hasher as _};
use std::sync::atomic::{AtomicU32, Ordering};

/// Nacks in a row (no ack between them) after which a connection is closed
/// and the manager reconnects, after a backoff delay, to the next node.
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
    /// Rotation over `urls` starting at a random node.
    pub(super) fn shuffled(urls: Vec<String>) -> Self {
        let start = random() as usize;
        Nodes::starting_at(urls, start)
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

/// Nacks in a row on one connection.
#[derive(Debug, Default)]
pub(crate) struct NackStreak {
    run: AtomicU32,
}

impl NackStreak {
    /// Records one confirm: `acked` or nacked. `true` exactly once, when
    /// the run of nacks reaches [`NACK_STREAK`]; an ack ends the run.
    pub(crate) fn record(&self, acked: bool) -> bool {
        if acked {
            self.run.store(0, Ordering::Relaxed);
            false
        } else {
            self.run.fetch_add(1, Ordering::Relaxed) + 1 == NACK_STREAK
        }
    }
}

#[cfg(test)]
mod tests;
