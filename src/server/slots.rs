//! The per-client connection cap (`server.max_connections_per_ip`).
//!
//! Each client address holds at most `max` connection slots. At the cap a
//! new connection takes the slot of the client's connection that has been
//! idle the longest (a keep-alive connection that served a request and has
//! none in progress), which is told to close gracefully: senders that open a
//! connection per delivery and leave the old ones open are not refused while
//! their idle connections time out. A connection that has not served a
//! request yet, or has one in progress, is never closed for room; when every
//! slot is held by one the new connection is refused.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

/// Orders the moments connections become idle (0: never idle yet).
static TICK: AtomicU64 = AtomicU64::new(1);

/// Connection slots by client address.
#[derive(Debug)]
pub(crate) struct Slots {
    /// Slots per client address.
    max: usize,
    /// The connections holding a slot, per client address.
    held: Mutex<HashMap<IpAddr, Vec<Arc<Conn>>>>,
}

/// One connection as the cap sees it: shared by its slot, its requests and
/// the task serving it.
#[derive(Debug, Default)]
pub(crate) struct Conn {
    /// Requests (HTTP/2 streams) in progress.
    busy: AtomicUsize,
    /// When it last became idle (a [`TICK`]); 0 until a request ended.
    idle_since: AtomicU64,
    /// Notified once when its slot went to a newer connection.
    close: Notify,
}

/// A slot taken by [`Slots::take`].
#[derive(Debug)]
pub(crate) struct Taken {
    /// The slot; released when dropped.
    pub(crate) slot: Slot,
    /// An idle connection of the same client was told to close for it.
    pub(crate) closed_idle: bool,
}

/// A connection's slot; released on drop (unless it went to a newer
/// connection already).
#[derive(Debug)]
pub(crate) struct Slot {
    slots: Arc<Slots>,
    ip: IpAddr,
    conn: Arc<Conn>,
}

/// Marks a request in progress on a connection until dropped.
#[derive(Debug)]
pub(crate) struct Busy(Arc<Conn>);

impl Slots {
    /// Slots for at most `max` connections per client address.
    pub(crate) fn new(max: usize) -> Slots {
        Slots {
            max,
            held: Mutex::default(),
        }
    }

    /// Takes a slot for a new connection from `ip`: a free one, or the slot
    /// of `ip`'s connection idle the longest (told to close); `None` when
    /// every slot holds a connection that is busy or has not served a
    /// request yet.
    pub(crate) fn take(self: &Arc<Self>, ip: IpAddr) -> Option<Taken> {
        let mut held = self.held.lock().ok()?;
        let conns = held.entry(ip).or_default();
        let mut closed_idle = false;
        if conns.len() >= self.max {
            let i = longest_idle(conns.iter().map(|c| {
                (
                    c.busy.load(Ordering::Acquire),
                    c.idle_since.load(Ordering::Acquire),
                )
            }))?;
            let old = conns.swap_remove(i);
            old.close.notify_one();
            closed_idle = true;
        }
        let conn = Arc::new(Conn::default());
        conns.push(conn.clone());
        Some(Taken {
            slot: Slot {
                slots: self.clone(),
                ip,
                conn,
            },
            closed_idle,
        })
    }
}

/// Of connections given as (requests in progress, idle since), the index
/// of the one idle the longest; never one busy or that has not been idle.
fn longest_idle(conns: impl Iterator<Item = (usize, u64)>) -> Option<usize> {
    conns
        .enumerate()
        .filter(|(_, (busy, since))| *busy == 0 && *since > 0)
        .min_by_key(|(_, (_, since))| *since)
        .map(|(i, _)| i)
}

impl Slot {
    /// The connection holding the slot.
    pub(crate) fn conn(&self) -> Arc<Conn> {
        self.conn.clone()
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let Ok(mut held) = self.slots.held.lock() else {
            return;
        };
        if let Some(conns) = held.get_mut(&self.ip) {
            conns.retain(|c| !Arc::ptr_eq(c, &self.conn));
            if conns.is_empty() {
                held.remove(&self.ip);
            }
        }
    }
}

impl Conn {
    /// Marks a request in progress until the guard drops.
    pub(crate) fn request(self: &Arc<Self>) -> Busy {
        self.busy.fetch_add(1, Ordering::AcqRel);
        Busy(self.clone())
    }

    /// Resolves once the connection's slot went to a newer connection.
    pub(crate) async fn closing(&self) {
        self.close.notified().await;
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        if self.0.busy.fetch_sub(1, Ordering::AcqRel) == 1 {
            let now = TICK.fetch_add(1, Ordering::Relaxed);
            self.0.idle_since.store(now, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{longest_idle, Slots};
    use futures_util::FutureExt as _;
    use std::net::IpAddr;
    use std::sync::Arc;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_longest_idle_connection_is_picked_never_a_busy_or_unused_one() {
        assert_eq!(longest_idle([(0, 7), (0, 3), (0, 5)].into_iter()), Some(1));
        assert_eq!(longest_idle([(1, 1), (0, 9), (0, 0)].into_iter()), Some(1));
        assert_eq!(longest_idle([(2, 1), (0, 0)].into_iter()), None);
        assert_eq!(longest_idle(std::iter::empty()), None);
    }

    #[test]
    fn at_the_cap_the_longest_idle_connection_gives_up_its_slot() {
        let slots = Arc::new(Slots::new(2));
        let a = slots.take(ip("192.0.2.1")).unwrap();
        let b = slots.take(ip("192.0.2.1")).unwrap();
        assert!(!a.closed_idle && !b.closed_idle);
        assert!(
            slots.take(ip("192.0.2.1")).is_none(),
            "unused connections keep their slots"
        );
        assert!(slots.take(ip("192.0.2.2")).is_some(), "per address");

        let (ca, cb) = (a.slot.conn(), b.slot.conn());
        drop(cb.request());
        drop(ca.request());
        let busy = cb.request();
        let c = slots.take(ip("192.0.2.1")).expect("a's slot: idle, b busy");
        assert!(c.closed_idle);
        assert!(ca.closing().now_or_never().is_some(), "a told to close");
        assert!(cb.closing().now_or_never().is_none(), "b left alone");
        assert!(slots.take(ip("192.0.2.1")).is_none(), "b busy, c unused");

        drop(busy);
        let d = slots.take(ip("192.0.2.1")).expect("b's slot, idle now");
        assert!(d.closed_idle);
        drop(a);
        assert!(
            slots.take(ip("192.0.2.1")).is_none(),
            "a's slot was handed over already: dropping it frees nothing"
        );
        drop((b, c, d));
        let held = slots.held.lock().unwrap();
        assert!(held.get(&ip("192.0.2.1")).is_none(), "all slots released");
    }
}
