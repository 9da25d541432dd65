//! Logs ([`tracing`](mod@self::tracing)), metrics ([`metrics`], registered in
//! a `registry::Registry`), trace context and span export ([`trace`]: W3C
//! `traceparent`, OTLP/HTTP) and the admin listener (`admin`: `/healthz`,
//! `/readyz`, `/metrics`, and `/`, the operations page of `page`), shared by
//! the gateway and the worker.
//!
//! A leaf: nothing here imports another module of the crate. The broker,
//! the spool and the server report into [`metrics::Metrics`] through its
//! fields and setters over plain values; each process hands the admin
//! listener its readiness and metrics text as closures (`admin::Probes`).

pub(crate) mod admin;
pub mod metrics;
pub(crate) mod page;
pub mod registry;
pub mod trace;
pub mod tracing;
