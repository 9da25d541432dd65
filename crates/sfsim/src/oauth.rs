//! `POST /services/oauth2/token`: the JWT bearer and client credentials
//! flows (SALESFORCE.md section 6).
//!
//! Checks in the order an org makes them: the grant type; for JWT the
//! header's algorithm (RS256 only), the issuer (it names the connected app,
//! whose certificate verifies the signature), the signature, the audience
//! (per the login host, [`super::LoginHost`]), the expiry and `nbf`, the
//! subject and its approval. Errors are HTTP 400 with Salesforce's
//! `{"error","error_description"}` texts. During a scripted outage
//! ([`super::Outage`]) nothing is checked.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use http::{header, HeaderMap, Method, StatusCode};
use jsonwebtoken::{dangerous, decode, decode_header, Algorithm, Validation};
use serde_json::{json, Value};
use sha2::Sha256;

use super::{Reply, Shared};

/// The JWT bearer grant type.
pub const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// How far ahead `exp` may be (Salesforce: about 3 minutes, plus skew).
const MAX_EXP_AHEAD_S: u64 = 300;
/// Clock skew allowed on `nbf`.
const NBF_SKEW_S: u64 = 5;

/// An OAuth error: `error` and `error_description`.
type Refused = (&'static str, &'static str);

const INVALID_ASSERTION: Refused = ("invalid_grant", "invalid assertion");
const INVALID_CLIENT_ID: Refused = ("invalid_client_id", "client identifier invalid");
const INVALID_CLIENT: Refused = ("invalid_client", "invalid client credentials");

pub(super) fn token(shared: &Shared, method: &Method, headers: &HeaderMap, body: &[u8]) -> Reply {
    if shared.org().outage() == Some(super::Outage::Unavailable) {
        return super::org::unavailable();
    }
    if method != Method::POST {
        return refuse(("invalid_request", "must use HTTP POST"));
    }
    let form = parse_form(body);
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let outcome = match field("grant_type") {
        Some(JWT_BEARER_GRANT) => jwt_bearer(shared, field("assertion")),
        Some("client_credentials") => {
            client_credentials(shared, field("client_id"), field("client_secret"), headers)
        }
        _ => Err(("unsupported_grant_type", "grant type not supported")),
    };
    match outcome {
        Ok(()) => issue(shared),
        Err(refused) => refuse(refused),
    }
}

fn refuse((error, description): Refused) -> Reply {
    Reply::json(
        StatusCode::BAD_REQUEST,
        json!({ "error": error, "error_description": description }),
    )
}

fn jwt_bearer(shared: &Shared, assertion: Option<&str>) -> Result<(), Refused> {
    let config = &shared.config;
    let assertion = assertion
        .filter(|a| !a.is_empty())
        .ok_or(INVALID_ASSERTION)?;
    let header = decode_header(assertion).map_err(|_| INVALID_ASSERTION)?;
    if header.alg != Algorithm::RS256 {
        return Err(INVALID_ASSERTION);
    }
    let claims: Value =
        dangerous::insecure_decode_claims(assertion).map_err(|_| INVALID_ASSERTION)?;
    if claims.get("iss").and_then(Value::as_str) != Some(config.consumer_key.as_str()) {
        return Err(INVALID_CLIENT_ID);
    }
    let key = shared.jwt_key.as_ref().ok_or(INVALID_ASSERTION)?;
    // The library checks the algorithm and the signature only; the claims
    // are checked below, in Salesforce's order and with its texts.
    let mut validation = Validation::new(Algorithm::RS256);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    decode::<Value>(assertion, key, &validation).map_err(|_| INVALID_ASSERTION)?;

    // Salesforce Help, "OAuth 2.0 JWT Bearer Flow for Server-to-Server
    // Integration": aud is the authorization server's URL by login host
    // (login / test / the Experience Cloud site); else "audience is invalid".
    let audience = super::org::audience(config.login_host, &shared.url);
    let is_ours = |a: &str| a.trim_end_matches('/') == audience;
    let audience_ok = match claims.get("aud") {
        Some(Value::String(a)) => is_ours(a),
        Some(Value::Array(all)) => all.iter().filter_map(Value::as_str).any(is_ours),
        _ => false,
    };
    if !audience_ok {
        return Err(("invalid_grant", "audience is invalid"));
    }
    check_times(&claims)?;
    // Same page: the user must have approved the connected app (or its
    // admin pre-authorized the user's profile); an unknown subject fails
    // the same way.
    match claims.get("sub").and_then(Value::as_str) {
        Some(sub) if sub == config.username && !shared.org().unapproved => Ok(()),
        Some(_) => Err(("invalid_grant", "user hasn't approved this consumer")),
        None => Err(INVALID_ASSERTION),
    }
}

/// `exp` in the future and at most about 3 minutes ahead (Salesforce Help,
/// "OAuth 2.0 JWT Bearer Flow for Server-to-Server Integration"); a JWT
/// `nbf` (RFC 7519 section 4.1.5) still ahead is not valid yet.
fn check_times(claims: &Value) -> Result<(), Refused> {
    let exp = claims
        .get("exp")
        .and_then(Value::as_u64)
        .ok_or(INVALID_ASSERTION)?;
    let now = now_s();
    if exp <= now {
        return Err(("invalid_grant", "expired authorization code"));
    }
    if exp > now + MAX_EXP_AHEAD_S {
        return Err(INVALID_ASSERTION);
    }
    match claims.get("nbf").map(Value::as_u64) {
        Some(Some(nbf)) if nbf > now + NBF_SKEW_S => Err(INVALID_ASSERTION),
        Some(None) => Err(INVALID_ASSERTION),
        _ => Ok(()),
    }
}

/// `client_id`/`client_secret` from the form, else from HTTP Basic.
fn client_credentials(
    shared: &Shared,
    id: Option<&str>,
    secret: Option<&str>,
    headers: &HeaderMap,
) -> Result<(), Refused> {
    let basic = basic_auth(headers);
    let (id, secret) = match (id, secret, &basic) {
        (Some(id), secret, _) => (id, secret),
        (None, _, Some((id, secret))) => (id.as_str(), Some(secret.as_str())),
        (None, _, None) => return Err(INVALID_CLIENT_ID),
    };
    if id != shared.config.consumer_key {
        return Err(INVALID_CLIENT_ID);
    }
    // A rotated consumer secret: the old one is refused (invalid_client).
    let current = shared.org().client_secret.clone();
    let expected = current.as_deref().unwrap_or(&shared.config.client_secret);
    if secret != Some(expected) {
        return Err(INVALID_CLIENT);
    }
    Ok(())
}

fn basic_auth(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

/// A new live token and Salesforce's reply for it. `signature` is what
/// Salesforce sends: Base64 HMAC-SHA256 of `id` + `issued_at` keyed with the
/// client secret.
fn issue(shared: &Shared) -> Reply {
    let issued_at = (now_ms()).to_string();
    let org15 = &shared.org_id[..15];
    let token = {
        let mut st = shared.state();
        let token = format!("{org15}!AQ{}", st.rng.text(94));
        st.issue_token(token.clone());
        token
    };
    let id = format!("{}/id/{}/{}", shared.url, shared.org_id, shared.user_id);
    let signature = Hmac::<Sha256>::new_from_slice(shared.config.client_secret.as_bytes())
        .map(|mut mac| {
            mac.update(id.as_bytes());
            mac.update(issued_at.as_bytes());
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
        })
        .unwrap_or_default();
    Reply::json(
        StatusCode::OK,
        json!({
            "access_token": token,
            "instance_url": shared.url,
            "id": id,
            "token_type": "Bearer",
            "scope": "api",
            "issued_at": issued_at,
            "signature": signature,
        }),
    )
}

/// `application/x-www-form-urlencoded` pairs (a body that is not a form
/// yields nothing, so its grant type is unsupported, as on Salesforce).
pub(super) fn parse_form(body: &[u8]) -> Vec<(String, String)> {
    let Ok(text) = std::str::from_utf8(body) else {
        return Vec::new();
    };
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (
                super::percent::percent_decode(k, true),
                super::percent::percent_decode(v, true),
            )
        })
        .collect()
}

fn now_s() -> u64 {
    now_ms() / 1000
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
