//! `hookgate check-config --config PATH [--online]`: validates a file's
//! gateway part, worker part, subscriber part (`[pubsub]`,
//! `[[salesforce.subscriptions]]`) or several, prints what they declare;
//! exit 2 on error.

use std::path::Path;
use std::process::ExitCode;

use hookgate::config::pubsub::SubscribeConfig;
use hookgate::config::worker::WorkerConfig;
use hookgate::config::Config;

use super::{config_error, runtime};

/// Validates the gateway part (`[server]`) and the worker part (`[worker]`)
/// of a file, whichever it has, and prints what they declare.
pub(crate) fn run(path: &Path, online: bool) -> ExitCode {
    let table = std::fs::read_to_string(path)
        .ok()
        .and_then(|t| t.parse::<toml::Table>().ok())
        .unwrap_or_default();
    let has = |k: &str| table.contains_key(k);
    let subscriber = has("pubsub")
        || table
            .get("salesforce")
            .and_then(|s| s.get("subscriptions"))
            .is_some();
    if has("server") || !(has("worker") || subscriber) {
        match Config::load(path) {
            Ok(c) => {
                println!("{}: gateway ok", c.file.display());
                for r in &c.routes {
                    println!(
                        "  {:<28} {:<18} name={} max_body_bytes={} secrets={}",
                        r.path,
                        r.kind.as_str(),
                        r.name,
                        r.max_body_bytes,
                        r.secrets.len()
                    );
                }
            }
            Err(e) => return config_error(&e),
        }
    }
    if has("worker") {
        match WorkerConfig::load(path) {
            Ok(c) => {
                println!("{}: worker ok", c.file.display());
                println!(
                    "  queues {:?} -> dead letters to {}",
                    c.worker.queues, c.worker.dead_letter_queue
                );
                for a in &c.worker.actions {
                    println!(
                        "  {:<28} {:?} {}",
                        a.pattern,
                        a.kind,
                        a.sobject.as_deref().unwrap_or("(from the Notification)")
                    );
                }
                let checked = runtime().and_then(|rt| {
                    let check = hookgate::worker::schema::check_online(&c);
                    Ok(online.then(|| rt.block_on(check)).transpose()?)
                });
                match checked {
                    Err(e) => return config_error(&e),
                    Ok(Some(_)) => println!("  online: the org serves api_version; actions fit"),
                    Ok(None) => {}
                }
            }
            Err(e) => return config_error(&e),
        }
    }
    if subscriber {
        match SubscribeConfig::load(path) {
            Ok(c) => {
                println!("{}: subscriber ok", c.file.display());
                for s in &c.subscriptions {
                    println!(
                        "  {:<28} {:<36} first start {:?}, batch {}",
                        s.name, s.topic, s.replay_preset, s.batch
                    );
                }
            }
            Err(e) => return config_error(&e),
        }
    }
    ExitCode::SUCCESS
}
