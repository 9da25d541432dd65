//! The accept loop: one hyper connection task per client, closed on stop;
//! an [`Outage::Refused`] closes the listening socket for its duration, so
//! connecting is refused, then binds the same address again.

use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::{handle, org, Outage, Shared};

/// Accepts until `stop` turns true (or its sender is gone), then aborts the
/// open connections, so a stopped simulator is really unreachable.
pub(super) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new());
    let builder = Arc::new(builder);
    let mut connections = JoinSet::new();
    let mut listener = Some(listener);
    while let Some(l) = listener.take() {
        let stream = tokio::select! {
            a = l.accept() => match a {
                Ok((s, _)) => s,
                Err(_) => {
                    // Out of file descriptors and the like: do not spin.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    listener = Some(l);
                    continue;
                }
            },
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    break;
                }
                listener = Some(l);
                continue;
            }
            () = shared.refuse.notified() => {
                connections.shutdown().await;
                listener = refuse(l, &shared, &mut stop).await;
                continue;
            }
        };
        listener = Some(l);
        while connections.try_join_next().is_some() {}
        let shared = shared.clone();
        let builder = builder.clone();
        connections.spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let shared = shared.clone();
                // `None`: close the connection without an answer.
                async move { handle(&shared, req).await.ok_or_else(org::dropped) }
            });
            let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
        });
    }
    connections.shutdown().await;
}

/// Closes `listener` while an [`Outage::Refused`] lasts, then binds its
/// address again; `None` on stop (or when the address cannot be had back).
async fn refuse(
    listener: TcpListener,
    shared: &Shared,
    stop: &mut watch::Receiver<bool>,
) -> Option<TcpListener> {
    let until = match shared.org().outage {
        Some((Outage::Refused, until)) => until,
        _ => return Some(listener),
    };
    let addr = listener.local_addr().ok()?;
    drop(listener);
    tokio::select! {
        () = tokio::time::sleep_until(Instant::from_std(until)) => {}
        _ = stop.changed() => return None,
    }
    for _ in 0..50 {
        if let Ok(l) = TcpListener::bind(addr).await {
            return Some(l);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}
