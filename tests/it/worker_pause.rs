//! Issue #15: failures that are the org's or its token endpoint's, not the
//! messages', pause the worker instead of spending attempts or
//! dead-lettering; the held messages are all written once it resumes.

use std::time::Duration;

use sfsim::{Fault, Outage};

use crate::support::worker::{eventually, WorkerEnv, WorkerOpts, USERNAME};
use crate::support::Harness;
use crate::worker::{post_accounts, updated};

/// `/readyz` status of a worker's admin listener.
async fn readyz(w: &hookgate::worker::Running) -> u16 {
    reqwest::Client::new()
        .get(format!("http://{}/readyz", w.admin_addr))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

/// Every account written exactly once, nothing dead-lettered, no attempt
/// spent on a retry queue.
async fn all_written_once(env: &WorkerEnv, w: &hookgate::worker::Running, accounts: &[String]) {
    eventually(60, "every record written", || {
        updated(env, accounts) == accounts.len()
    })
    .await;
    let n = accounts.len() as u64;
    eventually(10, "every message acked", || w.metrics.processed.get() == n).await;
    for a in accounts {
        assert_eq!(env.sim.writes("Account", a), 1, "{a} written once");
    }
    assert_eq!(env.depth(&env.dlq).await, 0, "nothing dead-lettered");
    assert_eq!(w.metrics.retried.get(), 0, "no attempt spent");
}

async fn token_outage(mode: Outage, n: usize) {
    let h = Harness::start().await;
    let env = WorkerEnv::start(&h.exchange, WorkerOpts::default()).await;
    env.sim.token_outage(mode, Duration::from_secs(4));
    let (ids, accounts) = post_accounts(&h, &env, n, 100).await;
    let w = env.worker().await;
    eventually(20, "paused for auth", || w.metrics.paused("auth") == 1).await;
    assert_eq!(readyz(&w).await, 503, "not ready while paused");
    // Tried again with backoff while down (a refused connection reaches no
    // endpoint to count it), nothing dead-lettered meanwhile.
    if mode != Outage::Refused {
        eventually(20, "a second token try", || env.sim.token_requests() >= 2).await;
    }
    assert_eq!(env.depth(&env.dlq).await, 0);
    all_written_once(&env, &w, &accounts).await;
    assert_eq!(w.metrics.paused("auth"), 0, "resumed");
    assert_eq!(readyz(&w).await, 200);
    w.shutdown().await;
    env.finish(&ids).await;
    h.finish().await;
}

#[tokio::test]
async fn token_endpoint_503_pauses_then_writes_all_200_once() {
    token_outage(Outage::Unavailable, 200).await;
}

#[tokio::test]
async fn token_endpoint_dropping_connections_pauses_then_writes_all_once() {
    token_outage(Outage::Dropped, 100).await;
}

#[tokio::test]
async fn login_host_refusing_connections_pauses_then_writes_all_once() {
    token_outage(Outage::Refused, 100).await;
}

/// The report: no `audience` key and `login_url` = a login host that is not
/// Salesforce's: the assertion's `aud` is the login URL, so the token is
/// granted and everything is written.
#[tokio::test]
async fn audience_defaults_from_the_login_url() {
    let h = Harness::start().await;
    let env = WorkerEnv::start(&h.exchange, WorkerOpts::default()).await;
    assert!(!env.config_text.contains("audience"));
    let (ids, accounts) = post_accounts(&h, &env, 50, 50).await;
    let w = env.worker().await;
    all_written_once(&env, &w, &accounts).await;
    assert_eq!(env.sim.token_requests(), 1);
    w.shutdown().await;
    env.finish(&ids).await;
    h.finish().await;
}

/// A wrong `audience` override (invalid_grant "audience is invalid"), then a
/// worker with an unknown subject (invalid_grant "user hasn't approved this
/// consumer"): both pause, nothing is dead-lettered, and the messages stay in
/// the queue for a worker with the right configuration.
#[tokio::test]
async fn invalid_grant_pauses_and_keeps_the_messages_queued() {
    let h = Harness::start().await;
    let env = WorkerEnv::start(&h.exchange, WorkerOpts::default()).await;
    let (ids, accounts) = post_accounts(&h, &env, 50, 50).await;
    let n = accounts.len() as u32;
    let configs = [
        (
            "max_api_usage = 0.9",
            "max_api_usage = 0.9\naudience = \"https://login.salesforce.com\"",
        ),
        (USERNAME, "nobody@example.com"),
    ];
    for (from, to) in configs {
        let tokens = env.sim.token_requests();
        let w = env.worker_with(from, to).await;
        eventually(20, "paused for auth", || w.metrics.paused("auth") == 1).await;
        assert_eq!(readyz(&w).await, 503);
        eventually(20, "three token tries", || {
            env.sim.token_requests() >= tokens + 3
        })
        .await;
        assert_eq!(env.depth(&env.dlq).await, 0, "nothing dead-lettered");
        assert_eq!(w.metrics.processed.get() + w.metrics.retried.get(), 0);
        w.shutdown().await;
        let mut depth = 0;
        for _ in 0..100 {
            depth = env.depth(&env.work_queue).await;
            if depth == n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(depth, n, "the messages are back in the work queue");
        assert_eq!(env.sim.api_calls(), 0);
    }
    let w = env.worker().await;
    all_written_once(&env, &w, &accounts).await;
    w.shutdown().await;
    env.finish(&ids).await;
    h.finish().await;
}

/// The integration user's approval revoked while running, then restored.
#[tokio::test]
async fn revoked_approval_pauses_until_restored() {
    let h = Harness::start().await;
    let env = WorkerEnv::start(&h.exchange, WorkerOpts::default()).await;
    env.sim.set_user_approved(false);
    let (ids, accounts) = post_accounts(&h, &env, 30, 30).await;
    let w = env.worker().await;
    eventually(20, "paused for auth", || w.metrics.paused("auth") == 1).await;
    eventually(20, "token tried again", || env.sim.token_requests() >= 3).await;
    env.sim.set_user_approved(true);
    all_written_once(&env, &w, &accounts).await;
    assert_eq!(w.metrics.paused("auth"), 0);
    w.shutdown().await;
    env.finish(&ids).await;
    h.finish().await;
}

/// Read-only mode: more calls than `max_attempts` are refused, yet no
/// attempt is spent; everything is written after the window.
#[tokio::test]
async fn maintenance_window_pauses_then_writes_all_without_spending_attempts() {
    let h = Harness::start().await;
    let opts = WorkerOpts::default();
    let attempts = u64::from(opts.max_attempts);
    let env = WorkerEnv::start(&h.exchange, opts).await;
    env.sim.set_read_only(true);
    let (ids, accounts) = post_accounts(&h, &env, 50, 50).await;
    let w = env.worker().await;
    eventually(20, "paused for maintenance", || {
        w.metrics.paused("maintenance") == 1
    })
    .await;
    assert_eq!(readyz(&w).await, 503);
    eventually(30, "more refused calls than max_attempts", || {
        env.sim.api_calls() > attempts
    })
    .await;
    assert_eq!(env.depth(&env.dlq).await, 0);
    env.sim.set_read_only(false);
    all_written_once(&env, &w, &accounts).await;
    assert_eq!(w.metrics.paused("maintenance"), 0);
    assert_eq!(readyz(&w).await, 200);
    w.shutdown().await;
    env.finish(&ids).await;
    h.finish().await;
}

/// `REQUEST_LIMIT_EXCEEDED` more times than `max_attempts`: paused, not
/// retried through the delay queues, not dead-lettered.
#[tokio::test]
async fn request_limit_pauses_instead_of_spending_attempts() {
    let h = Harness::start().await;
    let env = WorkerEnv::start(&h.exchange, WorkerOpts::default()).await;
    // Started (its describe calls answered) and consuming, then the faults:
    // they hit the collections calls.
    let w = env.worker().await;
    eventually(20, "consuming", || w.metrics.amqp_connected.get() == 1).await;
    env.sim.inject(Fault::RequestLimit { count: 6 });
    let (ids, accounts) = post_accounts(&h, &env, 20, 20).await;
    eventually(20, "paused for the request limit", || {
        w.metrics.paused("request_limit") == 1
    })
    .await;
    all_written_once(&env, &w, &accounts).await;
    assert_eq!(w.metrics.paused("request_limit"), 0);
    w.shutdown().await;
    env.finish(&ids).await;
    h.finish().await;
}

/// HTTP 500 `UNKNOWN_EXCEPTION` is retryable (5xx whatever the code): the
/// messages go through a retry queue and are written once.
#[tokio::test]
async fn unknown_exception_500_is_retried_and_written_once() {
    let h = Harness::start().await;
    let env = WorkerEnv::start(&h.exchange, WorkerOpts::default()).await;
    let w = env.worker().await;
    eventually(20, "consuming", || w.metrics.amqp_connected.get() == 1).await;
    env.sim.inject(Fault::UnknownException { count: 1 });
    let (ids, accounts) = post_accounts(&h, &env, 20, 20).await;
    eventually(60, "every record written", || {
        updated(&env, &accounts) == 20
    })
    .await;
    eventually(10, "every message acked", || {
        w.metrics.processed.get() == 20
    })
    .await;
    for a in &accounts {
        assert_eq!(env.sim.writes("Account", a), 1);
    }
    assert!(w.metrics.retried.get() >= 1, "retried, not dead-lettered");
    assert_eq!(env.depth(&env.dlq).await, 0, "nothing dead-lettered");
    w.shutdown().await;
    env.finish(&ids).await;
    h.finish().await;
}

/// The budget follows `per-app-api-usage` when it is closer to its limit
/// than `api-usage`, on the documented `;`-separated header.
#[tokio::test]
async fn per_app_usage_over_the_threshold_pauses_for_the_budget() {
    let h = Harness::start().await;
    let env = WorkerEnv::start(
        &h.exchange,
        WorkerOpts {
            per_app_limit: Some(100),
            batch_linger_ms: 50,
            budget_pause_s: 2,
            ..WorkerOpts::default()
        },
    )
    .await;
    env.sim.set_per_app_usage(95);
    let (n1, a1) = post_accounts(&h, &env, 10, 10).await;
    let w = env.worker().await;
    // The first call reads api-usage=1/100000; per-app-api-usage=96/100.
    eventually(30, "first batch", || updated(&env, &a1) == 10).await;
    let (n2, a2) = post_accounts(&h, &env, 10, 10).await;
    eventually(10, "paused for the budget", || {
        w.metrics.paused("budget") == 1
    })
    .await;
    assert_eq!(readyz(&w).await, 503);
    let calls = env.sim.api_calls();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(env.sim.api_calls(), calls, "no call while paused");
    env.sim.set_per_app_usage(0);
    eventually(30, "resumed", || updated(&env, &a2) == 10).await;
    eventually(10, "gauge back to 0", || w.metrics.paused("budget") == 0).await;
    w.shutdown().await;
    env.finish(&[n1, n2].concat()).await;
    h.finish().await;
}
