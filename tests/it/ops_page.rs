//! Issue #18: the admin listener's `/` shows the live counters of the
//! process it runs in, as inert HTML (no script, not cached, not sniffed).

use crate::support::worker::{eventually, WorkerEnv, WorkerOpts};
use crate::support::{self, fixture, fixture_headers, sign, unique, Harness};
use crate::worker::{post_accounts, updated};

/// The text of each `<tr>` of `html`, cells joined by ` | `.
fn rows(html: &str) -> Vec<String> {
    html.split("<tr>")
        .skip(1)
        .map(|r| {
            r.split("</tr>")
                .next()
                .unwrap_or("")
                .split("</td>")
                .filter_map(|c| c.rsplit('>').next().filter(|t| !t.is_empty()))
                .collect::<Vec<_>>()
                .join(" | ")
        })
        .collect()
}

/// GETs `http://{admin}/`: the page's headers checked, its body returned.
async fn page(admin: &str) -> String {
    let r = reqwest::Client::new()
        .get(format!("{admin}/"))
        .send()
        .await
        .expect("admin request");
    assert_eq!(r.status(), 200);
    let h = r.headers();
    let header = |name: &str| h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("");
    assert_eq!(header("content-type"), "text/html; charset=utf-8");
    assert!(
        header("content-security-policy")
            .starts_with("default-src 'none'; style-src 'unsafe-inline'"),
        "{h:?}"
    );
    assert_eq!(header("x-content-type-options"), "nosniff");
    assert_eq!(header("cache-control"), "no-store");
    r.text().await.expect("page body")
}

#[tokio::test]
async fn gateway_page_shows_the_live_route_counters() {
    let h = Harness::start().await;
    let body = fixture("github/push.json");
    for _ in 0..3 {
        let mut headers = fixture_headers("github/push.json");
        for (k, v) in &mut headers {
            if k.eq_ignore_ascii_case("X-GitHub-Delivery") {
                *v = unique();
            }
        }
        let signed = sign::github(support::GITHUB_SECRET, &body, headers);
        assert_eq!(
            h.post("/hooks/github", &signed, body.clone())
                .await
                .status(),
            200
        );
    }
    let forged = sign::github("not-the-secret", &body, fixture_headers("github/push.json"));
    assert_eq!(
        h.post("/hooks/github", &forged, body.clone())
            .await
            .status(),
        401
    );

    let html = page(&h.admin).await;
    let seen = rows(&html);
    for want in [
        "github | accepted | 3 | –",
        "github | unauthorized | 1 | –",
        "github | bad_signature | 1 | –",
        "Connected | yes",
        "Messages confirmed | 3",
    ] {
        assert!(
            seen.iter().any(|r| r == want),
            "no row {want:?} in {seen:#?}"
        );
    }
    assert!(html.contains("<meta http-equiv=\"refresh\""), "{html}");
    assert!(!html.contains("<script"), "{html}");
    // The second view has rates (one more accepted request between them).
    let mut headers = fixture_headers("github/push.json");
    headers.retain(|(k, _)| !k.eq_ignore_ascii_case("X-GitHub-Delivery"));
    headers.push(("X-GitHub-Delivery".into(), unique()));
    let signed = sign::github(support::GITHUB_SECRET, &body, headers);
    assert_eq!(
        h.post("/hooks/github", &signed, body.clone())
            .await
            .status(),
        200
    );
    let again = page(&h.admin).await;
    assert!(again.contains("rates over the last"), "{again}");
    assert!(
        rows(&again)
            .iter()
            .any(|r| r.starts_with("github | accepted | 4 | ")),
        "{again}"
    );
    let _ = h.take(4).await;
    h.finish().await;
}

#[tokio::test]
async fn worker_page_shows_processed_and_the_orgs_state() {
    let h = Harness::start().await;
    let env = WorkerEnv::start(&h.exchange, WorkerOpts::default()).await;
    let (ids, accounts) = post_accounts(&h, &env, 5, 5).await;
    let w = env.worker().await;
    eventually(60, "5 records updated", || updated(&env, &accounts) == 5).await;
    eventually(10, "5 messages acked", || w.metrics.processed.get() == 5).await;
    let html = page(&format!("http://{}", w.admin_addr)).await;
    let seen = rows(&html);
    assert!(html.contains("<h1>hookgate worker</h1>"), "{html}");
    for want in ["AMQP connected | yes", "Processed (written and acked) | 5"] {
        assert!(
            seen.iter().any(|r| r == want),
            "no row {want:?} in {seen:#?}"
        );
    }
    // The org's row: writing, and its API usage from the last answer.
    assert!(
        seen.iter()
            .any(|r| r.starts_with("default | running | ") && r.ends_with(" % left")),
        "an org row: {seen:#?}"
    );
    w.shutdown().await;
    env.finish(&ids).await;
    h.finish().await;
}
