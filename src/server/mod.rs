//! The public listener: accept, TLS, HTTP/1.1 and HTTP/2, the request flow.
//!
//! ```text
//! accept -> TLS handshake (deadline) -> HTTP/1: framing scan (CL+TE, TE lists,
//!   repeated Content-Length: 400) -> hyper auto (h1/h2, header timeout)
//!   -> layers: catch-panic, request-id, trace
//!   -> handle: route by path -> method -> load shed -> body (cap, deadline)
//!      -> verify | om::parse + org check -> envelope -> outbox: publish (confirms)
//!         or, broker down/slow/blocked, spool (fsync)
//!   -> respond: 200 / Ack only once confirmed or spooled; else 4xx / 503 / SOAP fault
//! ```

pub mod framing;
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

/// What a connection tells every request on it (a request extension).
#[derive(Debug, Clone)]
pub struct ConnInfo {
    /// The TCP peer.
    pub peer: std::net::IpAddr,
    /// The client: the peer, or the address a trusted proxy's PROXY
    /// protocol header stated.
    pub client_ip: std::net::IpAddr,
    /// The peer is one of `[server] trusted_proxies`.
    pub via_proxy: bool,
    /// The client certificate rustls verified against `client_ca`, if any.
    pub client_cert: Option<crate::tls::ClientCert>,
}

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
    /// Routes by exact path; swapped whole on reload (SIGHUP).
    pub routes: arc_swap::ArcSwap<HashMap<String, Arc<RouteEntry>>>,
    /// Broker publisher with the spool fallback.
    pub outbox: Outbox,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Permits for concurrent requests (load shedding past it).
    pub permits: Arc<Semaphore>,
    /// Deadline for reading the whole body.
    pub body_timeout: Duration,
    /// Longest pause between body chunks.
    pub body_idle_timeout: Duration,
    /// Deadline of a whole request, from its head to the message stored.
    pub request_timeout: Duration,
    /// Bounds of the lingering close after an early answer.
    pub linger: handle::Linger,
    /// `[server] trusted_proxies` (for `X-Forwarded-For`).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The replay cache, when `[dedupe] enabled`.
    pub replay: Option<crate::dedupe::Cache>,
}

/// Routes by path, with their verifiers.
fn route_table(config: &Config) -> HashMap<String, Arc<RouteEntry>> {
    config
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
        .collect()
}

impl Gateway {
    /// Replaces every route at once (routes, secrets, allowlists, client
    /// certificate rules) from a config that already validated; requests in
    /// flight finish with the routes they started with.
    pub fn replace_routes(&self, config: &Config) {
        self.routes.store(Arc::new(route_table(config)));
    }

    /// Builds the shared state from a validated config.
    pub fn new(
        config: &Config,
        outbox: Outbox,
        metrics: Arc<Metrics>,
        replay: Option<crate::dedupe::Cache>,
    ) -> Self {
        let routes = arc_swap::ArcSwap::from_pointee(route_table(config));
        Gateway {
            routes,
            outbox,
            metrics,
            permits: Arc::new(Semaphore::new(config.server.max_concurrent_requests)),
            body_timeout: Duration::from_millis(
                config
                    .server
                    .body_timeout_ms
                    .min(config.server.request_timeout_ms),
            ),
            body_idle_timeout: Duration::from_millis(config.server.body_idle_timeout_ms),
            request_timeout: Duration::from_millis(config.server.request_timeout_ms),
            linger: handle::Linger {
                time: Duration::from_millis(config.server.linger_timeout_ms),
                bytes: config.server.linger_max_bytes,
            },
            trusted_proxies: config.server.trusted_proxies.clone(),
            replay,
        }
    }
}
