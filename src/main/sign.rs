//! `hookgate sign` (a request signed as a provider would send it, ready for
//! curl) and `hookgate providers` (the catalog of kinds).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, ValueEnum};

use hookgate::config::Config;
use hookgate::verify::catalog;
use hookgate::verify::sign::{self, Draft, Signed};

/// `hookgate sign` arguments.
#[derive(Args)]
pub(crate) struct SignArgs {
    /// Path of the gateway's TOML config file (its secrets are read).
    #[arg(long, short)]
    config: PathBuf,
    /// Name of the route to sign for.
    #[arg(long)]
    route: String,
    /// File holding the body to send.
    #[arg(long)]
    body: PathBuf,
    /// Event name, for kinds that send it in a header.
    #[arg(long)]
    event: Option<String>,
    /// Delivery id, for kinds that send one in a header (default: derived
    /// from the time and the body's hash).
    #[arg(long)]
    id: Option<String>,
    /// PKCS#8 private key (PEM or DER) of an asymmetric kind (discord,
    /// sendgrid).
    #[arg(long)]
    private_key: Option<PathBuf>,
    /// Signing time as Unix seconds (default: now).
    #[arg(long)]
    time: Option<i64>,
    /// Prefix of the URL for routes without `public_url`, e.g.
    /// `https://127.0.0.1:8443`.
    #[arg(long)]
    base: Option<String>,
    /// Where to write the body to send when the kind rewrites it (mailgun).
    #[arg(long)]
    body_out: Option<PathBuf>,
    /// Output form.
    #[arg(long, value_enum, default_value = "http")]
    format: Format,
}

/// How `hookgate sign` prints the signed request.
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum Format {
    /// `METHOD URL`, then one `Name: value` line per header.
    Http,
    /// A curl command line (POSIX shell quoting).
    Curl,
}

/// Runs `hookgate sign`: 0 and the request on stdout, 2 on a config or
/// signing error.
pub(crate) fn run(args: &SignArgs) -> ExitCode {
    match signed(args) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("hookgate sign: {e:#}");
            ExitCode::from(super::EXIT_CONFIG)
        }
    }
}

/// The signed request, printed in `args.format`.
fn signed(args: &SignArgs) -> anyhow::Result<String> {
    let config = Config::load(&args.config)?;
    let route = config
        .routes
        .iter()
        .find(|r| r.name == args.route)
        .with_context(|| {
            let names: Vec<&str> = config.routes.iter().map(|r| r.name.as_str()).collect();
            format!(
                "no route named {:?} in {} (routes: {})",
                args.route,
                args.config.display(),
                names.join(", ")
            )
        })?;
    let body = read(&args.body)?;
    let key = args.private_key.as_deref().map(read).transpose()?;
    let now = args
        .time
        .unwrap_or_else(|| time::OffsetDateTime::now_utc().unix_timestamp());
    let draft = Draft {
        body: &body,
        event: args.event.as_deref(),
        id: args.id.as_deref(),
        now,
        private_key: key.as_deref(),
    };
    let mut signed = sign::sign(route, &draft)?;
    if !signed.url.starts_with("http") {
        if let Some(base) = &args.base {
            signed.url = format!("{}{}", base.trim_end_matches('/'), signed.url);
        }
    }
    let body_file = if signed.body == body {
        args.body.clone()
    } else {
        let out = args.body_out.as_ref().with_context(|| {
            format!(
                "kind {} sends a body of its own making: pass --body-out FILE",
                route.kind.as_str()
            )
        })?;
        std::fs::File::create(out)
            .and_then(|mut f| f.write_all(&signed.body))
            .with_context(|| format!("cannot write {}", out.display()))?;
        out.clone()
    };
    Ok(match args.format {
        Format::Http => http_text(&signed),
        Format::Curl => curl_text(&signed, &body_file),
    })
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// `METHOD URL` and the header lines.
fn http_text(s: &Signed) -> String {
    let mut out = format!("{} {}\n", s.method, s.url);
    for (k, v) in &s.headers {
        out.push_str(&format!("{k}: {v}\n"));
    }
    out
}

/// A curl command sending `body_file`.
fn curl_text(s: &Signed, body_file: &Path) -> String {
    let q = |t: &str| format!("'{}'", t.replace('\'', "'\\''"));
    let mut out = format!("curl -sS -X {} {}", s.method, q(&s.url));
    for (k, v) in &s.headers {
        out.push_str(&format!(" \\\n  -H {}", q(&format!("{k}: {v}"))));
    }
    out.push_str(&format!(
        " \\\n  --data-binary {}\n",
        q(&format!("@{}", body_file.display()))
    ));
    out
}

/// Runs `hookgate providers`: every kind with its headers, id and event
/// sources and handshake, as text or a Markdown table.
pub(crate) fn providers(markdown: bool) -> ExitCode {
    let mut out = String::new();
    if markdown {
        out.push_str(
            "| kind | signature | idempotency key | event | handshake (answered, never queued) |\n",
        );
        out.push_str("|---|---|---|---|---|\n");
    }
    for p in catalog::all() {
        if markdown {
            out.push_str(&format!(
                "| `{}` | {} | {} | {} | {} |\n",
                p.kind.as_str(),
                p.signature,
                p.id,
                p.event,
                p.handshake
            ));
        } else {
            out.push_str(&format!(
                "{}\n  signature: {}\n  id:        {}\n  event:     {}\n  handshake: {}\n  source:    {}\n",
                p.kind.as_str(),
                p.signature,
                p.id,
                p.event,
                p.handshake,
                p.source
            ));
        }
    }
    print!("{out}");
    ExitCode::SUCCESS
}
