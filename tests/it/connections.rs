//! The client behind a load balancer (issue 13): a PROXY protocol header
//! names the client and outranks any `X-Forwarded-For` the client wrote; the
//! per-IP connection cap counts that client, not the balancer; at the cap
//! the client's connection idle the longest is closed to make room, while
//! busy ones are never touched. Real TLS clients, the real broker.

use crate::hardening::{github_headers, github_route, secret_file};
use crate::support::GITHUB_SECRET;
use crate::support::{self, fixture, message_id, raw, Harness, Options};

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
    let mut ids: Vec<String> = h
        .take(published.len())
        .await
        .iter()
        .map(message_id)
        .collect();
    ids.sort();
    published.sort();
    assert_eq!(ids, published);
    h.finish().await;
}
