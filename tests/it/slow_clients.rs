//! 1,000 slow connections (half stalling the TLS handshake, half trickling
//! a request head one byte at a time) while signed requests run: the normal
//! requests all succeed without being starved, the slow connections are
//! closed by the timeouts, and file descriptors come back. Run alone
//! (`cargo test --test it slow_clients -- --nocapture`) it prints the p99
//! figures quoted in docs/security.md.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::support::{self, fixture, fixture_headers, raw, sign, Harness, Options};

const SLOW: usize = 1000;

/// Connections the gateway still holds open on its listening `port`: the
/// kernel's IPv4 TCP table (`/proc/net/tcp`: local address `IP:PORT` in hex,
/// state in hex, inode) rows with that local port, neither `LISTEN` (0A) nor
/// `TIME_WAIT` (06). Counting the test process's descriptors instead also
/// counted the other tests running in parallel in the same process.
fn server_connections(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    table
        .lines()
        .skip(1)
        .filter(|row| {
            let cols: Vec<&str> = row.split_whitespace().collect();
            let local_port = cols
                .get(1)
                .and_then(|a| a.rsplit(':').next())
                .and_then(|p| u16::from_str_radix(p, 16).ok());
            let state = cols.get(3).copied().unwrap_or("");
            local_port == Some(port) && state != "0A" && state != "06"
        })
        .count()
}

fn p99(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[(v.len() * 99 / 100).min(v.len() - 1)]
}

/// Sequential signed GitHub deliveries (fresh ids); their latencies.
async fn signed_run(h: &Harness, n: usize) -> Vec<Duration> {
    let body = fixture("github/push.json");
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let mut headers = fixture_headers("github/push.json");
        headers.retain(|(k, _)| !k.eq_ignore_ascii_case("x-github-delivery"));
        headers.push(("X-GitHub-Delivery".into(), support::unique()));
        let headers = sign::github(support::GITHUB_SECRET, &body, headers);
        let t = Instant::now();
        assert_eq!(
            h.post("/hooks/github", &headers, body.clone())
                .await
                .status(),
            200
        );
        out.push(t.elapsed());
    }
    out
}

// Two worker threads: the gateway, 1,000 client tasks and the test share them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_do_not_slow_down_signed_requests() {
    let h = Harness::start_with(Options {
        server_toml: Some(
            "header_read_timeout_ms = 5000\ntls_handshake_timeout_ms = 5000\nmax_connections_per_ip = 2000\n"
                .into(),
        ),
        ..Options::default()
    })
    .await;
    let conns_before = server_connections(h.addr().port());
    signed_run(&h, 20).await; // warm-up
    let unloaded = p99(signed_run(&h, 200).await);

    let addr = h.addr();
    let up = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut slow = Vec::with_capacity(SLOW);
    // Half stall the TLS handshake: TCP connected, nothing sent. Opened in
    // waves of 50 so a burst does not overflow the kernel's accept queue.
    for i in 0..SLOW / 2 {
        if i % 50 == 49 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let up = up.clone();
        slow.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(addr).await.ok()?;
            up.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut buf = [0u8; 1];
            let t = Instant::now();
            // Closed by the handshake timeout: EOF or reset.
            let _ = tokio::time::timeout(Duration::from_secs(20), s.read(&mut buf))
                .await
                .ok()?;
            Some(t.elapsed())
        }));
    }
    // Half finish TLS, then trickle a request head one byte every 200 ms.
    let config = raw::tls_config(&h.ca_pem, &[b"http/1.1"], None);
    for _ in 0..SLOW / 2 {
        let config = config.clone();
        let up = up.clone();
        slow.push(tokio::spawn(async move {
            let mut c = raw::connect_with(addr, config, b"").await.ok()?;
            up.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let t = Instant::now();
            let head = b"POST /hooks/github HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
            for b in head.iter().cycle() {
                if c.write_all(&[*b]).await.is_err() || c.flush().await.is_err() {
                    return Some(t.elapsed());
                }
                if t.elapsed() > Duration::from_secs(20) {
                    return None;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            None
        }));
    }
    // Measure once every slow connection is open (their TLS handshakes are
    // the load generator's own CPU work on the same two cores).
    let deadline = Instant::now() + Duration::from_secs(10);
    while up.load(std::sync::atomic::Ordering::SeqCst) < SLOW {
        assert!(Instant::now() < deadline, "slow connections not all open");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The count below sees them (so its return to the baseline means something).
    let open = server_connections(h.addr().port());
    assert!(
        open >= SLOW,
        "{open} server-side connections while {SLOW} are open"
    );
    let loaded = p99(signed_run(&h, 200).await);
    // Speed is measured, not asserted (the suite runs tests in parallel on two
    // cores): the bound here only catches starvation (slow connections
    // holding up others); the measured figures are in docs/security.md.
    let allowed = unloaded + Duration::from_millis(500);
    println!("p99 unloaded {unloaded:?}, with {SLOW} slow connections {loaded:?}");
    assert!(
        loaded <= allowed,
        "p99 {loaded:?} > {allowed:?}: slow clients starve others"
    );

    // Every slow connection is closed by the server's timeouts (5 s), not by us.
    let mut closed = [0usize; 2];
    for (i, t) in slow.into_iter().enumerate() {
        if let Ok(Some(after)) = t.await {
            // 5 s timeouts (kept clear of the measured window), plus the time
            // 1,000 connections wait to be accepted on two busy cores.
            assert!(after < Duration::from_secs(12), "closed after {after:?}");
            closed[i / (SLOW / 2)] += 1;
        }
    }
    assert_eq!(
        closed,
        [SLOW / 2, SLOW / 2],
        "every slow connection closed by a timeout (handshake stalls, trickled heads)"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while server_connections(h.addr().port()) > conns_before + 4 {
        assert!(
            Instant::now() < deadline,
            "the gateway still holds {} connections (before {conns_before})",
            server_connections(h.addr().port())
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    h.finish().await;
}
