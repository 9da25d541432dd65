//! Logs ([`tracing`](mod@self::tracing)), metrics ([`metrics`]) and the admin
//! listener ([`admin`]: `/healthz`, `/readyz`, `/metrics`).

pub mod admin;
pub mod metrics;
pub mod tracing;
