//! The org's conditions a test scripts at run time, and where the JWT
//! audience comes from: the login host the simulator stands for, outages of
//! the token endpoint, the connected app's approval and secret, read-only
//! mode, and the per-app API allocation.
//!
//! Each behaviour cites the Salesforce page it follows (facts collected in
//! `../shared/docs/SALESFORCE.md` section 6).

use std::time::{Duration, Instant};

use http::StatusCode;

use super::{Reply, SimConfig, Simulator};

/// Production JWT audience.
pub const PRODUCTION_AUDIENCE: &str = "https://login.salesforce.com";
/// Sandbox JWT audience.
pub const SANDBOX_AUDIENCE: &str = "https://test.salesforce.com";

/// Which login host the simulator stands for; it decides the JWT `aud`
/// the token endpoint accepts.
///
/// Salesforce Help, "OAuth 2.0 JWT Bearer Flow for Server-to-Server
/// Integration", claims table: `aud` is `https://login.salesforce.com`
/// (production, also through a My Domain login), `https://test.salesforce.com`
/// (sandbox), or the Experience Cloud site URL when the flow runs on a site;
/// any other value answers `invalid_grant` "audience is invalid".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LoginHost {
    /// `login.salesforce.com` or a production My Domain.
    Production,
    /// `test.salesforce.com` or a `*.sandbox.my.salesforce.com` My Domain.
    Sandbox,
    /// An Experience Cloud site at the simulator's own URL (what a client
    /// sees when its login URL is the simulator): `aud` is that URL.
    #[default]
    Site,
}

/// How the token endpoint is down during an outage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outage {
    /// HTTP 503 (an unavailable login host, as during an incident on
    /// status.salesforce.com); SALESFORCE.md section 6 table: token
    /// endpoint 5xx.
    Unavailable,
    /// The connection is closed without an answer (a client sees a
    /// connection error, as for a reset connection).
    Dropped,
    /// The simulator's port is closed: connecting is refused (the login
    /// host is unreachable; the data endpoints share the port, so they are
    /// unreachable too).
    Refused,
}

/// Run-time conditions of the org (one lock, [`super::Shared::org`]).
#[derive(Debug, Default)]
pub(super) struct Org {
    /// The token endpoint is down until then.
    pub outage: Option<(Outage, Instant)>,
    /// The integration user's approval of the connected app was revoked
    /// (or the admin never pre-authorized its profile).
    pub unapproved: bool,
    /// The consumer secret was rotated to this.
    pub client_secret: Option<String>,
    /// Read-only mode (a maintenance window).
    pub read_only: bool,
}

impl Org {
    /// The outage now in force, if any.
    pub fn outage(&mut self) -> Option<Outage> {
        match self.outage {
            Some((mode, until)) if Instant::now() < until => Some(mode),
            Some(_) => {
                self.outage = None;
                None
            }
            None => None,
        }
    }
}

/// The error that makes hyper close a connection without an answer.
pub(super) fn dropped() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::ConnectionAborted,
        "token endpoint outage",
    )
}

/// The `aud` values the token endpoint accepts for `host` on `url`.
pub(super) fn audience(host: LoginHost, url: &str) -> String {
    match host {
        LoginHost::Production => PRODUCTION_AUDIENCE.to_owned(),
        LoginHost::Sandbox => SANDBOX_AUDIENCE.to_owned(),
        LoginHost::Site => url.to_owned(),
    }
}

/// The token endpoint's answer during an outage: HTTP 503 without OAuth
/// JSON (a login host that is down does not speak OAuth).
pub(super) fn unavailable() -> Reply {
    Reply::empty(StatusCode::SERVICE_UNAVAILABLE)
}

/// A write refused in read-only mode. The code is the one the API
/// Developer Guide lists under "Core Data Types Used in API Calls >
/// StatusCode" (`INSERT_UPDATE_DELETE_NOT_ALLOWED_DURING_MAINTENANCE`);
/// Salesforce Help "Read-Only Mode Overview": during a maintenance window
/// reads work and inserts, updates and deletes fail. The message text is
/// ours (not documented).
pub(super) const READ_ONLY_CODE: &str = "INSERT_UPDATE_DELETE_NOT_ALLOWED_DURING_MAINTENANCE";
pub(super) const READ_ONLY_MESSAGE: &str =
    "Updates can't be made during maintenance: the org is in read-only mode";

/// A write in read-only mode: per record in sObject Collections
/// (`collection` = `Some(upsert)`: HTTP 200, each record failing like any
/// per-record error), else a top-level HTTP 400.
pub(super) fn read_only(collection: Option<bool>, records: usize) -> Reply {
    let Some(upsert) = collection else {
        return Reply::error(StatusCode::BAD_REQUEST, READ_ONLY_CODE, READ_ONLY_MESSAGE);
    };
    let one = |_| {
        let mut r = serde_json::json!({
            "success": false,
            "errors": [{ "statusCode": READ_ONLY_CODE, "message": READ_ONLY_MESSAGE, "fields": [] }],
        });
        if upsert {
            r["created"] = serde_json::Value::Bool(false);
        }
        r
    };
    Reply::json(
        StatusCode::OK,
        serde_json::Value::Array((0..records).map(one).collect()),
    )
}

/// `Sforce-Limit-Info` (REST API Developer Guide, "Limit Info Header"): items
/// separated by `;`, `api-usage=N/M` and, when the connected app has its own
/// allocation, `per-app-api-usage=N/M(appName=name)`.
pub(super) fn limit_info(config: &SimConfig, used: u64, per_app_used: u64) -> String {
    let mut v = format!("api-usage={used}/{}", config.daily_limit);
    if let Some(limit) = config.per_app_limit {
        v.push_str(&format!(
            "; per-app-api-usage={per_app_used}/{limit}(appName={})",
            config.app_name
        ));
    }
    v
}

// === impl Simulator ===

impl Simulator {
    /// The JWT `aud` this simulator's token endpoint accepts.
    pub fn audience(&self) -> String {
        audience(self.shared.config.login_host, &self.shared.url)
    }

    /// The token endpoint is down for `duration` from now.
    pub fn token_outage(&self, mode: Outage, duration: Duration) {
        self.shared.org().outage = Some((mode, Instant::now() + duration));
        if mode == Outage::Refused {
            self.shared.refuse.notify_one();
        }
    }

    /// Revokes (`false`) or restores (`true`) the integration user's
    /// approval of the connected app: JWT requests for the configured user
    /// then get `invalid_grant` "user hasn't approved this consumer".
    pub fn set_user_approved(&self, approved: bool) {
        self.shared.org().unapproved = !approved;
    }

    /// Rotates the consumer secret: the client credentials flow with the old
    /// one gets `invalid_client` "invalid client credentials".
    pub fn rotate_client_secret(&self, secret: &str) {
        self.shared.org().client_secret = Some(secret.to_owned());
    }

    /// Enters or leaves read-only mode: writes get
    /// `INSERT_UPDATE_DELETE_NOT_ALLOWED_DURING_MAINTENANCE` (per record in
    /// sObject Collections, HTTP 400 for a single-record call); tokens and
    /// reads still work.
    pub fn set_read_only(&self, read_only: bool) {
        self.shared.org().read_only = read_only;
    }

    /// Sets the API requests used in the rolling 24 h.
    pub fn set_usage(&self, used: u64) {
        self.shared.state().usage = used;
    }

    /// The API requests used in the rolling 24 h.
    pub fn usage(&self) -> u64 {
        self.shared.state().usage
    }

    /// Sets the connected app's requests used in the rolling 24 h.
    pub fn set_per_app_usage(&self, used: u64) {
        self.shared.state().per_app_usage = used;
    }
}

#[cfg(test)]
#[path = "org_tests.rs"]
mod tests;
