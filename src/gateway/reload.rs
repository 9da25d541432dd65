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
/// the old configuration serving and is logged. Everything else in the
/// file needs a restart: a reload that finds such a setting changed since
/// the start names its keys in a WARN (`config::restart`).
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
    // The file as the process started from it (read again here: the start
    // loaded it moments ago), the baseline of what a reload cannot apply.
    let running = read_table(&file);
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
            reload_routes(&file, &gateway, running.as_ref());
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
/// that fails leaves the routes as they were. Settings outside the routes
/// that differ from `running` (the file at start) are named in a WARN:
/// they wait for a restart.
fn reload_routes(file: &std::path::Path, gateway: &Gateway, running: Option<&toml::Table>) {
    let loaded =
        crate::config::read(file).and_then(|text| Ok((Config::from_toml(file, &text)?, text)));
    match loaded {
        Ok((c, text)) => {
            gateway.replace_routes(&c);
            // Before the INFO line: who sees it sees this reload's WARN too.
            let new = toml::from_str::<toml::Table>(&text).ok();
            if let (Some(running), Some(new)) = (running, new) {
                let keys = crate::config::restart::restart_keys(running, &new);
                if !keys.is_empty() {
                    tracing::warn!(
                        file = %file.display(),
                        keys = %keys.join(", "),
                        "config reload: these settings changed since the start and apply only after a restart"
                    );
                }
            }
            tracing::info!(routes = c.routes.len(), "routes reloaded");
        }
        Err(e) => tracing::error!(error = %e, "config reload failed; routes unchanged"),
    }
}

/// The config file parsed as a TOML table; `None` (logged) when it cannot
/// be read or parsed: reloads then cannot name what waits for a restart.
fn read_table(file: &std::path::Path) -> Option<toml::Table> {
    let table = crate::config::read(file)
        .ok()
        .and_then(|text| toml::from_str::<toml::Table>(&text).ok());
    if table.is_none() {
        tracing::warn!(file = %file.display(), "cannot read the config file again; a reload will not name the settings that need a restart");
    }
    table
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
