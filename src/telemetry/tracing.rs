//! Log setup: `tracing-subscriber` with `RUST_LOG`-style filtering
//! (`HOOKGATE_LOG` or `RUST_LOG`, default `info`), human or JSON lines.
//!
//! What is never logged: secrets, signatures, request bodies, SessionIds.
//! Request spans carry the route, method and request id only.

use tracing_subscriber::EnvFilter;

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable text.
    Text,
    /// One JSON object per line.
    Json,
}

/// The filter when neither `HOOKGATE_LOG` nor `RUST_LOG` is set: `info`,
/// with rustls at `error`: rustls warns once per connection about what a
/// client sent (an IP address as SNI, as wrk and some health checkers send),
/// so any client could otherwise write one log line per connection.
pub(crate) const DEFAULT_FILTER: &str = "info,rustls=error";

/// Installs the global subscriber. Safe to call once; later calls are no-ops.
pub fn init(format: LogFormat) {
    let filter = std::env::var("HOOKGATE_LOG")
        .ok()
        .and_then(|v| EnvFilter::try_new(v).ok())
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new(DEFAULT_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
