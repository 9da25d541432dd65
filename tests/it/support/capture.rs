//! Captures the gateway's logs into a buffer: a tracing subscriber with a
//! fixed `debug` filter (independent of `RUST_LOG`), installed as the
//! thread's default for as long as the guard lives. `#[tokio::test]` runs a
//! current-thread runtime, so the gateway's tasks (connections, requests,
//! TLS reload) log on the test thread and are captured, `log`-crate records
//! (rustls, through the global `LogTracer`) included; what runs on
//! blocking-pool or other threads is not.

use std::io;
use std::sync::{Arc, Mutex};

use tracing_subscriber::fmt::MakeWriter;

/// The captured log text.
#[derive(Clone, Default)]
pub struct Logs(Arc<Mutex<Vec<u8>>>);

/// One writer handed to the subscriber.
pub struct LogsWriter(Arc<Mutex<Vec<u8>>>);

impl io::Write for LogsWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Logs {
    type Writer = LogsWriter;

    fn make_writer(&'a self) -> Self::Writer {
        LogsWriter(self.0.clone())
    }
}

impl Logs {
    /// Everything captured so far, lossily as UTF-8.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }

    /// Whether the raw bytes captured so far contain `needle`.
    pub fn contains(&self, needle: &str) -> bool {
        let buf = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = needle.as_bytes();
        !n.is_empty() && buf.windows(n.len()).any(|w| w == n)
    }

    /// How often `needle` occurs in the captured text.
    pub fn count(&self, needle: &str) -> usize {
        self.text().matches(needle).count()
    }
}

/// Starts capturing debug logs on this thread until the guard is dropped.
pub fn debug_logs() -> (Logs, tracing::subscriber::DefaultGuard) {
    let logs = Logs::default();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
        .with_ansi(false)
        .with_writer(logs.clone())
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);
    (logs, guard)
}
