//! Webhook secrets in memory: zeroized on drop, never printed.
//!
//! `Debug` prints `Secret([REDACTED])`; the bytes are reachable only through
//! `Secret::expose`, which the verifiers call to key an HMAC.

use std::sync::Arc;

use base64::Engine as _;
use secrecy::{ExposeSecret, SecretSlice};
use zeroize::{Zeroize as _, Zeroizing};

/// Prefix of Standard Webhooks secrets (`whsec_<base64 key>`).
pub(crate) const STANDARD_WEBHOOKS_PREFIX: &str = "whsec_";

/// What `Debug` and logs show in place of a secret.
pub(crate) const REDACTED: &str = "[REDACTED]";

/// A connection URL (AMQP, Redis) fit for logs and `Debug`: the password
/// replaced by [`REDACTED`], the rest as written so an operator still sees
/// which host and user are meant. Text that is not a URL with an authority
/// (`scheme://...`) is redacted whole: a mistyped URL can still hold the
/// password.
pub(crate) fn redact_url(url: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else {
        return format!("{REDACTED} (not a URL)");
    };
    if parsed.cannot_be_a_base() {
        return format!("{REDACTED} (not a scheme://host URL)");
    }
    if parsed.password().is_none() {
        return url.to_owned();
    }
    let user = parsed.username().to_owned();
    if parsed.set_password(None).is_err() {
        return REDACTED.to_owned();
    }
    let Some((scheme, rest)) = parsed.as_str().split_once("://") else {
        return REDACTED.to_owned();
    };
    let host_on = rest.strip_prefix(&format!("{user}@")).unwrap_or(rest);
    format!("{scheme}://{user}:{REDACTED}@{host_on}")
}

/// One shared secret (an HMAC key), with an optional expiry. Cheap to clone
/// (shared, not copied).
#[derive(Clone)]
pub struct Secret(Arc<SecretSlice<u8>>, Option<time::OffsetDateTime>);

impl Secret {
    /// Takes raw key bytes without leaving a copy behind: see `exact`.
    pub fn new(bytes: Vec<u8>) -> Self {
        Secret(Arc::new(SecretSlice::from(exact(bytes))), None)
    }

    /// Copies key bytes into an allocation of their size; the caller's copy
    /// is the caller's to zeroize (e.g. a [`Zeroizing`] buffer).
    pub(crate) fn from_slice(bytes: &[u8]) -> Self {
        Secret(Arc::new(SecretSlice::from(Box::<[u8]>::from(bytes))), None)
    }

    /// Decodes a Standard Webhooks secret: `whsec_` followed by the base64
    /// key (the prefix is optional, as in the reference libraries). The
    /// decoded key goes through a zeroized buffer of fixed size; `raw` is
    /// the caller's to zeroize.
    ///
    /// # Errors
    /// A reason (without the secret) when the base64 does not decode.
    pub(crate) fn standard_webhooks(raw: &[u8]) -> Result<Self, String> {
        let text = raw
            .strip_prefix(STANDARD_WEBHOOKS_PREFIX.as_bytes())
            .unwrap_or(raw);
        let mut key = Zeroizing::new(vec![0u8; base64::decoded_len_estimate(text.len())]);
        let n = base64::engine::general_purpose::STANDARD
            .decode_slice(text, key.as_mut_slice())
            .map_err(|_| "a Standard Webhooks secret is whsec_ followed by base64".to_string())?;
        Ok(Secret::from_slice(key.get(..n).unwrap_or_default()))
    }

    /// The same key, no longer valid after `at` (`not_after` in config).
    pub(crate) fn with_not_after(self, at: time::OffsetDateTime) -> Self {
        Secret(self.0, Some(at))
    }

    /// When the key stops verifying (`not_after`), if ever.
    pub(crate) fn not_after(&self) -> Option<time::OffsetDateTime> {
        self.1
    }

    /// Whether the key may still verify at Unix time `now` (seconds).
    pub(crate) fn valid_at(&self, now: i64) -> bool {
        self.1.is_none_or(|t| now <= t.unix_timestamp())
    }

    /// The key bytes; use only to key a MAC.
    pub(crate) fn expose(&self) -> &[u8] {
        self.0.expose_secret()
    }

    /// True when the key has no bytes.
    pub(crate) fn is_empty(&self) -> bool {
        self.expose().is_empty()
    }
}

/// `bytes` in an allocation of exactly their length. `Vec::into_boxed_slice`
/// (what `SecretSlice::from(Vec)` does) reallocates when there is spare
/// capacity, and the allocator frees the old buffer with the secret still
/// in it; so a buffer with spare capacity is copied, then zeroized whole.
fn exact(mut bytes: Vec<u8>) -> Box<[u8]> {
    if bytes.len() == bytes.capacity() {
        return bytes.into_boxed_slice();
    }
    let boxed = Box::<[u8]>::from(bytes.as_slice());
    bytes.zeroize();
    boxed
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts() {
        let s = Secret::new(b"hunter2".to_vec());
        assert_eq!(format!("{s:?}"), "Secret([REDACTED])");
    }

    #[test]
    fn new_keeps_an_exact_buffer_and_copies_a_spare_one() {
        let exact_vec = b"hunter2".to_vec();
        assert_eq!(exact_vec.len(), exact_vec.capacity());
        let at = exact_vec.as_ptr();
        let s = Secret::new(exact_vec);
        assert_eq!(s.expose().as_ptr(), at, "moved, not copied");

        let mut spare = Vec::with_capacity(64);
        spare.extend_from_slice(b"hunter2");
        let s = Secret::new(spare);
        assert_eq!(s.expose(), b"hunter2");
        assert_eq!(Secret::from_slice(b"hunter2").expose(), b"hunter2");
    }

    #[test]
    fn standard_webhooks_keys_of_every_length_decode() {
        for key in [&b"k"[..], b"ke", b"key", b"key4", &[0xAB; 64]] {
            let text = base64::engine::general_purpose::STANDARD.encode(key);
            let s = Secret::standard_webhooks(format!("whsec_{text}").as_bytes()).unwrap();
            assert_eq!(s.expose(), key);
            assert_eq!(format!("{s:?}"), "Secret([REDACTED])");
        }
    }

    #[test]
    fn urls_lose_their_password_only() {
        for (url, shown) in [
            (
                "amqp://hookgate:s3cret@broker:5672/%2f",
                "amqp://hookgate:[REDACTED]@broker:5672/%2f",
            ),
            (
                "redis://:s3cret@cache:6379/0",
                "redis://:[REDACTED]@cache:6379/0",
            ),
            ("amqp://127.0.0.1:5672/%2f", "amqp://127.0.0.1:5672/%2f"),
            ("redis://user@cache", "redis://user@cache"),
            (
                "amqp:user:s3cret@host",
                "[REDACTED] (not a scheme://host URL)",
            ),
            ("amqp://user:s3cret@host:port", "[REDACTED] (not a URL)"),
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
        }
    }

    #[test]
    fn standard_webhooks_prefix_is_stripped_and_decoded() {
        let s = Secret::standard_webhooks(b"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(s.expose().len(), 24);
        assert!(Secret::standard_webhooks(b"whsec_***").is_err());
    }
}
