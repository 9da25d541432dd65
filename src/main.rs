//! The `hookgate` binary: thin CLI over the library.
//!
//! - `hookgate serve --config PATH`: run the gateway.
//! - `hookgate check-config --config PATH`: validate, print routes; exit 2 on error.
//! - `hookgate spool status|drain --config PATH`: inspect or drain a stopped
//!   gateway's spool.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use hookgate::config::Config;
use hookgate::telemetry::tracing::{self as logs, LogFormat};

/// Exit code for usage and configuration errors.
const EXIT_CONFIG: u8 = 2;

#[derive(Parser)]
#[command(
    name = "hookgate",
    version,
    about = "TLS edge gateway: Salesforce Outbound Messages and signed webhooks to RabbitMQ"
)]
struct Cli {
    /// Log line format.
    #[arg(long, value_enum, default_value = "text", global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Serve {
        /// Path of the TOML config file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Validate a config file and print its routes.
    CheckConfig {
        /// Path of the TOML config file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Inspect or drain the spool of a stopped gateway.
    Spool {
        #[command(subcommand)]
        command: SpoolCommand,
    },
}

#[derive(Subcommand)]
enum SpoolCommand {
    /// Print depth, bytes and the age of the oldest entry.
    Status {
        /// Path of the TOML config file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Publish every spooled message to RabbitMQ (with confirms), then exit.
    Drain {
        /// Path of the TOML config file.
        #[arg(long, short)]
        config: PathBuf,
        /// Seconds to wait for the broker connection.
        #[arg(long, default_value_t = 30)]
        connect_timeout_s: u64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    logs::init(cli.log_format);
    match cli.command {
        Command::CheckConfig { config } => match Config::load(&config) {
            Ok(c) => {
                println!("{}: ok", c.file.display());
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
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(EXIT_CONFIG)
            }
        },
        Command::Spool { command } => {
            let path = match &command {
                SpoolCommand::Status { config } | SpoolCommand::Drain { config, .. } => config,
            };
            let config = match Config::load(path) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(EXIT_CONFIG);
                }
            };
            match spool(config, command) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Serve { config } => {
            let config = match Config::load(&config) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(EXIT_CONFIG);
                }
            };
            match serve(config) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn serve(config: Config) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    rt.block_on(async move {
        let running = hookgate::app::start(&config)
            .await
            .with_context(|| format!("starting from {}", config.file.display()))?;
        wait_for_signal().await?;
        tracing::info!("shutdown signal received; draining");
        running.shutdown().await;
        tracing::info!("stopped");
        Ok(())
    })
}

fn spool(config: Config, command: SpoolCommand) -> anyhow::Result<()> {
    use std::sync::Arc;
    use std::time::Duration;

    use hookgate::spool::Spool;
    use hookgate::telemetry::metrics::Metrics;

    if !config.spool.enabled {
        anyhow::bail!("{}: spool.enabled is false", config.file.display());
    }
    let metrics = Arc::new(Metrics::new());
    let spool = Spool::open(&config.spool, metrics.clone())
        .with_context(|| format!("opening {}", config.spool.path.display()))?;
    match command {
        SpoolCommand::Status { .. } => {
            let s = spool.status();
            println!("path: {}", spool.path().display());
            println!("messages: {}", s.messages);
            println!("bytes: {}", s.bytes);
            match s.oldest_age {
                Some(age) => println!("oldest_age_s: {:.3}", age.as_secs_f64()),
                None => println!("oldest_age_s: -"),
            }
            spool.close();
            Ok(())
        }
        SpoolCommand::Drain {
            connect_timeout_s, ..
        } => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the tokio runtime")?;
            rt.block_on(async move {
                let (stop, stop_rx) = tokio::sync::watch::channel(false);
                let publisher =
                    hookgate::publish::Publisher::start(config.amqp.clone(), metrics, stop_rx);
                let before = spool.status().messages;
                let result = hookgate::spool::drain_once(
                    &spool,
                    &publisher,
                    Duration::from_secs(connect_timeout_s),
                )
                .await;
                let _ = stop.send(true);
                spool.close();
                let n = result.context("draining the spool")?;
                println!(
                    "forwarded {n} of {before} spooled messages; {} left",
                    spool.status().messages
                );
                Ok(())
            })
        }
    }
}

async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}
