//! Issue #15, several orgs and the loop guard: one worker writing to two
//! orgs (two simulators), each message to its own org exactly once; an
//! unknown org dead-lettered without a call; one org paused while the other
//! keeps being written; a Notification last modified by the integration
//! user acked without a write.

use std::time::Duration;

use hookgate::worker::metrics::ReasonLabels;
use lapin::options::{BasicPublishOptions, ExchangeDeclareOptions};
use lapin::types::{FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use serde_json::json;
use sfsim::{Outage, Simulator};

use crate::support::worker::{base, eventually, sfid, simulator, WorkerEnv, WorkerOpts, USERNAME};
use crate::support::{repo, unique, AMQP_URL};

const ORG_A: &str = "00D000000000001EAA";
/// Org B's id as its Outbound Messages may carry it: 15 characters.
const ORG_B_15: &str = "00D000000000002";
const ORG_B: &str = "00D000000000002EAA";
/// The integration user of org A (loop guard).
const INTEGRATION_USER: &str = "005000000000001AAA";

const ACTIONS: &str = r#"
[[worker.actions]]
match = "salesforce.Account"
kind = "salesforce_update"
fields = { Integration_Status__c = "Received" }

[[worker.actions]]
match = "stripe.invoice.*"
kind = "salesforce_upsert"
org = "beta"
sobject = "Payment__c"
external_id_field = "Stripe_Id__c"
fields = { Stripe_Id__c = "/data/object/id", Amount__c = "/data/object/amount_paid" }
"#;

/// Two orgs: `alpha` (`env.sim`, with the loop guard) and `beta` (`b`).
struct Orgs {
    env: WorkerEnv,
    b: Simulator,
    exchange: String,
    conn: Connection,
    ch: Channel,
    text: String,
}

impl Orgs {
    async fn start(worker_extra: &str) -> Orgs {
        let conn = Connection::connect(AMQP_URL, ConnectionProperties::default())
            .await
            .unwrap();
        let ch = conn.create_channel().await.unwrap();
        let exchange = format!("hookgate.test.{}.orgs", unique());
        ch.exchange_declare(
            ShortString::from(exchange.as_str()),
            ExchangeKind::Topic,
            ExchangeDeclareOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
        let env = WorkerEnv::start(
            &exchange,
            WorkerOpts {
                actions: Some(ACTIONS.into()),
                ..WorkerOpts::default()
            },
        )
        .await;
        let b = simulator(100_000).await;
        let head = env
            .config_text
            .split("\n[salesforce]\n")
            .next()
            .unwrap()
            .replace(
                "prefetch = 400\n",
                &format!("prefetch = 400\n{worker_extra}"),
            );
        let org = |name: &str, id: &str, url: &str, extra: &str| {
            format!(
                "[[salesforce.orgs]]\nname = \"{name}\"\norganization_id = \"{id}\"\n{extra}\
                 login_url = \"{url}\"\ninstance_url = \"{url}\"\napi_version = \"62.0\"\nauth = \"jwt_bearer\"\n\
                 consumer_key = {{ file = \"{key}\" }}\nusername = \"{USERNAME}\"\nprivate_key = {{ file = \"{pem}\" }}\n\n",
                key = env.dir.path().join("consumer_key").display(),
                pem = repo().join("fixtures/salesforce/jwt/test-rsa.key").display(),
            )
        };
        let guard = format!(
            "skip_if_last_modified_by = \"{}\"\n",
            &INTEGRATION_USER[..15]
        );
        let text = format!(
            "{head}\n{}{}",
            org("alpha", ORG_A, &env.sim.url(), &guard),
            org("beta", ORG_B, &b.url(), "")
        );
        Orgs {
            env,
            b,
            exchange,
            conn,
            ch,
            text,
        }
    }

    async fn worker(&self) -> hookgate::worker::Running {
        let config =
            hookgate::config::worker::WorkerConfig::from_toml(&self.env.config_path, &self.text)
                .expect("two-org config");
        assert_eq!(config.orgs.len(), 2);
        hookgate::worker::start(config).await.expect("start worker")
    }

    async fn publish(&self, routing_key: &str, id: &str, body: serde_json::Value) {
        self.ch
            .basic_publish(
                ShortString::from(self.exchange.as_str()),
                ShortString::from(routing_key),
                BasicPublishOptions::default(),
                &serde_json::to_vec(&body).unwrap(),
                BasicProperties::default()
                    .with_message_id(ShortString::from(id))
                    .with_content_type(ShortString::from("application/json"))
                    .with_delivery_mode(2),
            )
            .await
            .unwrap()
            .await
            .unwrap();
    }

    /// An Account Notification of `org` for record `id`.
    async fn notification(&self, org: &str, n: &str, id: &str, modified_by: &str) {
        let body = json!({
            "organization_id": org, "action_id": "04kHs000000GmaBIAS", "notification_id": n,
            "sobject_type": "Account",
            "sobject": {"Id": id, "LastModifiedById": modified_by},
            "enterprise_url": null, "partner_url": null,
        });
        self.publish("salesforce.Account", n, body).await;
    }

    async fn finish(self, ids: &[String]) {
        crate::support::delete_exchange(&self.exchange).await;
        let _ = self.conn.close(200, ShortString::from("done")).await;
        self.b.shutdown().await;
        self.env.finish(ids).await;
    }
}

/// How many of `ids` `sim` has marked Received.
fn written(sim: &Simulator, ids: &[String]) -> usize {
    ids.iter()
        .filter(|a| {
            sim.record("Account", a)
                .is_some_and(|r| r.get("Integration_Status__c") == Some(&json!("Received")))
        })
        .count()
}

fn counter(
    family: &prometheus_client::metrics::family::Family<
        ReasonLabels,
        prometheus_client::metrics::counter::Counter,
    >,
    reason: &str,
) -> u64 {
    family
        .get_or_create(&ReasonLabels {
            reason: reason.into(),
        })
        .get()
}

/// `n` Accounts per org, seeded only in their own org.
fn accounts(o: &Orgs, n: u64) -> (Vec<String>, Vec<String>) {
    let b0 = base();
    let a: Vec<String> = (0..n).map(|i| sfid("001", b0 + 2 * i)).collect();
    let b: Vec<String> = (0..n).map(|i| sfid("001", b0 + 2 * i + 1)).collect();
    for id in &a {
        o.env.sim.seed("Account", id, serde_json::Map::new());
    }
    for id in &b {
        o.b.seed("Account", id, serde_json::Map::new());
    }
    (a, b)
}

#[tokio::test]
async fn notifications_of_two_orgs_each_go_to_their_own_org_once() {
    let o = Orgs::start("").await;
    let (a, b) = accounts(&o, 30);
    let mut ids = Vec::new();
    // Interleaved: A, B, A, B, ...; B's id in its 15-character form.
    for (i, (ra, rb)) in a.iter().zip(&b).enumerate() {
        let (na, nb) = (format!("{ra}-n{i}"), format!("{rb}-n{i}"));
        o.notification(ORG_A, &na, ra, "005000000000077AAA").await;
        o.notification(ORG_B_15, &nb, rb, "").await;
        ids.extend([na, nb]);
    }
    // A webhook action naming org beta.
    let invoice = format!("in_{}", base());
    let evt = format!("evt_{invoice}");
    o.publish(
        "stripe.invoice.paid",
        &evt,
        json!({"id": evt, "data": {"object": {"id": invoice, "amount_paid": 1200}}}),
    )
    .await;
    ids.push(evt);
    // Alpha has spent 40 % of its daily allocation, beta nothing.
    o.env.sim.set_usage(40_000);
    let w = o.worker().await;
    eventually(60, "every record written in its org", || {
        written(&o.env.sim, &a) == a.len() && written(&o.b, &b) == b.len()
    })
    .await;
    eventually(30, "the invoice upserted in beta", || {
        o.b.record_by_external_id("Payment__c", "Stripe_Id__c", &invoice)
            .is_some()
    })
    .await;
    for id in &a {
        assert_eq!(o.env.sim.writes("Account", id), 1, "{id} once in alpha");
        assert!(o.b.record("Account", id).is_none(), "{id} not in beta");
    }
    for id in &b {
        assert_eq!(o.b.writes("Account", id), 1, "{id} once in beta");
        assert!(
            o.env.sim.record("Account", id).is_none(),
            "{id} not in alpha"
        );
    }
    assert!(o
        .env
        .sim
        .record_by_external_id("Payment__c", "Stripe_Id__c", &invoice)
        .is_none());
    eventually(10, "every message acked", || {
        w.metrics.processed.get() == 61
    })
    .await;
    assert_eq!(o.env.depth(&o.env.dlq).await, 0, "nothing dead-lettered");
    // Each org's API usage is its own last Sforce-Limit-Info reading.
    let text = w.metrics.encode();
    let usage = |org: &str| {
        crate::support::metric_value(
            &text,
            &format!("hookgate_worker_api_usage_ratio{{org=\"{org}\"}}"),
        )
    };
    let (alpha, beta) = (usage("alpha"), usage("beta"));
    assert!(
        alpha.is_some_and(|r| (0.40..0.401).contains(&r)),
        "alpha: {alpha:?} (simulator: {} of 100,000)",
        o.env.sim.usage()
    );
    assert!(
        beta.is_some_and(|r| r > 0.0 && r < 0.001),
        "beta: {beta:?} (simulator: {} of 100,000)",
        o.b.usage()
    );
    w.shutdown().await;
    o.finish(&ids).await;
}

#[tokio::test]
async fn unknown_org_is_dead_lettered_and_the_loop_guard_skips_without_a_call() {
    let o = Orgs::start("").await;
    let (a, _) = accounts(&o, 2);
    let w = o.worker().await;
    let calls = (o.env.sim.api_calls(), o.b.api_calls());
    let stranger = format!("{}-stranger", a[0]);
    o.notification("00D000000000003EAA", &stranger, &a[0], "")
        .await;
    // Last modified by the integration user (18 characters, other case).
    let echo = format!("{}-echo", a[1]);
    o.notification(ORG_A, &echo, &a[1], &INTEGRATION_USER.to_lowercase())
        .await;
    eventually(30, "dead-lettered unknown_org", || {
        counter(&w.metrics.dead_lettered, "unknown_org") == 1
    })
    .await;
    eventually(30, "loop guard counted", || {
        counter(&w.metrics.skipped, "loop_guard") == 1
    })
    .await;
    let dead = o.env.take_dead().await;
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert!(dead[0].1.starts_with("unknown_org"), "{dead:?}");
    assert_eq!(o.env.depth(&o.env.work_queue).await, 0, "both acked");
    assert_eq!(
        (o.env.sim.api_calls(), o.b.api_calls()),
        calls,
        "no API call for either"
    );
    assert!(o
        .env
        .sim
        .record("Account", &a[1])
        .is_some_and(|r| r.get("Integration_Status__c").is_none()));
    assert!(w
        .metrics
        .encode()
        .contains("hookgate_worker_skipped_total{reason=\"loop_guard\"} 1"));
    w.shutdown().await;
    o.finish(&[stranger, echo]).await;
}

#[tokio::test]
async fn a_paused_org_does_not_stall_the_other() {
    // Small batches, so org alpha's lane fills while it is paused.
    let o = Orgs::start("batch_size = 5\n").await;
    let (a, b) = accounts(&o, 40);
    // Long enough for every beta record to be written meanwhile on a loaded machine.
    o.env
        .sim
        .token_outage(Outage::Unavailable, Duration::from_secs(15));
    let mut ids = Vec::new();
    for (i, (ra, rb)) in a.iter().zip(&b).enumerate() {
        let (na, nb) = (format!("{ra}-p{i}"), format!("{rb}-p{i}"));
        o.notification(ORG_A, &na, ra, "").await;
        o.notification(ORG_B, &nb, rb, "").await;
        ids.extend([na, nb]);
    }
    let w = o.worker().await;
    eventually(30, "every beta record written", || {
        written(&o.b, &b) == b.len()
    })
    .await;
    // Still paused: nothing of alpha written yet.
    assert_eq!(w.metrics.paused_in("alpha", "auth"), 1, "alpha paused");
    assert_eq!(w.metrics.paused_in("beta", "auth"), 0, "beta not paused");
    assert_eq!(written(&o.env.sim, &a), 0);
    let text = w.metrics.encode();
    assert!(
        text.contains("hookgate_worker_paused{org=\"alpha\",reason=\"auth\"} 1"),
        "{text}"
    );
    eventually(60, "every alpha record written after it resumed", || {
        written(&o.env.sim, &a) == a.len()
    })
    .await;
    eventually(20, "every message acked", || {
        w.metrics.processed.get() == 80
    })
    .await;
    for id in &a {
        assert_eq!(o.env.sim.writes("Account", id), 1, "{id} once");
    }
    for id in &b {
        assert_eq!(o.b.writes("Account", id), 1, "{id} once");
    }
    assert_eq!(w.metrics.paused_in("alpha", "auth"), 0, "resumed");
    assert_eq!(o.env.depth(&o.env.dlq).await, 0, "nothing dead-lettered");
    assert_eq!(w.metrics.retried.get(), 0, "no attempt spent");
    assert!(
        w.metrics.deferred.get() > 0,
        "alpha's full lane deferred batches"
    );
    w.shutdown().await;
    o.finish(&ids).await;
}

#[tokio::test]
async fn config_errors_name_the_key() {
    let o = Orgs::start("").await;
    let load = |text: &str| {
        hookgate::config::worker::WorkerConfig::from_toml(&o.env.config_path, text)
            .expect_err("a config error")
            .to_string()
    };
    let unknown = load(&o.text.replace("org = \"beta\"", "org = \"gamma\""));
    assert!(unknown.contains("worker.actions[1].org"), "{unknown}");
    assert!(
        unknown.contains("gamma") && unknown.contains("stripe.invoice.*"),
        "{unknown}"
    );
    // `[salesforce]` keys beside `[[salesforce.orgs]]`.
    let both = load(&o.text.replacen(
        "[[salesforce.orgs]]",
        "[salesforce]\ntimeout_ms = 1000\n\n[[salesforce.orgs]]",
        1,
    ));
    assert!(
        both.contains("salesforce.timeout_ms") && both.contains("[[salesforce.orgs]]"),
        "{both}"
    );
    let dup_name = load(&o.text.replace("name = \"beta\"", "name = \"alpha\""));
    assert!(dup_name.contains("salesforce.orgs[1].name"), "{dup_name}");
    let dup_id = load(&o.text.replace(ORG_B, &ORG_A.to_lowercase()));
    assert!(
        dup_id.contains("salesforce.orgs[1].organization_id"),
        "{dup_id}"
    );
    o.finish(&[]).await;
}
