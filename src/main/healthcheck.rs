//! `hookgate healthcheck [--config PATH | --url URL]`: asks the admin
//! listener's `/readyz` (plain HTTP) and exits 0 on 200, 1 otherwise, for a
//! container's `HEALTHCHECK` or any probe that can only run a command.
//!
//! With `--config`, only the listen address is read from the file (raw TOML,
//! no validation, no secrets): `[admin] listen` of a gateway file, `[worker]
//! admin_listen` of a worker-only file (the rule `check-config` uses), their
//! defaults when absent. An unspecified address (`0.0.0.0`, `::`) is asked
//! on loopback.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;

/// The whole probe (connect, request, body) gives up after this long.
const TIMEOUT: Duration = Duration::from_secs(3);

/// Runs the probe against `url`, or against the admin listener of the file
/// at `config`: exit 0 when it answers 200, else 1 with the reason on stderr.
pub(crate) fn run(config: Option<&Path>, url: Option<&str>) -> ExitCode {
    let url = match (url, config) {
        (Some(u), _) => u.to_owned(),
        (None, Some(path)) => match readyz_url(path) {
            Ok(u) => u,
            Err(e) => return unhealthy(&format!("{e:#}")),
        },
        (None, None) => return unhealthy("give --config PATH or --url URL"),
    };
    match probe(&url) {
        Ok((200, body)) => {
            println!("{url}: 200 {}", body.trim());
            ExitCode::SUCCESS
        }
        Ok((status, body)) => unhealthy(&format!("{url}: {status} {}", body.trim())),
        Err(e) => unhealthy(&format!("{url}: {e:#}")),
    }
}

fn unhealthy(why: &str) -> ExitCode {
    eprintln!("unhealthy: {why}");
    ExitCode::FAILURE
}

/// `http://ADDR/readyz` for the admin listener `path` declares.
fn readyz_url(path: &Path) -> anyhow::Result<String> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let table: toml::Table = text
        .parse()
        .with_context(|| format!("{}: not TOML", path.display()))?;
    let worker_only = table.contains_key("worker") && !table.contains_key("server");
    let (section, key, default) = if worker_only {
        (
            "worker",
            "admin_listen",
            hookgate::config::worker::DEFAULT_ADMIN_LISTEN,
        )
    } else {
        ("admin", "listen", hookgate::config::DEFAULT_ADMIN_LISTEN)
    };
    let listen = match table.get(section).and_then(|s| s.get(key)) {
        None => default,
        Some(v) => v
            .as_str()
            .with_context(|| format!("{}: {section}.{key}: not a string", path.display()))?,
    };
    let addr: SocketAddr = listen
        .parse()
        .with_context(|| format!("{}: {section}.{key} = {listen:?}", path.display()))?;
    Ok(format!("http://{}/readyz", loopback_if_unspecified(addr)))
}

/// A listener on every address (`0.0.0.0`, `::`) answers on loopback.
fn loopback_if_unspecified(mut addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => addr.set_ip(Ipv4Addr::LOCALHOST.into()),
        IpAddr::V6(ip) if ip.is_unspecified() => addr.set_ip(Ipv6Addr::LOCALHOST.into()),
        _ => {}
    }
    addr
}

/// GET `url` (plain HTTP) without proxies: the status code and the body.
fn probe(url: &str) -> anyhow::Result<(u16, String)> {
    hookgate::tls::install_crypto_provider();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    rt.block_on(async {
        // The admin listener is plain HTTP: no trust roots to load (an image
        // without a CA bundle still probes).
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .no_proxy()
            .tls_certs_only(std::iter::empty())
            .build()
            .context("building the HTTP client")?;
        let response = client.get(url).send().await?;
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        Ok((status, body))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unspecified_addresses_are_asked_on_loopback() {
        let v4: SocketAddr = "0.0.0.0:9090".parse().unwrap();
        assert_eq!(loopback_if_unspecified(v4).to_string(), "127.0.0.1:9090");
        let v6: SocketAddr = "[::]:9091".parse().unwrap();
        assert_eq!(loopback_if_unspecified(v6).to_string(), "[::1]:9091");
        let private: SocketAddr = "10.0.0.5:9090".parse().unwrap();
        assert_eq!(loopback_if_unspecified(private), private);
    }

    #[test]
    fn the_listen_address_comes_from_the_file_kind() {
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str, text: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            readyz_url(&p)
        };
        let gw = file("gw.toml", "[server]\n[admin]\nlisten = \"0.0.0.0:9190\"\n").unwrap();
        assert_eq!(gw, "http://127.0.0.1:9190/readyz");
        let worker = file("w.toml", "[worker]\nadmin_listen = \"127.0.0.1:9191\"\n").unwrap();
        assert_eq!(worker, "http://127.0.0.1:9191/readyz");
        let default = file("d.toml", "[worker]\nqueues = []\n").unwrap();
        assert_eq!(default, "http://127.0.0.1:9091/readyz");
        let bad = file("b.toml", "[admin]\nlisten = \"nowhere\"\n").unwrap_err();
        assert!(format!("{bad:#}").contains("admin.listen"), "{bad:#}");
    }
}
