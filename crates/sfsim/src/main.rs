//! Runs the Salesforce REST API simulator until Ctrl-C or SIGTERM (or
//! `--exit-after`), for the README demo, trying the worker by hand and the
//! worker soak (`scripts/worker-soak.sh`).
//!
//! `cargo run -p sfsim -- \[PORT\]` (default 0: a free port; `--host 0.0.0.0
//! --public-url http://sfsim:8787` in a container). It trusts
//! `fixtures/salesforce/jwt/test-rsa.pub.pem` for the JWT bearer flow (sign
//! assertions with `fixtures/salesforce/jwt/test-rsa.key`); `--jwt-pub` /
//! `SFSIM_JWT_PUB` names another public key, `--daily-limit` /
//! `SFSIM_DAILY_LIMIT` sets the daily limit and `--login-host` /
//! `SFSIM_LOGIN_HOST` (`site`, the default: JWT `aud` = its URL;
//! `production`; `sandbox`) the login host it stands for.
//! `--bulk-record-time 0.05ms`, `--bulk-queue-time 200ms` and
//! `--daily-bulk-batches 15000` set Bulk API 2.0 processing (the defaults).
//! Prints the URL to use as both `login_url` and `instance_url`.
//!
//! A fault plan, counted from the start (`crate::plan`): `--token-outage
//! 20s+30s` (the token endpoint answers 503), `--expire-tokens 20s` (every
//! token issued so far dies), `--maintenance 90s+20s` (read-only mode),
//! `--unknown-exception-ratio 5%` (collections calls answered 500
//! `UNKNOWN_EXCEPTION`, drawn with `--seed`). The summary (calls by kind,
//! per-record write counts) is served at `GET /_sfsim/summary` and, at exit,
//! written to `--summary PATH` (`-`: stdout) with one line on stderr.
//!
//! `--pubsub-port PORT` (0: a free one) also serves the Pub/Sub API
//! (`eventbus.v1.PubSub`, plaintext h2c, `crate::pubsub`) on that port of
//! `--host`, with a demo platform event topic `/event/Demo__e`
//! (`Message__c` string, `Amount__c` double) and `/data/AccountChangeEvent`
//! (`Name`, `Industry`); one of each is published every
//! `--pubsub-demo-every` (default 5s; 0: none). Authenticate with a token
//! from this simulator, `instanceurl` = its URL, `tenantid` = the 18-character
//! org id (printed on stderr).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, ValueEnum};
use sfsim::{FaultPlan, LoginHost, PubSubConfig, PubSubSim, SimConfig, Simulator, Window};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Host {
    Site,
    Production,
    Sandbox,
}

/// The Salesforce REST API simulator (dev-only).
#[derive(Debug, Parser)]
#[command(name = "sfsim")]
struct Args {
    /// Port on 127.0.0.1 (0: a free one).
    #[arg(default_value_t = 0)]
    port: u16,
    /// The address to listen on (0.0.0.0 in a container).
    #[arg(long, env = "SFSIM_HOST", default_value = "127.0.0.1")]
    host: IpAddr,
    /// The URL clients reach it at, when not the listen address (the
    /// token reply's instance_url and the site's JWT audience), e.g.
    /// http://sfsim:8787 on a container network.
    #[arg(long, env = "SFSIM_PUBLIC_URL")]
    public_url: Option<String>,
    /// The RS256 public key (PEM) the JWT bearer flow trusts.
    #[arg(long, env = "SFSIM_JWT_PUB")]
    jwt_pub: Option<String>,
    /// The daily API allocation.
    #[arg(long, env = "SFSIM_DAILY_LIMIT")]
    daily_limit: Option<u64>,
    /// The login host it stands for (decides the JWT audience).
    #[arg(long, env = "SFSIM_LOGIN_HOST", value_enum, default_value = "site")]
    login_host: Host,
    /// The org's id (15 or 18 characters, prefix 00D).
    #[arg(long, default_value = sfsim::DEFAULT_ORG_ID)]
    org_id: String,
    /// The connected app's consumer key (JWT `iss`).
    #[arg(long)]
    consumer_key: Option<String>,
    /// Tokens die this long after they are issued (30, 30s, 500ms, 2m).
    #[arg(long, value_parser = sfsim::parse_duration)]
    token_ttl: Option<Duration>,
    /// START+DURATION from the start: the token endpoint answers 503 (repeatable).
    #[arg(long, value_name = "START+DURATION")]
    token_outage: Vec<Window>,
    /// Every token issued so far dies at this offset (repeatable).
    #[arg(long, value_name = "AT", value_parser = sfsim::parse_duration)]
    expire_tokens: Vec<Duration>,
    /// START+DURATION from the start: read-only mode, a maintenance window (repeatable).
    #[arg(long, value_name = "START+DURATION")]
    maintenance: Vec<Window>,
    /// Share of sObject Collections calls answered 500 UNKNOWN_EXCEPTION (0.05 or 5%).
    #[arg(long, value_parser = sfsim::parse_ratio, default_value = "0")]
    unknown_exception_ratio: f64,
    /// Seed of the random faults.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// At exit, write the summary (JSON, with every record) here; `-`: stdout.
    #[arg(long)]
    summary: Option<String>,
    /// Stop by itself after this long.
    #[arg(long, value_parser = sfsim::parse_duration)]
    exit_after: Option<Duration>,
    /// Bulk API 2.0: processing time per record of a closed job (default 0.05ms).
    #[arg(long, value_parser = sfsim::parse_duration)]
    bulk_record_time: Option<Duration>,
    /// Bulk API 2.0: how long a closed job stays queued (default 200ms).
    #[arg(long, value_parser = sfsim::parse_duration)]
    bulk_queue_time: Option<Duration>,
    /// Bulk API 2.0: the daily batch allocation (default 15000).
    #[arg(long)]
    daily_bulk_batches: Option<u64>,
    /// Also serve the Pub/Sub API (gRPC, h2c) on this port (0: a free one).
    #[arg(long, env = "SFSIM_PUBSUB_PORT")]
    pubsub_port: Option<u16>,
    /// Pub/Sub demo: publish one demo event and one change event this often (0: never).
    #[arg(long, value_parser = sfsim::parse_duration, default_value = "5s")]
    pubsub_demo_every: Duration,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let key_path = args.jwt_pub.clone().unwrap_or_else(|| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fixtures/salesforce/jwt/test-rsa.pub.pem"
        )
        .into()
    });
    let pem = std::fs::read_to_string(&key_path).with_context(|| format!("reading {key_path}"))?;
    let mut config = SimConfig {
        jwt_public_key_pem: pem,
        org_id: args.org_id.clone(),
        public_url: args.public_url.clone(),
        ..SimConfig::default()
    };
    if let Some(limit) = args.daily_limit {
        config.daily_limit = limit;
    }
    if let Some(key) = &args.consumer_key {
        config.consumer_key.clone_from(key);
    }
    if let Some(ttl) = args.token_ttl {
        config.token_ttl = ttl;
    }
    if let Some(t) = args.bulk_record_time {
        config.bulk_record_time = t;
    }
    if let Some(t) = args.bulk_queue_time {
        config.bulk_queue_time = t;
    }
    if let Some(n) = args.daily_bulk_batches {
        config.daily_bulk_batches = n;
    }
    config.login_host = match args.login_host {
        Host::Production => LoginHost::Production,
        Host::Sandbox => LoginHost::Sandbox,
        Host::Site => LoginHost::Site,
    };
    let plan = FaultPlan {
        token_outages: args.token_outage.clone(),
        expire_tokens: args.expire_tokens.clone(),
        maintenance: args.maintenance.clone(),
        unknown_exception_ratio: args.unknown_exception_ratio,
        seed: args.seed,
    };
    let summary = format!(
        "org_id={} consumer_key={} username={} client_secret={} daily_limit={}",
        args.org_id, config.consumer_key, config.username, config.client_secret, config.daily_limit
    );
    let sim = Simulator::start_on(config, SocketAddr::from((args.host, args.port)))
        .await
        .context("starting the simulator")?;
    sim.schedule(&plan);
    println!("{}", sim.url());
    eprintln!(
        "Salesforce simulator on {} ({summary} audience={}); Ctrl-C or SIGTERM stops it",
        sim.url(),
        sim.audience()
    );
    for line in plan.describe() {
        eprintln!("fault plan: {line}");
    }
    if let Some(port) = args.pubsub_port {
        let addr = SocketAddr::from((args.host, port));
        let ps = PubSubSim::start_on(&sim, PubSubConfig::default(), addr)
            .await
            .context("starting the Pub/Sub API server")?;
        demo(&ps, args.pubsub_demo_every).context("the Pub/Sub demo topics")?;
        eprintln!(
            "Pub/Sub API on {} (tenantid={}, instanceurl={}; topics {DEMO_EVENT}, {DEMO_CHANGE}, {})",
            ps.url(),
            ps.tenant_id(),
            ps.instance_url(),
            sfsim::pubsub::ALL_CHANGES,
        );
    }
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let lifetime = args.exit_after.unwrap_or(Duration::MAX);
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = term.recv() => {}
        () = sleep_long(lifetime) => eprintln!("exit after {} s", lifetime.as_secs_f64()),
    }
    let s = sim.summary(args.summary.is_some());
    eprintln!(
        "{} API calls, {} token requests, usage {}; calls by kind: {}; records written {}, \
         written more than once {}",
        sim.api_calls(),
        sim.token_requests(),
        sim.usage(),
        s["calls"],
        s["records_written"],
        s["written_more_than_once"].as_array().map_or(0, Vec::len),
    );
    match args.summary.as_deref() {
        Some("-") => println!("{s}"),
        Some(path) => {
            std::fs::write(path, s.to_string()).with_context(|| format!("writing {path}"))?
        }
        None => {}
    }
    sim.shutdown().await;
    Ok(())
}

const DEMO_EVENT: &str = "/event/Demo__e";
const DEMO_CHANGE: &str = "/data/AccountChangeEvent";

/// Adds the demo topics and publishes to them every `every` (0: never).
fn demo(ps: &PubSubSim, every: Duration) -> anyhow::Result<()> {
    use sfsim::pubsub::{AvroType, ChangeSpec, ChangeType};
    ps.add_platform_event(
        DEMO_EVENT,
        &[
            ("Message__c", AvroType::String),
            ("Amount__c", AvroType::Double),
        ],
    )?;
    ps.add_change_event(
        DEMO_CHANGE,
        "Account",
        &[("Name", AvroType::String), ("Industry", AvroType::String)],
    )?;
    if every.is_zero() {
        return Ok(());
    }
    let ps = ps.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        for n in 1u64.. {
            tick.tick().await;
            let event =
                serde_json::json!({ "Message__c": format!("demo {n}"), "Amount__c": n as f64 });
            let change = ChangeSpec {
                change_type: ChangeType::Update,
                record_ids: vec!["001000000000001AAA".to_owned()],
                changed_fields: vec!["Industry".to_owned()],
                values: serde_json::json!({ "Industry": format!("Industry {n}") }),
                sequence_number: 1,
                ..ChangeSpec::default()
            };
            if ps.publish(DEMO_EVENT, event).is_err()
                || ps.publish_change(DEMO_CHANGE, change).is_err()
            {
                break;
            }
        }
    });
    Ok(())
}

/// `tokio::time::sleep` without overflowing on `Duration::MAX`.
async fn sleep_long(d: Duration) {
    match tokio::time::Instant::now().checked_add(d) {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_port_alone_still_works() {
        let a = Args::try_parse_from(["sfsim", "8787"]).expect("parse");
        assert_eq!(a.port, 8787);
        assert!(a.token_outage.is_empty() && a.maintenance.is_empty());
        assert_eq!(a.unknown_exception_ratio, 0.0);
        assert_eq!(a.org_id, sfsim::DEFAULT_ORG_ID);
        assert_eq!(Args::try_parse_from(["sfsim"]).expect("parse").port, 0);
    }

    #[test]
    fn a_fault_plan_parses() {
        let a = Args::try_parse_from([
            "sfsim",
            "0",
            "--org-id",
            "00D000000000001EAA",
            "--token-outage",
            "20s+30s",
            "--expire-tokens",
            "20",
            "--maintenance",
            "90+20",
            "--maintenance",
            "150s+5s",
            "--unknown-exception-ratio",
            "5%",
            "--seed",
            "42",
            "--exit-after",
            "10m",
        ])
        .expect("parse");
        let s = Duration::from_secs;
        assert_eq!(
            a.token_outage,
            vec![Window {
                start: s(20),
                duration: s(30)
            }]
        );
        assert_eq!(a.expire_tokens, vec![s(20)]);
        assert_eq!(a.maintenance.len(), 2);
        assert_eq!(a.maintenance[1].start, s(150));
        assert_eq!(a.unknown_exception_ratio, 0.05);
        assert_eq!(a.seed, 42);
        assert_eq!(a.exit_after, Some(s(600)));
        for bad in [
            &["sfsim", "--token-outage", "30"][..],
            &["sfsim", "--unknown-exception-ratio", "2"],
            &["sfsim", "--login-host", "moon"],
            &["sfsim", "port"],
        ] {
            assert!(Args::try_parse_from(bad).is_err(), "{bad:?}");
        }
    }
}
