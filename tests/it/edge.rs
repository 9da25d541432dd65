//! Issue 13: answers a sender can read and framing it cannot fake.
//! An early 4xx is followed by a lingering close, so a client that uploads
//! its whole body before reading sees the status rather than a reset; the
//! drain is bounded. A request whose framing two parsers could read
//! differently (Content-Length with Transfer-Encoding, a coding list, two
//! Content-Length lines) is refused with 400 on the TLS and the plaintext
//! listener. `server.request_timeout_ms` bounds the whole request: a broker
//! that stalls gets a 503 + Retry-After at the deadline.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _};
use tokio::time::Instant;

use crate::support::proxy::Proxy;
use crate::support::{
    self, fixture, fixture_headers, message_id, raw, sign, Harness, Options, GITHUB_SECRET,
};

/// Signed GitHub push headers for `body`, delivery id `delivery`.
fn github_headers(delivery: &str, body: &[u8]) -> Vec<(String, String)> {
    let headers = fixture_headers("github/push.json")
        .into_iter()
        .map(|(k, v)| {
            if k.eq_ignore_ascii_case("X-GitHub-Delivery") {
                (k, delivery.to_string())
            } else {
                (k, v)
            }
        })
        .collect();
    sign::github(GITHUB_SECRET, body, headers)
}

/// A request head with `Host`, `headers` and the given framing lines.
fn head(method: &str, path: &str, headers: &[(String, String)], framing: &[String]) -> Vec<u8> {
    let mut out = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    for line in framing {
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    out.into_bytes()
}

/// A JSON body of exactly `len` bytes.
fn big_json(len: usize) -> Vec<u8> {
    let mut body = b"{\"pad\":\"".to_vec();
    body.resize(len - 2, b'x');
    body.extend_from_slice(b"\"}");
    body
}

// === Lingering close after an early answer ===

/// Writes `head` and then all of `body` in 64 KiB pieces without reading
/// (as Python `requests` does), then reads one response and waits for the
/// connection to close. The pieces are paced (2 ms apart, about 30 MiB/s)
/// as a network would: over loopback the kernel's receive buffer (which
/// autotunes to tens of MiB) would otherwise swallow the whole upload
/// before the gateway closes, hiding a reset a real sender sees.
async fn upload_then_read<S>(mut conn: S, head: &[u8], body: &[u8]) -> Result<raw::Reply, String>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut sent = 0usize;
    let upload = async {
        conn.write_all(head).await?;
        for piece in body.chunks(64 * 1024) {
            conn.write_all(piece).await?;
            conn.flush().await?;
            sent += piece.len();
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        conn.flush().await
    };
    match tokio::time::timeout(raw::IO_DEADLINE, upload).await {
        Err(_) => return Err(format!("upload stalled after {sent} body bytes")),
        Ok(Err(e)) => {
            return Err(format!(
                "upload failed after {sent} of {} body bytes: {e}",
                body.len()
            ))
        }
        Ok(Ok(())) => {}
    }
    let mut buf = Vec::new();
    let reply = match raw::read_reply(&mut conn, &mut buf).await {
        Ok(Some(r)) => r,
        Ok(None) => return Err("connection closed before a response".into()),
        Err(e) => return Err(format!("no response after the upload: {e}")),
    };
    let (_, closed) = raw::read_until_closed(&mut conn, Duration::from_secs(8)).await;
    if !closed {
        return Err(format!("{}: connection left open", reply.status));
    }
    Ok(reply)
}

/// A signed 2 MiB POST to a route capped at 64 bytes, uploaded whole before
/// reading, 20 times over TLS: the 413 every time (no reset), then the
/// connection closes. The same for the other answers decided before the
/// body is read: 404, 405 and 403.
#[tokio::test]
async fn early_answers_reach_a_client_that_uploads_its_whole_body_first() {
    // A route that allows only 192.0.2.0/24: 403 before the body.
    let secrets = tempfile::tempdir().expect("tempdir");
    let secret = secrets.path().join("github");
    std::fs::write(&secret, format!("{GITHUB_SECRET}\n")).expect("secret file");
    let h = Harness::start_with(Options {
        routes_toml: Some(format!(
            "[[routes]]\nname = \"fenced\"\npath = \"/hooks/fenced\"\nkind = \"github\"\nallow_cidrs = [\"192.0.2.0/24\"]\nsecrets = [{{ file = \"{}\" }}]\n",
            secret.display()
        )),
        ..Default::default()
    })
    .await;
    let body = big_json(2 * 1024 * 1024);
    let len = format!("Content-Length: {}", body.len());
    let id = support::unique();
    let mut failures = Vec::new();
    for i in 0..20 {
        let headers = github_headers(&format!("big-{id}-{i}"), &body);
        let conn = raw::connect(h.addr(), &h.ca_pem).await;
        let req = head("POST", "/hooks/small", &headers, std::slice::from_ref(&len));
        match upload_then_read(conn, &req, &body).await {
            Ok(r) if r.status == 413 => {}
            Ok(r) => failures.push(format!("attempt {i}: status {}", r.status)),
            Err(e) => failures.push(format!("attempt {i}: {e}")),
        }
    }
    for (method, path, want) in [
        ("POST", "/hooks/nowhere", 404),
        ("PUT", "/hooks/github", 405),
        ("POST", "/hooks/fenced", 403),
    ] {
        for i in 0..3 {
            let headers = github_headers(&format!("early-{id}-{want}-{i}"), &body);
            let conn = raw::connect(h.addr(), &h.ca_pem).await;
            let req = head(method, path, &headers, std::slice::from_ref(&len));
            match upload_then_read(conn, &req, &body).await {
                Ok(r) if r.status == want => {}
                Ok(r) => failures.push(format!("{method} {path} {i}: status {}", r.status)),
                Err(e) => failures.push(format!("{method} {path} {i}: {e}")),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    h.assert_empty().await;
    h.finish().await;
}

/// Sends a body that never ends (declared 1 GiB) to the 64-byte route,
/// `piece` bytes every `every`, while reading: returns the status, when the
/// connection ended (from the first byte) and how many body bytes were
/// written by then.
async fn endless_upload(h: &Harness, piece: usize, every: Duration) -> (u16, Duration, usize) {
    let body = big_json(64);
    let headers = github_headers(&format!("endless-{}", support::unique()), &body);
    let req = head(
        "POST",
        "/hooks/small",
        &headers,
        &["Content-Length: 1073741824".to_string()],
    );
    let conn = raw::connect(h.addr(), &h.ca_pem).await;
    let (mut rd, mut wr) = tokio::io::split(conn);
    let started = Instant::now();
    let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
    let writer = async move {
        let mut sent = 0usize;
        let chunk = vec![b' '; piece];
        if wr.write_all(&req).await.is_err() {
            return sent;
        }
        loop {
            let step = async {
                wr.write_all(&chunk).await?;
                wr.flush().await
            };
            tokio::select! {
                r = step => if r.is_err() { return sent },
                _ = &mut stop_rx => return sent,
            }
            sent += piece;
            if !every.is_zero() {
                tokio::time::sleep(every).await;
            }
        }
    };
    let reader = async move {
        let mut buf = Vec::new();
        let reply = raw::read_reply(&mut rd, &mut buf).await;
        let status = match reply {
            Ok(Some(r)) => r.status,
            Ok(None) => 0,
            Err(_) => 1,
        };
        let (_, closed) = raw::read_until_closed(&mut rd, Duration::from_secs(15)).await;
        let ended = started.elapsed();
        let _ = stop_tx.send(());
        assert!(closed, "still open after {ended:?}");
        (status, ended)
    };
    let (sent, (status, ended)) = tokio::join!(writer, reader);
    (status, ended, sent)
}

/// The drain after an early answer is bounded: a client that keeps sending
/// slowly is cut at `server.linger_timeout_ms` (5 s), one that sends fast is
/// cut at `server.linger_max_bytes` (4 MiB), well before that. Both read
/// the 413 first.
#[tokio::test]
async fn lingering_drain_is_bounded_in_time_and_bytes() {
    let h = Harness::start().await;
    // 16 KiB every 50 ms: about 320 KiB/s, under the byte bound for 5 s.
    let (status, ended, sent) = endless_upload(&h, 16 * 1024, Duration::from_millis(50)).await;
    println!("slow endless upload: {status}, cut after {ended:?}, {sent} bytes");
    assert_eq!(status, 413);
    assert!(
        ended >= Duration::from_millis(4500) && ended < Duration::from_secs(9),
        "slow sender cut after {ended:?} ({sent} bytes), want about 5 s"
    );
    // As fast as it can: cut by the byte bound.
    let (status, ended, sent) = endless_upload(&h, 64 * 1024, Duration::ZERO).await;
    println!("fast endless upload: {status}, cut after {ended:?}, {sent} bytes");
    assert_eq!(status, 413);
    assert!(
        ended < Duration::from_secs(4),
        "fast sender cut after {ended:?} ({sent} bytes): not by the byte bound"
    );
    assert!(
        sent < 64 * 1024 * 1024,
        "fast sender wrote {sent} bytes before the cut"
    );
    h.assert_empty().await;
    h.finish().await;
}

// === Ambiguous framing, on both listeners ===

/// `body` in chunked coding, in one chunk.
fn chunked(body: &[u8]) -> Vec<u8> {
    let mut out = format!("{:x}\r\n", body.len()).into_bytes();
    out.extend_from_slice(body);
    out.extend_from_slice(b"\r\n0\r\n\r\n");
    out
}

/// Writes `bytes` on a fresh connection (TLS, or TCP for a plaintext
/// harness) and reads until the gateway closes it: (statuses, closed).
async fn exchange(h: &Harness, plaintext: bool, bytes: &[u8]) -> (Vec<u16>, bool) {
    let out = if plaintext {
        let mut conn = tokio::net::TcpStream::connect(h.addr())
            .await
            .expect("connect");
        conn.write_all(bytes).await.expect("write");
        conn.flush().await.expect("flush");
        raw::read_until_closed(&mut conn, Duration::from_secs(5)).await
    } else {
        let mut conn = raw::connect(h.addr(), &h.ca_pem).await;
        conn.write_all(bytes).await.expect("write");
        conn.flush().await.expect("flush");
        raw::read_until_closed(&mut conn, Duration::from_secs(5)).await
    };
    (raw::statuses(&out.0), out.1)
}

/// How a case puts the body on the wire.
type Encode = fn(&[u8]) -> Vec<u8>;

/// A valid signed delivery `id` framed by `framing` (header lines) around
/// `body_bytes(payload)`.
fn framed(id: &str, framing: &[&str], encode: Encode) -> Vec<u8> {
    let body = fixture("github/push.json");
    let wire = encode(&body);
    let lines: Vec<String> = framing
        .iter()
        .map(|l| l.replace("{len}", &wire.len().to_string()))
        .collect();
    let mut out = head("POST", "/hooks/github", &github_headers(id, &body), &lines);
    out.extend_from_slice(&wire);
    out
}

async fn ambiguous_framing_is_refused(plaintext: bool) {
    let h = Harness::start_with(Options {
        plaintext,
        ..Default::default()
    })
    .await;
    let id = support::unique();
    let listener = if plaintext { "plaintext" } else { "TLS" };
    let same = |b: &[u8]| b.to_vec();
    let refused: [(&str, &[&str], Encode); 7] = [
        (
            "CL+TE",
            &["Content-Length: {len}", "Transfer-Encoding: chunked"],
            chunked,
        ),
        (
            "TE+CL",
            &["Transfer-Encoding: chunked", "Content-Length: {len}"],
            chunked,
        ),
        (
            "TE gzip, chunked",
            &["Transfer-Encoding: gzip, chunked"],
            chunked,
        ),
        (
            "TE twice",
            &["Transfer-Encoding: chunked", "Transfer-Encoding: chunked"],
            chunked,
        ),
        ("TE identity", &["Transfer-Encoding: identity"], same),
        (
            "two equal Content-Length",
            &["Content-Length: {len}", "Content-Length: {len}"],
            same,
        ),
        (
            "two different Content-Length",
            &["Content-Length: {len}", "Content-Length: 1"],
            same,
        ),
    ];
    let mut failures = Vec::new();
    for (i, (name, framing, encode)) in refused.iter().enumerate() {
        let req = framed(&format!("refused-{id}-{i}"), framing, *encode);
        let (codes, closed) = exchange(&h, plaintext, &req).await;
        if codes != [400] || !closed {
            failures.push(format!(
                "{listener} {name}: statuses {codes:?}, closed {closed}"
            ));
        }
    }

    // Accepted: chunked alone (any case), and Content-Length alone; then a
    // chunked request followed on the same connection by CL+TE: the first
    // served, the second refused (the scanner follows chunked framing).
    let ok_chunked = framed(
        &format!("ok-{id}-1"),
        &["Transfer-Encoding: Chunked"],
        chunked,
    );
    let ok_length = framed(&format!("ok-{id}-2"), &["Content-Length: {len}"], same);
    for (name, req) in [("chunked", &ok_chunked), ("length", &ok_length)] {
        let mut req = req.clone();
        // Ask for the close so the exchange ends.
        let at = req
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("head end");
        req.splice(at + 2..at + 2, b"Connection: close\r\n".iter().copied());
        let (codes, closed) = exchange(&h, plaintext, &req).await;
        if codes != [200] || !closed {
            failures.push(format!(
                "{listener} {name}: statuses {codes:?}, closed {closed}"
            ));
        }
    }
    let mut pipelined = framed(
        &format!("ok-{id}-3"),
        &["Transfer-Encoding: chunked"],
        chunked,
    );
    pipelined.extend_from_slice(&framed(
        &format!("refused-{id}-pipelined"),
        &["Content-Length: {len}", "Transfer-Encoding: chunked"],
        chunked,
    ));
    let (codes, closed) = exchange(&h, plaintext, &pipelined).await;
    if codes != [200, 400] || !closed {
        failures.push(format!(
            "{listener} chunked then CL+TE: statuses {codes:?}, closed {closed}"
        ));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let mut want = vec![
        format!("ok-{id}-1"),
        format!("ok-{id}-2"),
        format!("ok-{id}-3"),
    ];

    // The plaintext listener still serves HTTP/2 with prior knowledge (its
    // preface is no HTTP/1 head and passes the scan untouched).
    if plaintext {
        let client = reqwest::Client::builder()
            .http2_prior_knowledge()
            .timeout(raw::IO_DEADLINE)
            .build()
            .expect("h2c client");
        let body = fixture("github/push.json");
        let mut req = client
            .post(format!("{}/hooks/github", h.base))
            .body(body.clone());
        for (k, v) in github_headers(&format!("ok-{id}-4"), &body) {
            req = req.header(k, v);
        }
        let r = req.send().await.expect("h2c request");
        assert_eq!(r.version(), reqwest::Version::HTTP_2);
        assert_eq!(r.status(), 200);
        want.push(format!("ok-{id}-4"));
    }

    let mut got: Vec<String> = h.take(want.len()).await.iter().map(message_id).collect();
    got.sort();
    assert_eq!(
        got, want,
        "{listener}: only the accepted requests were queued"
    );
    h.finish().await;
}

#[tokio::test]
async fn ambiguous_framing_is_refused_over_tls() {
    ambiguous_framing_is_refused(false).await;
}

#[tokio::test]
async fn ambiguous_framing_is_refused_over_plaintext() {
    ambiguous_framing_is_refused(true).await;
}

// === The whole-request deadline ===

/// A stalled broker, no spool, a confirm timeout (8 s) longer than the
/// request deadline (1.5 s): the answer comes at the deadline, 503 +
/// Retry-After on a webhook route and a SOAP Server fault on the
/// Salesforce route, not at the confirm timeout.
#[tokio::test]
async fn request_deadline_bounds_publish_with_503_and_retry_after() {
    let proxy = Proxy::start("127.0.0.1:5672".parse().expect("addr")).await;
    let h = Harness::start_with(Options {
        amqp_url: Some(format!("amqp://guest:guest@{}/%2f", proxy.addr)),
        confirm_timeout_ms: Some(8_000),
        request_timeout_ms: Some(1_500),
        no_spool: true,
        ..Default::default()
    })
    .await;
    proxy.blackhole();

    let body = fixture("github/push.json");
    let headers = github_headers(&format!("deadline-{}", support::unique()), &body);
    let started = Instant::now();
    let r = h.post("/hooks/github", &headers, body).await;
    let took = started.elapsed();
    println!("webhook: {} after {took:?}", r.status());
    assert_eq!(r.status(), 503, "after {took:?}");
    assert_eq!(
        r.headers().get("retry-after").and_then(|v| v.to_str().ok()),
        Some("5")
    );
    assert!(
        took >= Duration::from_millis(1_300) && took < Duration::from_millis(4_000),
        "503 after {took:?}: want about the 1.5 s deadline, before the 8 s confirm timeout"
    );

    let started = Instant::now();
    let r = h
        .post_om("/salesforce/outbound", fixture("salesforce/om_1.xml"))
        .await;
    let took = started.elapsed();
    let status = r.status();
    let text = r.text().await.unwrap_or_default();
    println!("Outbound Message: {status} after {took:?}");
    assert_eq!(status, 500);
    assert!(
        text.contains("<faultcode>soapenv:Server</faultcode>"),
        "{text}"
    );
    assert!(took < Duration::from_millis(4_000), "fault after {took:?}");

    proxy.restore();
    h.finish().await;
}
