//! `[telemetry]`: trace export, read by the gateway and the worker alike
//! (each names itself: `service_name` defaults to `hookgate` or
//! `hookgate-worker`).

use std::path::Path;

use serde::Deserialize;

use super::Error;
use crate::telemetry::trace::Settings;

/// `service.name` of the gateway's spans when `service_name` is not set.
pub const DEFAULT_GATEWAY_SERVICE: &str = "hookgate";
/// `service.name` of the worker's spans when `service_name` is not set.
pub const DEFAULT_WORKER_SERVICE: &str = "hookgate-worker";

/// `[telemetry]`. Without `otlp_endpoint` nothing is exported; trace
/// context still flows into the AMQP headers and the Salesforce calls.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetryConfig {
    /// Base URL of an OTLP/HTTP collector (`http://127.0.0.1:4318`); spans
    /// are posted to `<otlp_endpoint>/v1/traces` as protobuf.
    pub otlp_endpoint: Option<String>,
    /// `service.name` of the exported spans (default per process).
    pub service_name: Option<String>,
    /// Share of new traces recorded, 0 to 1 (default 1). A request that
    /// brings a `traceparent` follows its sampled flag.
    #[serde(default = "default_sample_ratio")]
    pub sample_ratio: f64,
}

fn default_sample_ratio() -> f64 {
    1.0
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig {
            otlp_endpoint: None,
            service_name: None,
            sample_ratio: default_sample_ratio(),
        }
    }
}

impl TelemetryConfig {
    /// Checks the endpoint URL, the service name and the ratio.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the `telemetry.*` key.
    pub(crate) fn validate(&mut self, file: &Path) -> Result<(), Error> {
        if let Some(endpoint) = &self.otlp_endpoint {
            let url = url::Url::parse(endpoint).map_err(|e| {
                Error::invalid(file, "telemetry.otlp_endpoint", format!("not a URL: {e}"))
            })?;
            if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                return Err(Error::invalid(
                    file,
                    "telemetry.otlp_endpoint",
                    "must be an http:// or https:// URL with a host",
                ));
            }
            if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
                return Err(Error::invalid(
                    file,
                    "telemetry.otlp_endpoint",
                    "no query, fragment or credentials (the collector's base URL)",
                ));
            }
        }
        if let Some(name) = &self.service_name {
            if name.trim().is_empty() || name.len() > 255 {
                return Err(Error::invalid(
                    file,
                    "telemetry.service_name",
                    "1 to 255 characters",
                ));
            }
        }
        if !(0.0..=1.0).contains(&self.sample_ratio) {
            return Err(Error::invalid(
                file,
                "telemetry.sample_ratio",
                "must be between 0 and 1",
            ));
        }
        Ok(())
    }

    /// The tracer settings, `default_service` when no name is set.
    pub(crate) fn settings<'a>(&'a self, default_service: &'a str) -> Settings<'a> {
        Settings {
            otlp_endpoint: self.otlp_endpoint.as_deref(),
            service_name: self.service_name.as_deref().unwrap_or(default_service),
            sample_ratio: self.sample_ratio,
        }
    }
}
