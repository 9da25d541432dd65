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
