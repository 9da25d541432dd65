//! Live reload of the routes and the TLS configuration, on SIGHUP and when
//! a certificate file changes.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::config::Config;
use crate::server::Gateway;

/// Reloads on SIGHUP: the routes (paths, secrets, allowlists, client
/// certificate rules, rate limits, whose buckets carry over while a route's
/// limit is unchanged; re-read from the config file and validated first: a
/// file that fails validation changes nothing) and the certificate, key and
/// client CA. Certificate files are also watched with `notify` (editors and
/// secret managers replace files, so the parent directories are watched): new
/// handshakes see a new certificate within about a second; a broken file keeps
/// the old configuration serving and is logged. Listen addresses, `[amqp]`
/// and `[spool]` need a restart.
pub(super) async fn run(
    file: std::path::PathBuf,
    tls: Option<Arc<crate::tls::TlsState>>,
    gateway: Arc<Gateway>,
    mut shutdown: watch::Receiver<bool>,
) {
    let files = tls.as_ref().map(|t| t.files()).unwrap_or_default();
    // Kept for the loop's life: dropping it stops the watch.
    let (_watcher, mut rx) = watch_certificates(files);
    let mut hup = hangup();
    loop {
        let signal = tokio::select! {
            _ = async { match hup.as_mut() { Some(h) => { h.recv().await; } None => std::future::pending().await } } => true,
            Some(()) = rx.recv() => {
                // Let a multi-file update (cert then key) settle.
                tokio::time::sleep(Duration::from_millis(200)).await;
                while rx.try_recv().is_ok() {}
                false
            }
            _ = shutdown.changed() => {
                if *shutdown.borrow() { return; }
                continue;
            }
        };
        if signal {
            reload_routes(&file, &gateway);
        }
        if let Some(state) = &tls {
            reload_tls(state);
        }
    }
}

/// Watches the parent directories of the certificate `files` (editors and
/// secret managers replace files rather than write them); sends on the
/// returned channel when one of the files changes. No watcher when notify
/// cannot start one (logged: SIGHUP still reloads).
fn watch_certificates(
    files: Vec<std::path::PathBuf>,
) -> (
    Option<notify::RecommendedWatcher>,
    tokio::sync::mpsc::UnboundedReceiver<()>,
) {
    use notify::Watcher as _;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let watched = files.clone();
    let mut watcher =
        match notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            if let Ok(ev) = res {
                use notify::event::{AccessKind, AccessMode};
                use notify::EventKind;
                // Opens and reads are not changes: the reload itself opens
                // the files (and another gateway sharing them does), so
                // taking them as changes made every reload cause the next.
                let change = match ev.kind {
                    EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
                    EventKind::Access(_) => false,
                    _ => true,
                };
                let relevant = change
                    && ev
                        .paths
                        .iter()
                        .any(|p| watched.iter().any(|f| p.file_name() == f.file_name()));
                if relevant {
                    let _ = tx.send(());
                }
            }
        }) {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch certificate files; SIGHUP still reloads");
                None
            }
        };
    if let Some(w) = watcher.as_mut() {
        let mut dirs: Vec<std::path::PathBuf> = files
            .iter()
            .map(|f| match f.parent() {
                Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
                _ => std::path::PathBuf::from("."),
            })
            .collect();
        dirs.sort();
        dirs.dedup();
        for d in dirs {
            if let Err(e) = w.watch(&d, notify::RecursiveMode::NonRecursive) {
                tracing::warn!(dir = %d.display(), error = %e, "cannot watch directory");
            }
        }
    }
    (watcher, rx)
}

/// The SIGHUP stream; none when the handler cannot be installed (logged:
/// certificate changes still reload through the watcher).
fn hangup() -> Option<tokio::signal::unix::Signal> {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "cannot install the SIGHUP handler");
            None
        }
    }
}

/// Re-reads and validates the config file and swaps in its routes; a file
/// that fails leaves the routes as they were.
fn reload_routes(file: &std::path::Path, gateway: &Gateway) {
    match Config::load(file) {
        Ok(c) => {
            gateway.replace_routes(&c);
            tracing::info!(routes = c.routes.len(), "routes reloaded");
        }
        Err(e) => tracing::error!(error = %e, "config reload failed; routes unchanged"),
    }
}

/// Reloads the certificate, key and client CA; a broken file keeps the
/// previous configuration serving.
fn reload_tls(state: &crate::tls::TlsState) {
    match state.reload() {
        Ok(()) => tracing::info!("TLS configuration reloaded"),
        Err(e) => {
            tracing::error!(error = %e, "TLS reload failed; the previous certificate keeps serving")
        }
    }
}
