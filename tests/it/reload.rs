//! SIGHUP reloads the routes atomically: a new route and a rotated secret
//! take effect; a config that fails validation changes nothing; settings a
//! reload cannot apply are named. The replay cache outlives a restart.

use std::time::{Duration, Instant};

use lapin::options::{QueueBindOptions, QueueDeclareOptions};
use lapin::types::{FieldTable, ShortString};
use lapin::{Connection, ConnectionProperties};

use crate::support::gateway::GatewayProcess;
use crate::support::{self, fixture, fixture_headers, sign};

fn config(dir: &std::path::Path, exchange: &str, with_new_route: bool, secret: &str) -> String {
    let secret_file = dir.join(format!("{secret}.secret"));
    std::fs::write(&secret_file, secret).unwrap();
    let mut text = format!(
        r#"
[server]
plaintext = true
listen = "127.0.0.1:0"
[admin]
listen = "127.0.0.1:0"
[amqp]
url = "{}"
exchange = "{exchange}"
[spool]
path = "{}"
[dedupe]
path = "{}"
[[routes]]
path = "/hooks/github"
kind = "github"
secrets = [{{ file = "{}" }}]
"#,
        support::AMQP_URL,
        dir.join("spool.redb").display(),
        dir.join("dedupe.redb").display(),
        secret_file.display()
    );
    if with_new_route {
        text.push_str(&format!(
            "\n[[routes]]\nname = \"added\"\npath = \"/hooks/added\"\nkind = \"github\"\nsecrets = [{{ file = \"{}\" }}]\n",
            secret_file.display()
        ));
    }
    text
}

fn hup(pid: u32) {
    let st = std::process::Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .unwrap();
    assert!(st.success());
}

async fn status(client: &reqwest::Client, url: &str, secret: &str) -> u16 {
    post_delivery(client, url, secret, &support::unique()).await
}

/// Posts the GitHub push fixture signed with `secret` as delivery `id`.
async fn post_delivery(client: &reqwest::Client, url: &str, secret: &str, id: &str) -> u16 {
    let body = fixture("github/push.json");
    let mut headers = fixture_headers("github/push.json");
    headers.retain(|(k, _)| !k.eq_ignore_ascii_case("x-github-delivery"));
    headers.push(("X-GitHub-Delivery".into(), id.to_owned()));
    let mut req = client.post(url).body(body.clone());
    for (k, v) in sign::github(secret, &body, headers) {
        req = req.header(k, v);
    }
    req.send().await.unwrap().status().as_u16()
}

/// A unique durable exchange with an exclusive queue bound to `#`, so
/// confirmed publishes are routable: (connection, channel, queue name).
async fn exchange_with_queue(exchange: &str) -> (Connection, lapin::Channel, ShortString) {
    let amqp = Connection::connect(support::AMQP_URL, ConnectionProperties::default())
        .await
        .unwrap();
    let ch = amqp.create_channel().await.unwrap();
    support::declare_exchange(&ch, exchange).await;
    let q = ch
        .queue_declare(
            ShortString::from(""),
            QueueDeclareOptions {
                exclusive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    ch.queue_bind(
        q.name().clone(),
        ShortString::from(exchange),
        ShortString::from("#"),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    let name = q.name().clone();
    (amqp, ch, name)
}

/// One test's temp dir, unique exchange with its queue, and config file.
struct Setup {
    dir: tempfile::TempDir,
    exchange: String,
    amqp: Connection,
    ch: lapin::Channel,
    queue: ShortString,
    path: std::path::PathBuf,
}

impl Setup {
    /// Everything made, the config written with `secret` and no added route.
    async fn new(secret: &str) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let exchange = format!("hookgate.test.{}", support::unique());
        let (amqp, ch, queue) = exchange_with_queue(&exchange).await;
        let path = dir.path().join("hookgate.toml");
        let setup = Setup {
            dir,
            exchange,
            amqp,
            ch,
            queue,
            path,
        };
        setup.write(false, secret);
        setup
    }

    /// The config text: with or without the route `/hooks/added`, `secret`.
    fn config(&self, with_new_route: bool, secret: &str) -> String {
        config(self.dir.path(), &self.exchange, with_new_route, secret)
    }

    /// Writes [`Setup::config`] to the config file.
    fn write(&self, with_new_route: bool, secret: &str) {
        std::fs::write(&self.path, self.config(with_new_route, secret)).unwrap();
    }

    /// Closes the channel, then the connection; dropping deletes the rest.
    async fn done(self) {
        let _ = self.ch.close(200, ShortString::from("done")).await;
        let _ = self.amqp.close(200, ShortString::from("done")).await;
    }
}

impl Drop for Setup {
    /// Deletes the exchange (and the gateway's `.unroutable` pair), also
    /// when the test panicked before [`Setup::done`].
    fn drop(&mut self) {
        support::cleanup(support::AMQP_URL, vec![self.exchange.clone()], Vec::new());
    }
}

#[tokio::test]
async fn sighup_reloads_routes_atomically() {
    let setup = Setup::new("old-secret").await;
    let path = &setup.path;
    let mut gw = GatewayProcess::spawn(path).await;
    let base = format!("http://{}", gw.addr);
    let client = reqwest::Client::new();
    wait_connected(&gw).await;
    assert_eq!(
        status(&client, &format!("{base}/hooks/github"), "old-secret").await,
        200
    );
    assert_eq!(
        status(&client, &format!("{base}/hooks/added"), "old-secret").await,
        404
    );

    // New route, rotated secret: SIGHUP.
    setup.write(true, "new-secret");
    hup(gw.pid());
    let deadline = Instant::now() + Duration::from_secs(5);
    while status(&client, &format!("{base}/hooks/added"), "new-secret").await != 200 {
        assert!(
            Instant::now() < deadline,
            "route not reloaded:\n{}",
            gw.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        status(&client, &format!("{base}/hooks/github"), "new-secret").await,
        200
    );
    assert_eq!(
        status(&client, &format!("{base}/hooks/github"), "old-secret").await,
        401
    );
    // Logged after any WARN of the same reload.
    wait_lines(&gw, "routes reloaded", 1).await;
    assert!(
        !gw.log().contains(WAITS_FOR_RESTART),
        "only routes changed:\n{}",
        gw.log()
    );

    // A config that fails validation changes nothing.
    std::fs::write(path, "[server]\nlisten = 42\n").unwrap();
    hup(gw.pid());
    let deadline = Instant::now() + Duration::from_secs(5);
    while !gw.log().contains("config reload failed") {
        assert!(
            Instant::now() < deadline,
            "no reload error logged:\n{}",
            gw.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        status(&client, &format!("{base}/hooks/added"), "new-secret").await,
        200
    );
    assert!(gw.sigterm(Duration::from_secs(10)).await.success());
    setup.done().await;
}

/// The WARN of a reload that found settings read only at start changed.
const WAITS_FOR_RESTART: &str = "apply only after a restart";

/// Waits until the gateway's log has `n` lines containing `text`.
async fn wait_lines(gw: &GatewayProcess, text: &str, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while gw.log().lines().filter(|l| l.contains(text)).count() < n {
        assert!(
            Instant::now() < deadline,
            "{n} x {text:?} not logged:\n{}",
            gw.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A reload applies the routes and names, in a WARN, the settings it
/// cannot apply (read at start) that differ from the start's file: keys
/// only, never values; back to the start's settings, nothing is named.
#[tokio::test]
async fn a_reload_names_the_settings_that_wait_for_a_restart() {
    let setup = Setup::new("s").await;
    let path = &setup.path;
    let mut gw = GatewayProcess::spawn(path).await;
    let client = reqwest::Client::new();
    wait_connected(&gw).await;

    // A new route (applied) and two settings read at start (not applied).
    let with_route = setup.config(true, "s");
    let changed = with_route
        .replace("[amqp]\n", "[amqp]\nconfirm_timeout_ms = 7000\n")
        .replace("[server]\n", "[server]\nmax_connections = 5000\n");
    std::fs::write(path, changed).unwrap();
    hup(gw.pid());
    wait_lines(&gw, WAITS_FOR_RESTART, 1).await;
    let log = gw.log();
    let line = log.lines().find(|l| l.contains(WAITS_FOR_RESTART)).unwrap();
    assert!(
        line.contains("amqp.confirm_timeout_ms, server.max_connections")
            && !line.contains("7000")
            && !line.contains("routes"),
        "{line}"
    );
    let added = format!("http://{}/hooks/added", gw.addr);
    assert_eq!(status(&client, &added, "s").await, 200, "route applied");

    // Back to the start's settings (the route kept): nothing waits.
    std::fs::write(path, with_route).unwrap();
    hup(gw.pid());
    // Logged after any WARN of the same reload.
    wait_lines(&gw, "routes reloaded", 2).await;
    assert_eq!(
        gw.log()
            .lines()
            .filter(|l| l.contains(WAITS_FOR_RESTART))
            .count(),
        1,
        "{}",
        gw.log()
    );
    assert_eq!(status(&client, &added, "s").await, 200);
    assert!(gw.sigterm(Duration::from_secs(10)).await.success());
    setup.done().await;
}

async fn wait_connected(gw: &GatewayProcess) {
    let deadline = Instant::now() + support::DEADLINE;
    while gw.metric("hookgate_broker_connected").await != 1.0 {
        assert!(Instant::now() < deadline, "gateway never connected");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Marks recorded before a graceful stop are on disk: the same delivery
/// sent to the restarted gateway is answered 200 and not published again.
/// Both stops are clean.
#[tokio::test]
async fn replay_cache_outlives_a_restart() {
    let setup = Setup::new("s3cret").await;
    let (path, ch, queue) = (&setup.path, &setup.ch, &setup.queue);
    let id = support::unique();

    let mut first = GatewayProcess::spawn(path).await;
    // After spawn: it installs the rustls crypto provider reqwest needs.
    let client = reqwest::Client::new();
    wait_connected(&first).await;
    let url = format!("http://{}/hooks/github", first.addr);
    assert_eq!(post_delivery(&client, &url, "s3cret", &id).await, 200);
    assert!(first.sigterm(Duration::from_secs(10)).await.success());
    first.assert_clean_stop("stopped").await;

    let mut second = GatewayProcess::spawn(path).await;
    wait_connected(&second).await;
    let url = format!("http://{}/hooks/github", second.addr);
    assert_eq!(post_delivery(&client, &url, "s3cret", &id).await, 200);
    assert_eq!(
        second
            .metric(r#"hookgate_duplicates_total{route="github",outcome="duplicate"}"#)
            .await,
        1.0,
        "{}",
        second.log()
    );
    // A new delivery still goes through.
    assert_eq!(
        post_delivery(&client, &url, "s3cret", &support::unique()).await,
        200
    );
    assert!(second.sigterm(Duration::from_secs(10)).await.success());
    second.assert_clean_stop("stopped").await;

    // Exactly two messages: the first delivery once, and the new one.
    let mut ids = Vec::new();
    while let Some(m) = ch
        .basic_get(
            queue.clone(),
            lapin::options::BasicGetOptions { no_ack: true },
        )
        .await
        .unwrap()
    {
        ids.push(support::message_id(&m));
    }
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert_eq!(ids[0], id);
    setup.done().await;
}
