//! Runs the Salesforce REST API simulator until Ctrl-C, for the README demo
//! and for trying the worker by hand.
//!
//! `cargo run -p sfsim -- [PORT]` (default 0: a free port). It trusts
//! `fixtures/salesforce/jwt/test-rsa.pub.pem` for the JWT bearer flow (sign
//! assertions with `fixtures/salesforce/jwt/test-rsa.key`); `SFSIM_JWT_PUB`
//! names another public key, `SFSIM_DAILY_LIMIT` sets the daily limit and
//! `SFSIM_LOGIN_HOST` (`site`, the default: JWT `aud` = its URL;
//! `production`; `sandbox`) the login host it stands for.
//! Prints the URL to use as both `login_url` and `instance_url`.

use std::net::{Ipv4Addr, SocketAddr};

use anyhow::Context as _;
use sfsim::{LoginHost, SimConfig, Simulator};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .map(|p| p.parse())
        .transpose()
        .context("PORT must be a number")?
        .unwrap_or(0);
    let key_path = std::env::var("SFSIM_JWT_PUB").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fixtures/salesforce/jwt/test-rsa.pub.pem"
        )
        .into()
    });
    let pem = std::fs::read_to_string(&key_path).with_context(|| format!("reading {key_path}"))?;
    let mut config = SimConfig {
        jwt_public_key_pem: pem,
        ..SimConfig::default()
    };
    if let Ok(limit) = std::env::var("SFSIM_DAILY_LIMIT") {
        config.daily_limit = limit
            .parse()
            .context("SFSIM_DAILY_LIMIT must be a number")?;
    }
    config.login_host = match std::env::var("SFSIM_LOGIN_HOST").as_deref() {
        Ok("production") => LoginHost::Production,
        Ok("sandbox") => LoginHost::Sandbox,
        Ok("site") | Err(_) => LoginHost::Site,
        Ok(other) => anyhow::bail!("SFSIM_LOGIN_HOST: {other}: production, sandbox or site"),
    };
    let summary = format!(
        "consumer_key={} username={} client_secret={} daily_limit={}",
        config.consumer_key, config.username, config.client_secret, config.daily_limit
    );
    let sim = Simulator::start_on(config, SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
        .await
        .context("starting the simulator")?;
    println!("{}", sim.url());
    eprintln!(
        "Salesforce simulator on {} ({summary} audience={}); Ctrl-C stops it",
        sim.url(),
        sim.audience()
    );
    tokio::signal::ctrl_c().await?;
    eprintln!(
        "{} API calls, {} token requests, usage {}",
        sim.api_calls(),
        sim.token_requests(),
        sim.usage()
    );
    sim.shutdown().await;
    Ok(())
}
