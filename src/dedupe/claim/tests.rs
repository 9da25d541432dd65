//! Claims against both stores: the embedded file and the real Redis of the
//! test machine (127.0.0.1:6379, keys unique per test run, deleted after).

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::config::DedupeConfig;
use crate::telemetry::metrics::Metrics;

const REDIS_URL: &str = "redis://127.0.0.1:6379";
const HOLD: Duration = Duration::from_secs(30);

async fn embedded(dir: &tempfile::TempDir) -> Cache {
    let cfg = DedupeConfig {
        enabled: true,
        path: dir.path().join("seen.redb"),
        redis_url: None,
        max_bytes: 256 << 20,
    };
    Cache::open(&cfg, Arc::new(Metrics::new())).await.unwrap()
}

async fn redis() -> Cache {
    let cfg = DedupeConfig {
        enabled: true,
        path: "unused.redb".into(),
        redis_url: Some(REDIS_URL.into()),
        max_bytes: 0,
    };
    Cache::open(&cfg, Arc::new(Metrics::new())).await.unwrap()
}

/// Keys no other test run uses.
fn keys(n: usize) -> Vec<String> {
    let run = format!(
        "claimtest|{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    (0..n).map(|i| format!("{run}|{i}")).collect()
}

/// A second request sees the first one's claim until it is recorded (then
/// a replay) or released (then it claims the key itself); a key recorded
/// before is seen without a claim.
async fn claims_hold_until_recorded_or_released(first: &Cache, second: &Cache) {
    let k = keys(3);
    use Claim::{Claimed, Pending, Seen};
    assert_eq!(
        first.claim_all(&k[..2], HOLD).await.unwrap(),
        [Claimed, Claimed]
    );
    assert_eq!(
        second.claim_all(&k, HOLD).await.unwrap(),
        [Pending, Pending, Claimed]
    );
    first.record(vec![k[0].clone()], HOLD).await.unwrap();
    first.release(&k[1..2]).await.unwrap();
    assert_eq!(
        second.claim_all(&k[..2], HOLD).await.unwrap(),
        [Seen, Claimed]
    );
    // The second request's claims are its own: the first sees them.
    assert_eq!(
        first.claim_all(&k[1..], HOLD).await.unwrap(),
        [Pending, Pending]
    );
    // Releasing a recorded key leaves its mark.
    second.record(k[1..].to_vec(), HOLD).await.unwrap();
    second.release(&k).await.unwrap();
    assert_eq!(first.claim_all(&k, HOLD).await.unwrap(), [Seen, Seen, Seen]);
    if let Cache::Redis(conn) = first {
        let mut conn = conn.clone();
        let mut pipe = redis::pipe();
        for key in &k {
            pipe.cmd("DEL").arg(format!("{REDIS_PREFIX}{key}")).ignore();
        }
        pipe.query_async::<()>(&mut conn).await.unwrap();
    }
}

#[tokio::test]
async fn embedded_claims_hold_until_recorded_or_released() {
    let dir = tempfile::tempdir().unwrap();
    let cache = embedded(&dir).await;
    claims_hold_until_recorded_or_released(&cache, &cache).await;
}

#[tokio::test]
async fn redis_claims_are_shared_by_two_gateways() {
    // Two connections: two gateway processes sharing one Redis.
    let (a, b) = (redis().await, redis().await);
    claims_hold_until_recorded_or_released(&a, &b).await;
}

#[tokio::test]
async fn a_claim_ends_after_its_hold() {
    let dir = tempfile::tempdir().unwrap();
    for cache in [embedded(&dir).await, redis().await] {
        let k = keys(1);
        let short = Duration::from_millis(50);
        assert_eq!(cache.claim_all(&k, short).await.unwrap(), [Claim::Claimed]);
        assert_eq!(cache.claim_all(&k, short).await.unwrap(), [Claim::Pending]);
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        // The holder died without releasing: the claim ends by itself.
        while cache.claim_all(&k, HOLD).await.unwrap() != [Claim::Claimed] {
            assert!(std::time::Instant::now() < deadline, "claim never ended");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        cache.release(&k).await.unwrap();
    }
}

#[tokio::test]
async fn dropped_claims_are_released_and_stored_ones_are_not() {
    let dir = tempfile::tempdir().unwrap();
    for cache in [embedded(&dir).await, redis().await] {
        let k = keys(2);
        assert_eq!(
            cache.claim_all(&k, HOLD).await.unwrap(),
            [Claim::Claimed, Claim::Claimed]
        );
        drop(Claims::new(cache.clone(), vec![k[0].clone()]));
        cache.record(vec![k[1].clone()], HOLD).await.unwrap();
        Claims::new(cache.clone(), vec![k[1].clone()]).stored();
        // Redis releases on a spawned task: wait for it.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let found = cache.claim_all(&k, HOLD).await.unwrap();
            if found == [Claim::Claimed, Claim::Seen] {
                break;
            }
            assert_eq!(found, [Claim::Pending, Claim::Seen]);
            assert!(std::time::Instant::now() < deadline, "claim never released");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        cache.release(&k).await.unwrap();
        if let Cache::Redis(conn) = &cache {
            let mut conn = conn.clone();
            let _: () = redis::cmd("DEL")
                .arg(format!("{REDIS_PREFIX}{}", k[1]))
                .query_async(&mut conn)
                .await
                .unwrap();
        }
    }
}
