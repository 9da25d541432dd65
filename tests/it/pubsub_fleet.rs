//! Two `hookgate subscribe` instances sharing the Redis replay store: one
//! streams a subscription at a time (the lease), the other stands by and
//! takes over after the holder stops, from the saved replay id: every event
//! arrives, and only a stopped holder's unsaved tail can repeat.

use std::collections::HashSet;
use std::time::Duration;

use hookgate::config::pubsub::SubscribeConfig;
use hookgate::pubsub::{self, Options};

use crate::support::pubsub::{by_id, subscription, PubsubEnv, ORDERS};
use crate::support::{metric_value, unique, AMQP_URL};

/// The env's config with the Redis store (a unique key prefix) and a 3 s
/// lease.
fn redis_config(env: &PubsubEnv, prefix: &str) -> SubscribeConfig {
    env.write_config(AMQP_URL, &subscription("orders", ORDERS, "earliest", 50));
    let text = std::fs::read_to_string(&env.config_path).expect("config");
    let text = text.replace(
        "[pubsub]\n",
        &format!(
            "[pubsub]\nstore = \"redis\"\nredis_url = \"redis://127.0.0.1:6379\"\nkey_prefix = \"{prefix}\"\nlease_s = 3\n"
        ),
    );
    std::fs::write(&env.config_path, text).expect("write");
    SubscribeConfig::load(&env.config_path).expect("config")
}

fn publish(env: &PubsubEnv, from: usize, n: usize) {
    env.pubsub
        .publish_many(
            ORDERS,
            n,
            |i| serde_json::json!({"Order_Number__c": format!("ORD-{}", from + i)}),
        )
        .expect("publish");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_instance_of_a_fleet_streams_and_a_standby_takes_over() {
    let env = PubsubEnv::start().await;
    let prefix = format!("hookgate.test.{}:", unique());
    let config = redis_config(&env, &prefix);
    publish(&env, 0, 1_000);
    let a = pubsub::start(config.clone(), Options::default())
        .await
        .expect("a");
    let b = pubsub::start(config.clone(), Options::default())
        .await
        .expect("b");
    let first = env
        .collect(Duration::from_secs(30), Duration::from_millis(500), |g| {
            g.len() >= 1_000
        })
        .await;
    assert_eq!(first.len(), 1_000, "published once, by one instance");
    // Exactly one of them streams; the other stands by.
    let standby = |m: &str| metric_value(m, "hookgate_pubsub_standby{subscription=\"orders\"}");
    let (ma, mb) = (a.metrics.encode(), b.metrics.encode());
    let mut standbys = [standby(&ma).unwrap_or(-1.0), standby(&mb).unwrap_or(-1.0)];
    standbys.sort_by(f64::total_cmp);
    assert_eq!(standbys, [0.0, 1.0], "{ma}\n{mb}");
    let (holder, other) = if standby(&ma) == Some(0.0) {
        (a, b)
    } else {
        (b, a)
    };
    // The holder stops (and gives the lease up): the standby goes on from
    // the saved replay id.
    holder.shutdown().await;
    publish(&env, 1_000, 500);
    let rest = env
        .collect(Duration::from_secs(30), Duration::from_millis(500), |g| {
            g.len() >= 500
        })
        .await;
    let ids: HashSet<_> = rest.iter().map(|g| g.message_id.clone()).collect();
    assert_eq!(ids.len(), 500, "the later events, from the standby");
    assert_eq!(by_id(&rest).len(), rest.len(), "none twice");
    let m = other.metrics.encode();
    assert_eq!(standby(&m), Some(0.0), "{m}");
    other.shutdown().await;
    cleanup_redis(&prefix).await;
    env.finish().await;
}

/// Deletes the test's keys.
async fn cleanup_redis(prefix: &str) {
    let client = redis::Client::open("redis://127.0.0.1:6379").expect("redis");
    let mut c = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    for k in ["orders", "orders:lease"] {
        let _: () = redis::cmd("DEL")
            .arg(format!("{prefix}{k}"))
            .query_async(&mut c)
            .await
            .expect("del");
    }
}
