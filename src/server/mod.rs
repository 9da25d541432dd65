//! The public listener: accept, TLS, HTTP/1.1 and HTTP/2, the request flow.
//!
//! ```text
//! accept -> TLS handshake (deadline) -> hyper auto (h1/h2, header timeout)
//!   -> layers: catch-panic, request-id, trace
//!   -> handle: route by path -> method -> load shed -> body (cap, deadline)
//!      -> verify | om::parse + org check -> envelope -> outbox: publish (confirms)
//!         or, broker down/slow/blocked, spool (fsync)
//!   -> respond: 200 / Ack only once confirmed or spooled; else 4xx / 503 / SOAP fault
//! ```

pub mod handle;
pub mod listener;
pub mod respond;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use crate::config::{Config, Route};
use crate::outbox::Outbox;
use crate::telemetry::metrics::Metrics;
use crate::verify::Verifier;

/// A route with its verifier, built once at start.
#[derive(Debug)]
pub struct RouteEntry {
    /// The validated route.
    pub route: Route,
    /// Its verifier (unused for `salesforce_om`).
    pub verifier: Verifier,
}

/// Everything a request needs, shared by all connections.
pub struct Gateway {
    /// Routes by exact path.
    pub routes: HashMap<String, Arc<RouteEntry>>,
    /// Broker publisher with the spool fallback.
    pub outbox: Outbox,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Permits for concurrent requests (load shedding past it).
    pub permits: Arc<Semaphore>,
    /// Deadline for reading the body.
    pub body_timeout: Duration,
}

impl Gateway {
    /// Builds the shared state from a validated config.
    pub fn new(config: &Config, outbox: Outbox, metrics: Arc<Metrics>) -> Self {
        let routes = config
            .routes
            .iter()
            .map(|r| {
                (
                    r.path.clone(),
                    Arc::new(RouteEntry {
                        verifier: Verifier::new(r),
                        route: r.clone(),
                    }),
                )
            })
            .collect();
        Gateway {
            routes,
            outbox,
            metrics,
            permits: Arc::new(Semaphore::new(config.server.max_concurrent_requests)),
            body_timeout: Duration::from_millis(config.server.request_timeout_ms),
        }
    }
}
