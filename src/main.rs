//! The `hookgate` binary: thin CLI over the library.
//!
//! - `hookgate serve --config PATH`: run the gateway.
//! - `hookgate check-config --config PATH`: validate, print routes; exit 2 on error.

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
