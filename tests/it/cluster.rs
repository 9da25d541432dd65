//! RabbitMQ cluster failover (docs/reliability.md, "RabbitMQ cluster
//! failover"): a 3-node cluster of private nodes on 127.0.0.1, a quorum
//! queue, signed load through a gateway with `amqp.urls` = the 3 nodes; the
//! node the gateway is connected to is SIGKILLed mid-load. Every id answered
//! 200 must be in the queue afterwards (read from a surviving node), the
//! gateway must be connected to another node within seconds, and the spool
//! must have taken at most the requests of those seconds.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use lapin::{Connection, ConnectionProperties};

use crate::outage::{assert_all_200, assert_none_lost, collect_ids, eventually, Load};
use crate::support::cluster::Cluster;
use crate::support::gateway::metric;
use crate::support::{self, Harness, Options};

/// The gateway's connection name, as `rabbitmqctl list_connections` shows it.
const CONNECTION: &str = "hookgate gateway";
/// Longest the gateway may take to be connected to another node.
const FAILOVER_DEADLINE: Duration = Duration::from_secs(15);
/// How long a new connection must last to count as the reconnection (a node
/// that has not noticed its peer's death yet nacks a streak and is left).
const SETTLE: Duration = Duration::from_secs(1);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_node_killed_mid_load_gateway_fails_over_and_loses_nothing() {
    let t0 = Instant::now();
    let mut cluster = Cluster::start(3)
        .await
        .unwrap_or_else(|e| panic!("cannot start a 3-node RabbitMQ cluster: {e}"));
    let booted = t0.elapsed();
    let queue = format!("hookgate.cluster.{}", support::unique());
    let h = Harness::start_with(Options {
        amqp_urls: Some(cluster.urls()),
        test_amqp_url: Some(cluster.nodes[0].amqp_url()),
        // The harness's own queue stays unbound: the quorum queue is the one.
        test_bindings: Some(Vec::new()),
        spool_after_ms: Some(500),
        amqp_toml: Some(format!(
            "[[amqp.queues]]\nname = \"{queue}\"\ntype = \"quorum\"\n"
        )),
        ..Options::default()
    })
    .await;
    let first = wait_connected_node(&cluster, None).await;
    let load = Load::start(
        h.client.clone(),
        format!("{}/hooks/github", h.base),
        "cluster",
    );
    load.wait_done(200, "cluster up").await;

    let connections = |m: &str| metric(m, "hookgate_broker_connections_total");
    let before = connections(&h.admin_get("/metrics").await.1);
    let killed = Instant::now();
    let pid = cluster.nodes[first].kill9().await.unwrap_or_else(|e| {
        panic!(
            "SIGKILL of node {first}: {e}\n{}",
            cluster.nodes[first].output_tail()
        )
    });
    let at_kill = load.done();
    // Reconnected: a new connection was made (the dead node refuses) and
    // kept for SETTLE (a node that nacks a streak is left for the next).
    let deadline = killed + FAILOVER_DEADLINE;
    let (mut count, mut changed, mut at_reconnect) = (before, killed, at_kill);
    loop {
        let now = connections(&h.admin_get("/metrics").await.1);
        if now != count {
            (count, changed, at_reconnect) = (now, Instant::now(), load.done());
        } else if count > before && changed.elapsed() >= SETTLE {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the gateway did not keep a new connection within {FAILOVER_DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let reconnect = changed - killed;
    let at_settled = load.done();
    let second = wait_connected_node(&cluster, Some(first)).await;
    load.wait_done(at_settled + 200, "after failover").await;
    let answers = load.stop().await;

    assert_all_200(&answers, "also during the failover");
    // Read the quorum queue from the node the gateway moved to.
    let reader = Connection::connect(
        &cluster.nodes[second].amqp_url(),
        ConnectionProperties::default(),
    )
    .await
    .expect("connection to a surviving node");
    let ch = reader.create_channel().await.expect("channel");
    let accepted: HashSet<String> = answers.iter().map(|a| a.id.clone()).collect();
    let seen = collect_ids(&ch, &queue, &accepted).await;
    assert_none_lost("cluster node SIGKILL", &answers, &seen);

    let spool = h.running().spool.clone().expect("spool enabled");
    eventually("spool drained", Duration::from_secs(30), || {
        let s = spool.clone();
        async move { s.status().messages == 0 }
    })
    .await;
    let (_, metrics) = h.admin_get("/metrics").await;
    let spooled = metric(&metrics, "hookgate_spool_writes_total");
    let forwarded = metric(&metrics, "hookgate_spool_forwarded_total");
    let window = at_settled - at_kill;
    // Connections made since the kill: one per node reached (a node that
    // nacked a streak of publishes counts too).
    let made = connections(&metrics) - before;
    println!(
        "cluster booted in {booted:?}; gateway on node {first}, its beam pid {pid} SIGKILLed \
         after {at_kill} requests; reconnected for good {reconnect:?} after the kill \
         ({} requests answered in between, {window} until {SETTLE:?} later), now on node \
         {second} after {made} connections; \
         2xx total {}, spooled {spooled}, forwarded {forwarded}",
        at_reconnect - at_kill,
        answers.len(),
    );
    assert_ne!(first, second, "the gateway moved to another node");
    assert_eq!(spooled, forwarded, "everything spooled was forwarded");
    assert!(
        spooled <= (window + crate::outage::TASKS) as f64,
        "the spool took {spooled} messages, more than the {window} requests of the failover"
    );

    crate::support::delete_queue_and_close(reader, &ch, &queue).await;
    h.finish().await;
    cluster.stop().await;
}

/// The node (other than `skip`) that holds the gateway's connection, waited
/// for with a deadline.
async fn wait_connected_node(cluster: &Cluster, skip: Option<usize>) -> usize {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(i) = cluster.connected_node(CONNECTION, skip).await {
            return i;
        }
        assert!(
            Instant::now() < deadline,
            "no node lists the gateway's connection"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
