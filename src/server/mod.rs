//! The public listener: accept, TLS, HTTP/1.1 and HTTP/2, the request flow.
//!
//! ```text
//! accept -> TLS handshake (deadline) -> HTTP/1: framing scan (CL+TE, TE lists,
//!   repeated Content-Length: 400) -> hyper auto (h1/h2, header timeout)
//!   -> layers: catch-panic, request-id, trace
//!   -> flow: admit (route by path, method, load shed, allowlist, client
//!      certificate, rate limit) -> read (cap, deadlines) -> authenticate
//!      (verify | om parse + org check) -> envelope -> dedupe (replay cache)
//!      -> store: publish (confirms) or, broker down/slow/blocked, spool (fsync)
//!   -> respond: 200 / Ack only once confirmed or spooled; else 4xx / 503 / SOAP fault
//! ```

pub(crate) mod body;
pub(crate) mod flow;
pub(crate) mod framing;
pub(crate) mod limit;
pub(crate) mod listener;
mod phase;
pub(crate) mod proxy;
pub(crate) mod respond;
pub(crate) mod slots;

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
pub(crate) struct ConnInfo {
    /// The TCP peer.
    pub(crate) peer: std::net::IpAddr,
    /// What the peer's PROXY protocol header said (read only from
    /// `[server] trusted_proxies`).
    pub(crate) proxied: proxy::Proxied,
    /// The client certificate rustls verified against `client_ca`, if any.
    pub(crate) client_cert: Option<crate::tls::ClientCert>,
}

impl ConnInfo {
    /// The client's address for a request on this connection with
    /// `headers` (see [`proxy::client_addr`]: the one rule).
    pub(crate) fn client(
        &self,
        headers: &http::HeaderMap,
        trusted: &[ipnet::IpNet],
    ) -> Option<std::net::IpAddr> {
        let forwarded = headers
            .get_all(X_FORWARDED_FOR)
            .into_iter()
            .map(http::HeaderValue::as_bytes);
        proxy::client_addr(self.peer, trusted, self.proxied, forwarded)
    }
}

/// The header an L7 load balancer appends the client's address to.
const X_FORWARDED_FOR: &str = "x-forwarded-for";

/// A route with its verifier, built once at start.
#[derive(Debug)]
pub(crate) struct RouteEntry {
    /// The validated route.
    pub(crate) route: Route,
    /// Its verifier (unused for `salesforce_om`).
    pub(crate) verifier: Verifier,
    /// Its rate limiter, when `rate_limit` is set.
    pub(crate) limiter: Option<Arc<limit::Limiter>>,
    /// Its hottest metric series, resolved on first use.
    pub(crate) counters: crate::telemetry::metrics::RouteCounters,
}

/// Everything a request needs, shared by all connections.
pub(crate) struct Gateway {
    /// Routes by exact path; swapped whole on reload (SIGHUP).
    pub(crate) routes: arc_swap::ArcSwap<HashMap<String, Arc<RouteEntry>>>,
    /// Broker publisher with the spool fallback.
    pub(crate) outbox: Outbox,
    /// Metrics.
    pub(crate) metrics: Arc<Metrics>,
    /// Permits for concurrent requests (load shedding past it).
    pub(crate) permits: Arc<Semaphore>,
    /// Deadline for reading the whole body.
    pub(crate) body_timeout: Duration,
    /// Longest pause between body chunks.
    pub(crate) body_idle_timeout: Duration,
    /// Deadline of a whole request, from its head to the message stored.
    pub(crate) request_timeout: Duration,
    /// Bounds of the lingering close after an early answer.
    pub(crate) linger: body::Linger,
    /// `[server] trusted_proxies` (for `X-Forwarded-For`).
    pub(crate) trusted_proxies: Vec<ipnet::IpNet>,
    /// The replay cache, when `[dedupe] enabled`.
    pub(crate) replay: Option<crate::dedupe::Cache>,
    /// Makes the request's spans (the outbox's tracer).
    pub(crate) tracer: crate::telemetry::trace::Tracer,
    /// `amqp.cloudevents`: read at start, not on reload (as all of `[amqp]`).
    pub(crate) cloudevents: crate::envelope::CloudEvents,
}

/// Routes by path, with their verifiers and rate limiters. A route of
/// `previous` (the table a reload replaces) with the same name and the same
/// `rate_limit` keeps its limiter, buckets and all: a reload neither resets
/// a limited sender's budget nor charges it twice. A new or changed limit
/// starts with full buckets.
fn route_table(
    config: &Config,
    previous: Option<&HashMap<String, Arc<RouteEntry>>>,
) -> HashMap<String, Arc<RouteEntry>> {
    let kept = |name: &str, want: crate::config::RateLimit| {
        previous?
            .values()
            .filter(|e| e.route.name == name)
            .find_map(|e| e.limiter.clone())
            .filter(|l| l.config() == want)
    };
    config
        .routes
        .iter()
        .map(|r| {
            let limiter = r.rate_limit.map(|want| {
                kept(&r.name, want).unwrap_or_else(|| Arc::new(limit::Limiter::new(want)))
            });
            (
                r.path.clone(),
                Arc::new(RouteEntry {
                    verifier: Verifier::new(r),
                    route: r.clone(),
                    limiter,
                    counters: Default::default(),
                }),
            )
        })
        .collect()
}

impl Gateway {
    /// Replaces every route at once (routes, secrets, allowlists, client
    /// certificate rules, rate limits) from a config that already
    /// validated; requests in flight finish with the routes they started
    /// with. Rate-limit buckets of unchanged limits carry over.
    pub(crate) fn replace_routes(&self, config: &Config) {
        let previous = self.routes.load();
        self.routes
            .store(Arc::new(route_table(config, Some(&previous))));
        export_secret_expiries(config, &self.metrics);
    }

    /// Builds the shared state from a validated config.
    pub(crate) fn new(
        config: &Config,
        outbox: Outbox,
        metrics: Arc<Metrics>,
        replay: Option<crate::dedupe::Cache>,
    ) -> Self {
        let routes = arc_swap::ArcSwap::from_pointee(route_table(config, None));
        export_secret_expiries(config, &metrics);
        Gateway {
            routes,
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
            linger: body::Linger {
                time: Duration::from_millis(config.server.linger_timeout_ms),
                bytes: config.server.linger_max_bytes,
            },
            trusted_proxies: config.server.trusted_proxies.clone(),
            replay,
            tracer: outbox.tracer().clone(),
            cloudevents: config.amqp.cloudevents,
            outbox,
        }
    }
}

/// `hookgate_secret_not_after_seconds{route,slot}` for every route secret
/// with a `not_after`.
fn export_secret_expiries(config: &Config, metrics: &Metrics) {
    metrics.set_secret_expiries(config.routes.iter().flat_map(|r| {
        r.secrets.iter().enumerate().filter_map(|(slot, s)| {
            let slot = u32::try_from(slot).ok()?;
            Some((r.name.clone(), slot, s.not_after()?.unix_timestamp()))
        })
    }));
}

#[cfg(test)]
mod tests;
