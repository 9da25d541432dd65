//! The binary's config commands: exit codes and messages naming file and key.

use std::process::Command;

use crate::support::repo;

fn hookgate() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hookgate"))
}

#[test]
fn check_config_accepts_the_example_with_dev_secrets() {
    let mut cmd = hookgate();
    cmd.current_dir(repo())
        .args(["check-config", "--config", "config/hookgate.example.toml"]);
    for line in std::fs::read_to_string(repo().join("config/dev.env"))
        .unwrap()
        .lines()
    {
        if let Some((k, v)) = line.split_once('=') {
            if !k.starts_with('#') {
                cmd.env(k.trim(), v.trim());
            }
        }
    }
    let out = cmd.output().expect("run hookgate");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for path in [
        "/salesforce/outbound",
        "/hooks/github",
        "/hooks/stripe",
        "/hooks/slack",
        "/hooks/shopify",
        "/hooks/standard",
        "/hooks/generic",
    ] {
        assert!(stdout.contains(path), "route {path} listed");
    }
}

#[test]
fn check_config_names_file_and_key_and_exits_2() {
    let out = hookgate()
        .current_dir(repo())
        .env_remove("GITHUB_WEBHOOK_SECRET")
        .args(["check-config", "--config", "config/hookgate.example.toml"])
        .output()
        .expect("run hookgate");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("config/hookgate.example.toml"), "{stderr}");
    assert!(stderr.contains("routes[1].secrets[0].env"), "{stderr}");
    assert!(stderr.contains("GITHUB_WEBHOOK_SECRET"), "{stderr}");

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[server]\nlisen = \"0.0.0.0:1\"\n").unwrap();
    let out = hookgate()
        .args(["check-config", "--config"])
        .arg(&bad)
        .output()
        .expect("run hookgate");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.toml") && stderr.contains("lisen"),
        "{stderr}"
    );

    let out = hookgate()
        .args(["serve", "--config", "/nonexistent/hookgate.toml"])
        .output()
        .expect("run hookgate");
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn check_config_validates_the_worker_example() {
    let out = hookgate()
        .current_dir(repo())
        .env("SF_CONSUMER_KEY", "3MVG9-test-consumer-key")
        .args(["check-config", "--config", "config/worker.example.toml"])
        .output()
        .expect("run hookgate");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("worker ok") && stdout.contains("stripe.invoice.*"),
        "{stdout}"
    );

    let out = hookgate()
        .current_dir(repo())
        .env_remove("SF_CONSUMER_KEY")
        .args(["check-config", "--config", "config/worker.example.toml"])
        .output()
        .expect("run hookgate");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("salesforce.consumer_key.env"), "{stderr}");
}

/// The container's secrets as `docker run -e` would pass them (the dev
/// values of config/dev.env).
fn dev_env(cmd: &mut Command) {
    for line in std::fs::read_to_string(repo().join("config/dev.env"))
        .unwrap()
        .lines()
    {
        if let Some((k, v)) = line.split_once('=') {
            if !k.starts_with('#') {
                cmd.env(k.trim(), v.trim());
            }
        }
    }
}

#[test]
fn check_config_accepts_the_container_configs_with_the_env_set() {
    // config/container.toml names its TLS files under /etc/hookgate/tls/;
    // here they are written to a temporary folder and the paths swapped.
    let dir = tempfile::tempdir().unwrap();
    let (_, cert, key) = crate::support::write_certs(dir.path());
    let text = std::fs::read_to_string(repo().join("config/container.toml"))
        .unwrap()
        .replace("/etc/hookgate/tls/server.pem", &cert.display().to_string())
        .replace("/etc/hookgate/tls/server.key", &key.display().to_string())
        .replace("/var/lib/hookgate/", &format!("{}/", dir.path().display()));
    let gateway = dir.path().join("container.toml");
    std::fs::write(&gateway, text).unwrap();
    let mut cmd = hookgate();
    dev_env(&mut cmd);
    let out = cmd
        .env("HOOKGATE_AMQP_URL", "amqp://guest:guest@rabbitmq:5672/%2f")
        .args(["check-config", "--config"])
        .arg(&gateway)
        .output()
        .expect("run hookgate");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("gateway ok") && stdout.contains("/hooks/github"),
        "{stdout}"
    );

    // The worker's files: the image's and deploy/compose.yaml's (Redis
    // store). Their private key is mounted at /etc/hookgate/salesforce/;
    // here the simulator's test key stands in.
    let key = repo().join("fixtures/salesforce/jwt/test-rsa.key");
    for rel in ["config/container-worker.toml", "deploy/compose-worker.toml"] {
        let text = std::fs::read_to_string(repo().join(rel))
            .unwrap()
            .replace(
                "/etc/hookgate/salesforce/private.key",
                &key.display().to_string(),
            )
            .replace("/var/lib/hookgate/", &format!("{}/", dir.path().display()));
        let worker = dir.path().join("worker.toml");
        std::fs::write(&worker, text).unwrap();
        let mut cmd = hookgate();
        dev_env(&mut cmd);
        let out = cmd
            .args(["check-config", "--config"])
            .arg(&worker)
            .output()
            .expect("run hookgate");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{rel}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("worker ok"), "{rel}: {stdout}");
    }
}

/// Runs `hookgate healthcheck ARGS..` off the async runtime (the gateway
/// under test runs on it).
async fn healthcheck(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        hookgate()
            .arg("healthcheck")
            .args(args)
            .output()
            .expect("run hookgate")
    })
    .await
    .expect("join")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_exits_0_when_ready_and_1_when_nobody_answers() {
    let h = crate::support::Harness::start().await;
    let mut ready = false;
    for _ in 0..100 {
        if h.admin_get("/readyz").await.0 == 200 {
            ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(ready, "the gateway became ready");

    let out = healthcheck(vec!["--url".into(), format!("{}/readyz", h.admin)]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // --config: the admin listener from the file, 0.0.0.0 asked on loopback.
    let dir = tempfile::tempdir().unwrap();
    let port = h.admin.rsplit(':').next().unwrap_or_default().to_owned();
    let file = dir.path().join("gw.toml");
    std::fs::write(
        &file,
        format!("[server]\n[admin]\nlisten = \"0.0.0.0:{port}\"\n"),
    )
    .unwrap();
    let out = healthcheck(vec!["--config".into(), file.display().to_string()]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    h.finish().await;

    // A port nobody listens on: exit 1, the reason on stderr.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = free.local_addr().unwrap();
    drop(free);
    let out = healthcheck(vec!["--url".into(), format!("http://{addr}/readyz")]).await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unhealthy"), "{stderr}");
}

/// Runs `hookgate sign` for `route` of the harness's config over `fixture`;
/// the request it prints: (method, URL, headers).
async fn sign(
    h: &crate::support::Harness,
    route: &str,
    fixture: &str,
    id: &str,
) -> (String, String, Vec<(String, String)>) {
    let args: Vec<String> = [
        "sign",
        "--config",
        &h.dir().join("hookgate.toml").display().to_string(),
        "--route",
        route,
        "--body",
        &repo().join(fixture).display().to_string(),
        "--id",
        id,
        "--base",
        &h.base,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let out = tokio::task::spawn_blocking(move || hookgate().args(args).output().expect("run"))
        .await
        .expect("join");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{route}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lines = text.lines();
    let first = lines.next().expect("request line");
    let (method, url) = first.split_once(' ').expect("METHOD URL");
    let headers = lines
        .map(|l| {
            let (k, v) = l.split_once(": ").expect("Name: value");
            (k.to_owned(), v.to_owned())
        })
        .collect();
    (method.to_owned(), url.to_owned(), headers)
}

/// What `hookgate sign` prints is what the gateway accepts: each kind's
/// request, sent as printed, is queued with the id given (or the body's).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_prints_requests_the_gateway_accepts() {
    let h = crate::support::Harness::start().await;
    let routes = [
        ("github", "fixtures/github/push.json", "sign-gh-1"),
        (
            "stripe",
            "fixtures/stripe/invoice.paid.json",
            "evt_1QxYzBB2cDeFgHiJa1B2c3D4",
        ),
        ("slack", "fixtures/slack/app_mention.json", "Ev08F7QK1ZPX"),
        (
            "shopify",
            "fixtures/shopify/orders_create.json",
            "sign-shop-1",
        ),
        (
            "standard",
            "fixtures/standard_webhooks/invoice.created.json",
            "sign-std-1",
        ),
        ("generic", "fixtures/generic/order.json", "sign-gen-1"),
    ];
    let mut want = Vec::new();
    for (route, fixture, id) in routes {
        let (method, url, headers) = sign(&h, route, fixture, id).await;
        assert_eq!(method, "POST", "{route}");
        assert!(url.starts_with(&h.base), "{route}: {url}");
        let mut req = h
            .client
            .post(&url)
            .body(std::fs::read(repo().join(fixture)).expect("fixture"));
        for (k, v) in &headers {
            req = req.header(k, v);
        }
        let resp = req.send().await.expect("send");
        assert_eq!(resp.status(), 200, "{route}: {:?}", resp.text().await);
        want.push(id.to_owned());
    }
    let got: Vec<String> = h
        .take(want.len())
        .await
        .iter()
        .map(crate::support::message_id)
        .collect();
    for id in &want {
        assert!(
            got.iter().filter(|g| *g == id).count() == 1,
            "{id} queued once: {got:?}"
        );
    }
    h.finish().await;
}

/// `hookgate providers --markdown` is the README's kinds table.
#[test]
fn providers_table_is_the_readme_table() {
    let out = hookgate()
        .args(["providers", "--markdown"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0));
    let table = String::from_utf8(out.stdout).expect("utf-8");
    assert_eq!(table.lines().count(), 2 + 29, "a row per kind:\n{table}");
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README");
    assert!(
        readme.contains(&table),
        "README.md holds the table `hookgate providers --markdown` prints:\n{table}"
    );
}
