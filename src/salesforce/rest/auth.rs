//! OAuth 2.0 access tokens: the JWT bearer flow (RS256 assertion signed with
//! the connected app's private key) and the client credentials flow.
//!
//! Salesforce issues no refresh token for either: a new token is requested
//! when the current one is rejected with `INVALID_SESSION_ID`.

use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use secrecy::SecretString;
use serde::{Deserialize, Deserializer, Serialize};
use zeroize::Zeroizing;

use crate::secret::Secret;

/// JWT `grant_type` (RFC 7523).
pub(crate) const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// Assertion lifetime: Salesforce accepts `exp` at most about 3 minutes ahead.
pub(crate) const ASSERTION_TTL: Duration = Duration::from_secs(150);

/// JWT `aud` for production orgs (also when the token request goes to a
/// production My Domain URL).
pub(crate) const PRODUCTION_AUDIENCE: &str = "https://login.salesforce.com";
/// JWT `aud` for sandboxes.
pub(crate) const SANDBOX_AUDIENCE: &str = "https://test.salesforce.com";

/// The JWT `aud` Salesforce expects for token requests sent to `login_url`
/// (SALESFORCE.md section 6, "JWT bearer"): [`PRODUCTION_AUDIENCE`] for
/// `login.salesforce.com` and My Domain URLs (`*.my.salesforce.com`) that are
/// not sandboxes, [`SANDBOX_AUDIENCE`] for `test.salesforce.com` and
/// `*.sandbox.my.salesforce.com`, otherwise the login URL itself (an
/// Experience Cloud site, a simulator), without a trailing `/`.
pub(crate) fn audience_for(login_url: &str) -> String {
    let host = url::Url::parse(login_url).ok().and_then(|u| {
        u.host_str()
            .map(|h| h.trim_end_matches('.').to_ascii_lowercase())
    });
    match host.as_deref() {
        Some("login.salesforce.com") => PRODUCTION_AUDIENCE.to_owned(),
        Some("test.salesforce.com") => SANDBOX_AUDIENCE.to_owned(),
        Some(h) if h.ends_with(".sandbox.my.salesforce.com") => SANDBOX_AUDIENCE.to_owned(),
        Some(h) if h.ends_with(".my.salesforce.com") => PRODUCTION_AUDIENCE.to_owned(),
        _ => login_url.trim_end_matches('/').to_owned(),
    }
}

/// How to obtain tokens.
#[derive(Clone)]
pub(crate) enum Auth {
    /// JWT bearer: `iss` = consumer key, `sub` = username, `aud` = audience.
    JwtBearer {
        /// Connected app consumer key.
        consumer_key: String,
        /// The integration user.
        username: String,
        /// `https://login.salesforce.com`, `https://test.salesforce.com` or a
        /// community URL.
        audience: String,
        /// RS256 signing key (from the PEM private key).
        key: EncodingKey,
    },
    /// Client credentials: runs as the connected app's configured user.
    ClientCredentials {
        /// Connected app consumer key (client_id).
        client_id: String,
        /// Consumer secret.
        client_secret: Secret,
    },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::JwtBearer {
                consumer_key,
                username,
                audience,
                ..
            } => f
                .debug_struct("JwtBearer")
                .field("consumer_key", consumer_key)
                .field("username", username)
                .field("audience", audience)
                .finish_non_exhaustive(),
            Auth::ClientCredentials { client_id, .. } => f
                .debug_struct("ClientCredentials")
                .field("client_id", client_id)
                .finish_non_exhaustive(),
        }
    }
}

/// A token and where to use it.
#[derive(Clone)]
pub(crate) struct Token {
    /// Bearer token: zeroized on drop, not printed.
    pub(crate) access_token: SecretString,
    /// Base URL of the org's REST API.
    pub(crate) instance_url: String,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("instance_url", &self.instance_url)
            .finish_non_exhaustive()
    }
}

/// Why no token could be had.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// The private key PEM is not an RSA key.
    #[error("private key is not a PEM RSA key")]
    Key,
    /// Signing the assertion failed.
    #[error("cannot sign the JWT assertion: {0}")]
    Sign(String),
    /// The client secret is not text (checked at config load).
    #[error("client secret is not UTF-8")]
    SecretText,
    /// The token endpoint could not be reached or timed out (retryable).
    #[error("token endpoint unreachable: {0}")]
    Transport(String),
    /// The token endpoint refused (`invalid_grant`, `invalid_client`, ...):
    /// a configuration problem.
    #[error("token request refused: {error}: {description}")]
    Refused {
        /// OAuth `error`.
        error: String,
        /// OAuth `error_description`.
        description: String,
    },
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    exp: i64,
}

#[derive(Deserialize)]
struct TokenReply {
    /// Zeroized on drop, also when a later field fails to parse.
    #[serde(deserialize_with = "zeroizing")]
    access_token: Zeroizing<String>,
    instance_url: Option<String>,
}

fn zeroizing<'de, D: Deserializer<'de>>(d: D) -> Result<Zeroizing<String>, D::Error> {
    String::deserialize(d).map(Zeroizing::new)
}

#[derive(Deserialize)]
struct OAuthError {
    error: Option<String>,
    error_description: Option<String>,
}

impl Auth {
    /// Builds the JWT bearer flow from a PEM private key.
    ///
    /// # Errors
    /// [`Error::Key`] when the PEM is not an RSA private key.
    pub(crate) fn jwt_bearer(
        consumer_key: String,
        username: String,
        audience: String,
        private_key_pem: &[u8],
    ) -> Result<Auth, Error> {
        let key = EncodingKey::from_rsa_pem(private_key_pem).map_err(|_| Error::Key)?;
        Ok(Auth::JwtBearer {
            consumer_key,
            username,
            audience,
            key,
        })
    }

    /// Requests a token from `<login_url>/services/oauth2/token`.
    /// `fallback_instance` is used when the reply has no `instance_url`.
    ///
    /// # Errors
    /// [`Error`]: transport failures are retryable, refusals are not.
    pub(crate) async fn token(
        &self,
        http: &reqwest::Client,
        login_url: &str,
        fallback_instance: &str,
    ) -> Result<Token, Error> {
        let url = format!("{}/services/oauth2/token", login_url.trim_end_matches('/'));
        // The assertion is a credential for its lifetime: zeroized on drop.
        let assertion: Zeroizing<String>;
        let form: Vec<(&str, &str)> = match self {
            Auth::JwtBearer {
                consumer_key,
                username,
                audience,
                key,
            } => {
                assertion = sign_assertion(consumer_key, username, audience, key)?;
                vec![
                    ("grant_type", JWT_BEARER_GRANT),
                    ("assertion", assertion.as_str()),
                ]
            }
            Auth::ClientCredentials {
                client_id,
                client_secret,
            } => vec![
                ("grant_type", "client_credentials"),
                ("client_id", client_id.as_str()),
                (
                    "client_secret",
                    std::str::from_utf8(client_secret.expose()).map_err(|_| Error::SecretText)?,
                ),
            ],
        };
        let (status, bytes) = post(http, url, &form).await?;
        read_reply(status, &bytes, fallback_instance)
    }
}

/// A JWT bearer assertion for the integration user, signed RS256, valid for
/// [`ASSERTION_TTL`]. Zeroized on drop: it is a credential for its lifetime.
fn sign_assertion(
    consumer_key: &str,
    username: &str,
    audience: &str,
    key: &EncodingKey,
) -> Result<Zeroizing<String>, Error> {
    let exp = time::OffsetDateTime::now_utc().unix_timestamp() + ASSERTION_TTL.as_secs() as i64;
    let claims = Claims {
        iss: consumer_key,
        sub: username,
        aud: audience,
        exp,
    };
    Ok(Zeroizing::new(
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, key)
            .map_err(|e| Error::Sign(e.to_string()))?,
    ))
}

/// Posts the token request; returns the status and the whole reply, which
/// holds the token: our copy of it is zeroized on drop. Transport errors
/// leave the URL out.
async fn post(
    http: &reqwest::Client,
    url: String,
    form: &[(&str, &str)],
) -> Result<(reqwest::StatusCode, Zeroizing<Vec<u8>>), Error> {
    let resp = http
        .post(url)
        .form(form)
        .send()
        .await
        .map_err(|e| Error::Transport(e.without_url().to_string()))?;
    let status = resp.status();
    let bytes = Zeroizing::new(Vec::from(
        resp.bytes()
            .await
            .map_err(|e| Error::Transport(e.without_url().to_string()))?,
    ));
    Ok((status, bytes))
}

/// The token from a 2xx reply (its instance URL, else `fallback_instance`).
/// 5xx and 429 are transport errors (retried); any other status is a
/// refusal with the OAuth error it carries, or the status.
fn read_reply(
    status: reqwest::StatusCode,
    bytes: &[u8],
    fallback_instance: &str,
) -> Result<Token, Error> {
    if status.is_success() {
        let reply: TokenReply = serde_json::from_slice(bytes).map_err(|_| Error::Refused {
            error: "invalid_response".into(),
            description: "token reply is not the documented JSON".into(),
        })?;
        return Ok(Token {
            access_token: SecretString::from(reply.access_token.as_str()),
            instance_url: reply
                .instance_url
                .unwrap_or_else(|| fallback_instance.to_string()),
        });
    }
    if status.is_server_error() || status.as_u16() == 429 {
        return Err(Error::Transport(format!("HTTP {status}")));
    }
    let e: OAuthError = serde_json::from_slice(bytes).unwrap_or(OAuthError {
        error: None,
        error_description: None,
    });
    Err(Error::Refused {
        error: e
            .error
            .unwrap_or_else(|| format!("HTTP {}", status.as_u16())),
        description: e.error_description.unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret as _;

    use super::*;

    #[test]
    fn audience_follows_the_login_host() {
        let cases = [
            ("https://login.salesforce.com", PRODUCTION_AUDIENCE),
            ("https://login.salesforce.com/", PRODUCTION_AUDIENCE),
            ("https://LOGIN.salesforce.com", PRODUCTION_AUDIENCE),
            ("https://acme.my.salesforce.com", PRODUCTION_AUDIENCE),
            (
                "https://acme-dev-ed.develop.my.salesforce.com",
                PRODUCTION_AUDIENCE,
            ),
            ("https://test.salesforce.com", SANDBOX_AUDIENCE),
            (
                "https://acme--uat.sandbox.my.salesforce.com",
                SANDBOX_AUDIENCE,
            ),
            (
                "https://acme--uat.sandbox.my.salesforce.com/",
                SANDBOX_AUDIENCE,
            ),
            // Experience Cloud sites and anything else: the URL itself.
            (
                "https://acme.my.site.com/customers",
                "https://acme.my.site.com/customers",
            ),
            (
                "https://acme.force.com/partners/",
                "https://acme.force.com/partners",
            ),
            ("http://127.0.0.1:8787", "http://127.0.0.1:8787"),
            ("http://127.0.0.1:8787/", "http://127.0.0.1:8787"),
            // Look-alikes are not Salesforce's hosts.
            (
                "https://login.salesforce.com.evil.test",
                "https://login.salesforce.com.evil.test",
            ),
            (
                "https://my.salesforce.com.example",
                "https://my.salesforce.com.example",
            ),
            ("not a url", "not a url"),
        ];
        for (login_url, aud) in cases {
            assert_eq!(audience_for(login_url), aud, "{login_url}");
        }
    }

    #[test]
    fn debug_prints_no_token_or_secret() {
        let reply: TokenReply = serde_json::from_slice(
            br#"{"access_token":"00Dxx!s3cret-token","instance_url":"https://org.example.test"}"#,
        )
        .unwrap();
        let token = Token {
            access_token: SecretString::from(reply.access_token.as_str()),
            instance_url: reply.instance_url.unwrap_or_default(),
        };
        assert_eq!(token.access_token.expose_secret(), "00Dxx!s3cret-token");
        let shown = format!("{token:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("org.example.test"), "{shown}");

        let auth = Auth::ClientCredentials {
            client_id: "consumer-key".into(),
            client_secret: Secret::from_slice(b"s3cret-client"),
        };
        let shown = format!("{auth:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("consumer-key"), "{shown}");
    }
}
