//! `hookgate check-config --config PATH [--online]`: validates a file's
//! gateway part, worker part or both, prints what they declare; exit 2 on
//! error.

use std::path::Path;
use std::process::ExitCode;

use hookgate::config::worker::WorkerConfig;
use hookgate::config::Config;

use super::{config_error, runtime};

/// Validates the gateway part (`[server]`) and the worker part (`[worker]`)
/// of a file, whichever it has, and prints what they declare.
pub(crate) fn run(path: &Path, online: bool) -> ExitCode {
    let sections: Vec<String> = std::fs::read_to_string(path)
        .ok()
        .and_then(|t| t.parse::<toml::Table>().ok())
        .map(|t| t.keys().cloned().collect())
        .unwrap_or_default();
    let has = |k: &str| sections.iter().any(|s| s == k);
    let worker_only = has("worker") && !has("server");
    if !worker_only {
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
    ExitCode::SUCCESS
}
