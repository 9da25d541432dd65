//! HMAC computation and constant-time comparison shared by the schemes.

use hmac::{Hmac, Mac};
use subtle::ConstantTimeEq;

// The hash is a config value (`routes[].algorithm`): declared there, since
// config never imports verify.
pub use crate::config::generic::Algorithm;
use crate::secret::Secret;

/// HMAC of the concatenation of `parts` under `key`.
pub fn tag(alg: Algorithm, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    fn run<M: Mac + hmac::digest::KeyInit>(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        // HMAC takes keys of any length: new_from_slice cannot fail.
        let Ok(mut mac) = <M as hmac::digest::KeyInit>::new_from_slice(key) else {
            return Vec::new();
        };
        for p in parts {
            mac.update(p);
        }
        mac.finalize().into_bytes().to_vec()
    }
    match alg {
        Algorithm::Sha1 => run::<Hmac<sha1::Sha1>>(key, parts),
        Algorithm::Sha256 => run::<Hmac<sha2::Sha256>>(key, parts),
        Algorithm::Sha512 => run::<Hmac<sha2::Sha512>>(key, parts),
    }
}

/// Tries every secret against every candidate signature; returns the slot of
/// the first secret that produced a matching tag. Each comparison is
/// constant-time (`subtle`); all secrets are tried whatever matches.
#[cfg(test)]
fn matching_slot(
    alg: Algorithm,
    secrets: &[Secret],
    parts: &[&[u8]],
    candidates: &[Vec<u8>],
) -> Option<usize> {
    matching_slot_at(alg, secrets, parts, candidates, None)
}

/// [`matching_slot`] skipping secrets expired at Unix time `now` (their
/// `not_after` has passed).
pub(crate) fn matching_slot_at(
    alg: Algorithm,
    secrets: &[Secret],
    parts: &[&[u8]],
    candidates: &[Vec<u8>],
    now: Option<i64>,
) -> Option<usize> {
    let mut found = None;
    for (slot, secret) in secrets.iter().enumerate() {
        if now.is_some_and(|n| !secret.valid_at(n)) {
            continue;
        }
        let expected = tag(alg, secret.expose(), parts);
        let mut hit = subtle::Choice::from(0u8);
        for c in candidates {
            hit |= expected.as_slice().ct_eq(c.as_slice());
        }
        if bool::from(hit) && found.is_none() {
            found = Some(slot);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4231_case_2() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let t = tag(
            Algorithm::Sha256,
            b"Jefe",
            &[b"what do ya want ", b"for nothing?"],
        );
        assert_eq!(
            hex::encode(t),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn any_secret_slot_matches() {
        let secrets = [Secret::new(b"old".to_vec()), Secret::new(b"new".to_vec())];
        let sig = tag(Algorithm::Sha256, b"new", &[b"body"]);
        assert_eq!(
            matching_slot(
                Algorithm::Sha256,
                &secrets,
                &[b"body"],
                std::slice::from_ref(&sig)
            ),
            Some(1)
        );
        assert_eq!(
            matching_slot(Algorithm::Sha256, &secrets, &[b"bodY"], &[sig]),
            None
        );
    }
}
