//! The client behind a load balancer (issue 13): a PROXY protocol header
//! names the client and outranks any `X-Forwarded-For` the client wrote; the
//! per-IP connection cap counts that client, not the balancer; at the cap
//! the client's connection idle the longest is closed to make room, while
//! busy ones are never touched. Real TLS clients, the real broker.

use std::time::Duration;

use tokio::io::AsyncWriteExt as _;
use tokio::time::Instant;

use crate::hardening::{github_headers, github_route, metrics, secret_file, wait_in_flight};
use crate::support::GITHUB_SECRET;
use crate::support::{self, assert_metric, fixture, message_id, raw, Harness, Options};

/// A PROXY protocol v1 line naming `client` as the source.
fn proxy_v1(client: &str) -> Vec<u8> {
    format!("PROXY TCP4 {client} 127.0.0.1 5555 443\r\n").into_bytes()
}

/// A PROXY protocol v2 header (PROXY command, TCP over IPv4) naming
/// `client` as the source.
fn proxy_v2(client: [u8; 4]) -> Vec<u8> {
    let mut h = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    h.extend_from_slice(&[0x21, 0x11, 0, 12]);
    h.extend_from_slice(&client);
    h.extend_from_slice(&[127, 0, 0, 1]);
    h.extend_from_slice(&5555u16.to_be_bytes());
    h.extend_from_slice(&443u16.to_be_bytes());
    h
}

/// One signed GitHub delivery to `path` on a fresh connection that starts
/// with `prefix`; the status.
async fn post_via(
    h: &Harness,
    prefix: &[u8],
    path: &str,
    delivery: &str,
    extra: &[(&str, &str)],
) -> u16 {
    let body = fixture("github/push.json");
    let config = raw::tls_config(&h.ca_pem, &[b"http/1.1"], None);
    let mut conn = raw::connect_with(h.addr(), config, prefix)
        .await
        .expect("TLS after the PROXY header");
    let mut headers = github_headers(GITHUB_SECRET, delivery, &body);
    for (k, v) in extra {
        headers.push(((*k).into(), (*v).into()));
    }
    raw::roundtrip(&mut conn, &raw::post(path, &headers, &body))
        .await
        .expect("reply")
        .expect("a response")
        .status
}

/// A PROXY header on the connection names the client; an `X-Forwarded-For`
/// on such a connection was written by the client (an L4 balancer cannot
/// add headers inside TLS) and is ignored, v1 and v2 alike, also when the
/// header states no address (`UNKNOWN`: the balancer is the client). Without
/// a PROXY header a trusted peer's `X-Forwarded-For` still names the client
/// (an L7 balancer).
#[tokio::test]
async fn proxy_header_outranks_a_client_written_x_forwarded_for() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gh = secret_file(dir.path(), "gh", GITHUB_SECRET);
    let h = Harness::start_with(Options {
        server_toml: Some(r#"trusted_proxies = ["127.0.0.1/32"]"#.into()),
        routes_toml: Some(github_route(
            "only_ten",
            "/hooks/only-ten",
            &gh,
            r#"allow_cidrs = ["10.0.0.0/8"]"#,
        )),
        ..Default::default()
    })
    .await;
    let id = support::unique();
    let cases: [(&str, Vec<u8>, Option<&str>, u16); 7] = [
        ("v1-outside", proxy_v1("203.0.113.5"), None, 403),
        (
            "v1-outside-xff-inside",
            proxy_v1("203.0.113.5"),
            Some("10.1.2.3"),
            403,
        ),
        (
            "v1-inside-xff-outside",
            proxy_v1("10.9.9.9"),
            Some("203.0.113.5"),
            200,
        ),
        (
            "v2-outside-xff-inside",
            proxy_v2([203, 0, 113, 5]),
            Some("10.1.2.3"),
            403,
        ),
        (
            "v2-inside-xff-outside",
            proxy_v2([10, 9, 9, 9]),
            Some("203.0.113.5"),
            200,
        ),
        (
            "v1-unknown-xff-inside",
            b"PROXY UNKNOWN\r\n".to_vec(),
            Some("10.1.2.3"),
            403,
        ),
        ("no-proxy-xff-inside", Vec::new(), Some("10.1.2.3"), 200),
    ];
    let mut published = Vec::new();
    for (name, prefix, xff, want) in cases {
        let delivery = format!("pp-{name}-{id}");
        let extra: Vec<(&str, &str)> = xff.map(|v| ("X-Forwarded-For", v)).into_iter().collect();
        let got = post_via(&h, &prefix, "/hooks/only-ten", &delivery, &extra).await;
        assert_eq!(got, want, "{name}");
        if want == 200 {
            published.push(delivery);
        }
    }
    h.assert_holds_exactly(&published).await;
    h.finish().await;
}

/// Behind a trusted balancer every connection comes from its address; the
/// per-IP cap counts the client its PROXY header names (the slot is taken
/// once the header is read).
#[tokio::test]
async fn per_ip_cap_counts_the_client_the_proxy_header_names() {
    let h = Harness::start_with(Options {
        server_toml: Some(
            "trusted_proxies = [\"127.0.0.1/32\"]\nmax_connections_per_ip = 2".into(),
        ),
        ..Default::default()
    })
    .await;
    let config = raw::tls_config(&h.ca_pem, &[b"http/1.1"], None);
    let mut open = Vec::new();
    for _ in 0..2 {
        open.push(
            raw::connect_with(h.addr(), config.clone(), &proxy_v1("203.0.113.1"))
                .await
                .expect("one of client 1's two connections"),
        );
    }
    let id = support::unique();
    let got = post_via(
        &h,
        &proxy_v1("203.0.113.2"),
        "/hooks/github",
        &format!("cap-client2-{id}"),
        &[],
    )
    .await;
    assert_eq!(got, 200, "a second client behind the same balancer");

    let third = raw::connect_with(h.addr(), config.clone(), &proxy_v1("203.0.113.1")).await;
    assert!(third.is_err(), "client 1's third connection was served");
    let m = metrics(&h).await;
    assert_metric(
        &m,
        r#"hookgate_connections_refused_total{reason="max_connections_per_ip"}"#,
        1.0,
    );
    assert_eq!(message_id(&h.take(1).await[0]), format!("cap-client2-{id}"));
    drop(open);
    h.finish().await;
}

/// Writes a signed delivery's head and the first half of its body: the
/// request stays in progress until [`finish_body`].
async fn start_request(conn: &mut raw::Conn, delivery: &str) -> Vec<u8> {
    let body = fixture("github/push.json");
    let req = raw::post(
        "/hooks/github",
        &github_headers(GITHUB_SECRET, delivery, &body),
        &body,
    );
    let split = req.len() - body.len() / 2;
    conn.write_all(&req[..split]).await.expect("head");
    conn.flush().await.expect("flush");
    req[split..].to_vec()
}

/// At the per-IP cap a new connection closes the client's connection idle
/// the longest (keep-alive, no request in progress) and is served; the
/// others stay open. When every connection has a request in progress the
/// new one is refused as before.
#[tokio::test]
async fn per_ip_cap_closes_the_longest_idle_connection_never_a_busy_one() {
    let h = Harness::start_with(Options {
        server_toml: Some("max_connections_per_ip = 4".into()),
        ..Default::default()
    })
    .await;
    let config = raw::tls_config(&h.ca_pem, &[b"http/1.1"], None);
    let body = fixture("github/push.json");
    let id = support::unique();
    let mut published = Vec::new();
    let mut send = |conn_name: String| {
        let delivery = format!("idle-{conn_name}-{id}");
        published.push(delivery.clone());
        raw::post(
            "/hooks/github",
            &github_headers(GITHUB_SECRET, &delivery, &body),
            &body,
        )
    };

    let mut open = Vec::new();
    for i in 0..4 {
        let mut conn = raw::connect_with(h.addr(), config.clone(), b"")
            .await
            .expect("one of the first four");
        let reply = raw::roundtrip(&mut conn, &send(format!("first-{i}")))
            .await
            .expect("reply")
            .expect("response");
        assert_eq!(reply.status, 200, "connection {i}");
        open.push(conn);
    }

    let mut fifth = raw::connect_with(h.addr(), config.clone(), b"")
        .await
        .expect("the fifth connection is served: an idle one makes room");
    let reply = raw::roundtrip(&mut fifth, &send("fifth".into()))
        .await
        .expect("reply")
        .expect("response");
    assert_eq!(reply.status, 200);

    let mut oldest = open.remove(0);
    let (bytes, closed) = raw::read_until_closed(&mut oldest, Duration::from_secs(5)).await;
    assert!(closed, "the connection idle the longest was closed");
    assert!(bytes.is_empty(), "closed without a response: {bytes:?}");
    for (i, conn) in open.iter_mut().enumerate() {
        let reply = raw::roundtrip(conn, &send(format!("again-{i}")))
            .await
            .expect("reply")
            .expect("the other idle connections stay open");
        assert_eq!(reply.status, 200, "connection {}", i + 1);
    }
    open.push(fifth);
    let m = metrics(&h).await;
    assert_metric(&m, "hookgate_idle_connections_closed_total", 1.0);

    // Four requests in progress (half a body each): nothing to close.
    let mut rests = Vec::new();
    for (i, conn) in open.iter_mut().enumerate() {
        let delivery = format!("busy-{i}-{id}");
        published.push(delivery.clone());
        rests.push(start_request(conn, &delivery).await);
    }
    wait_in_flight(&h, 4.0, "four bodies in progress").await;
    let started = Instant::now();
    let sixth = raw::connect_with(h.addr(), config.clone(), b"").await;
    assert!(sixth.is_err(), "a busy connection was closed for a new one");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "refused at once, not after {:?}",
        started.elapsed()
    );
    for (i, (conn, rest)) in open.iter_mut().zip(rests).enumerate() {
        conn.write_all(&rest).await.expect("rest of the body");
        let reply = raw::read_reply(conn, &mut Vec::new())
            .await
            .expect("reply")
            .expect("response");
        assert_eq!(reply.status, 200, "busy connection {i}");
    }
    let m = metrics(&h).await;
    assert_metric(
        &m,
        r#"hookgate_connections_refused_total{reason="max_connections_per_ip"}"#,
        1.0,
    );
    assert_metric(&m, "hookgate_idle_connections_closed_total", 1.0);
    h.assert_holds_exactly(&published).await;

    // Every connection's task ended, the closed one's too: with the clients
    // gone, shutdown does not wait out the grace period (10 s).
    drop(open);
    let mut h = h;
    let started = Instant::now();
    h.stop_gateway().await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "shutdown waited {:?} for connection tasks",
        started.elapsed()
    );
    h.finish().await;
}
