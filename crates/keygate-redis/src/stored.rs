//! A verdict as stored in Redis, sealed so that Redis cannot grant on its
//! own: `v1`, then the moment it stops being usable (Unix milliseconds, 8
//! bytes, big-endian), then an HMAC-SHA256 under the fleet's secret, then the
//! verdict: `0` for "invalid", `1` and the key's JSON (as the key service's
//! validation returned it) for "valid". The MAC covers the digest the value
//! is stored under, the moment and the verdict, so a value cannot be moved
//! to another key, kept past its lifetime or altered. Never the key's value:
//! it is not in the JSON, and the name is the digest.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use keygate_auth::tier::KeyDigest;
use keygate_types::ApiKey;
use sha2::Sha256;

const VERSION: &[u8; 2] = b"v1";
const MAC_LEN: usize = 32;
const HEADER: usize = VERSION.len() + 8 + MAC_LEN;

/// What a stored value turned out to be.
// Returned once per shared read and matched at once: boxing the key would
// cost an allocation to save a move.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, PartialEq)]
pub(crate) enum Opened {
    /// A verdict this fleet sealed, usable for `left` more.
    Verdict { key: Option<ApiKey>, left: Duration },
    /// Not sealed under this fleet's secret for this digest: written by
    /// someone else, or altered.
    Forged,
    /// Sealed by this fleet, past its lifetime, or unreadable by this
    /// version.
    Unusable,
}

/// Seals and opens verdicts under the fleet's secret.
#[derive(Clone)]
pub(crate) struct Seal {
    mac: Hmac<Sha256>,
}

impl fmt::Debug for Seal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Seal(..)")
    }
}

impl Seal {
    /// A seal under `secret` (any length; the builder asks for 32 bytes).
    pub(crate) fn new(secret: &[u8]) -> Self {
        Self {
            mac: Hmac::new_from_slice(secret).expect("HMAC takes a key of any length"),
        }
    }

    fn tag(&self, digest: &KeyDigest, until: u64, verdict: &[u8]) -> [u8; MAC_LEN] {
        let mut mac = self.mac.clone();
        mac.update(b"keygate verdict v1\0");
        mac.update(digest.as_bytes());
        mac.update(&until.to_be_bytes());
        mac.update(verdict);
        mac.finalize().into_bytes().into()
    }

    /// The stored form of a definite verdict for `digest`, usable for `ttl`.
    pub(crate) fn seal(&self, digest: &KeyDigest, key: Option<&ApiKey>, ttl: Duration) -> Vec<u8> {
        let until = unix_millis(SystemTime::now() + ttl);
        let verdict = match key {
            None => b"0".to_vec(),
            Some(key) => {
                let mut verdict = b"1".to_vec();
                // An `ApiKey` always serializes (strings, numbers, timestamps).
                serde_json::to_writer(&mut verdict, key).expect("an ApiKey serializes to JSON");
                verdict
            }
        };
        let mut value = Vec::with_capacity(HEADER + verdict.len());
        value.extend_from_slice(VERSION);
        value.extend_from_slice(&until.to_be_bytes());
        value.extend_from_slice(&self.tag(digest, until, &verdict));
        value.extend_from_slice(&verdict);
        value
    }

    /// Opens what Redis holds under `digest`'s name.
    pub(crate) fn open(&self, digest: &KeyDigest, value: &[u8]) -> Opened {
        if value.len() < HEADER || &value[..2] != VERSION {
            return Opened::Forged;
        }
        let until = u64::from_be_bytes(value[2..10].try_into().expect("8 bytes"));
        let (tag, verdict) = value[10..].split_at(MAC_LEN);
        let mut mac = self.mac.clone();
        mac.update(b"keygate verdict v1\0");
        mac.update(digest.as_bytes());
        mac.update(&until.to_be_bytes());
        mac.update(verdict);
        // Constant time, so a forger learns nothing from how long it took.
        if mac.verify_slice(tag).is_err() {
            return Opened::Forged;
        }
        let now = unix_millis(SystemTime::now());
        if until <= now {
            return Opened::Unusable;
        }
        let key = match verdict.split_first() {
            Some((b'0', [])) => None,
            Some((b'1', json)) => match serde_json::from_slice(json) {
                Ok(key) => Some(key),
                Err(_) => return Opened::Unusable,
            },
            _ => return Opened::Unusable,
        };
        Opened::Verdict {
            key,
            left: Duration::from_millis(until - now),
        }
    }
}

fn unix_millis(at: SystemTime) -> u64 {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> ApiKey {
        serde_json::from_value(serde_json::json!({
            "object": "api_key",
            "id": "api_key_01HZY2K8M6W9Q3T5V7X9Z1B3D5",
            "owner": {"type": "organization", "id": "org_01HZY2K8M6W9Q3T5V7X9Z1B3D5"},
            "name": "ci",
            "obfuscated_value": "sk_…d5",
            "last_used_at": null,
            "expires_at": null,
            "permissions": ["posts:read"],
            "created_at": "2026-01-01T00:00:00.000Z",
            "updated_at": "2026-01-01T00:00:00.000Z"
        }))
        .unwrap()
    }

    const TTL: Duration = Duration::from_secs(30);

    #[test]
    fn sealed_verdicts_open_under_the_same_secret_and_digest() {
        let seal = Seal::new(b"fleet secret of the test, 32 by.");
        let digest = KeyDigest::of("sk_one");
        for verdict in [None, Some(key())] {
            let value = seal.seal(&digest, verdict.as_ref(), TTL);
            match seal.open(&digest, &value) {
                Opened::Verdict { key, left } => {
                    assert_eq!(key, verdict);
                    assert!(left <= TTL && left > TTL - Duration::from_secs(5));
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn a_verdict_written_without_the_secret_is_forged() {
        let ours = Seal::new(b"ours");
        let theirs = Seal::new(b"theirs");
        let digest = KeyDigest::of("sk_one");
        let value = theirs.seal(&digest, Some(&key()), TTL);
        assert_eq!(ours.open(&digest, &value), Opened::Forged);
        // The old unsigned format, and anything else.
        for value in [&b"0"[..], b"1{}", b"", b"v1"] {
            assert_eq!(ours.open(&digest, value), Opened::Forged, "{value:?}");
        }
    }

    #[test]
    fn a_sealed_verdict_cannot_move_to_another_key_or_be_altered_or_extended() {
        let seal = Seal::new(b"ours");
        let digest = KeyDigest::of("sk_one");
        let value = seal.seal(&digest, Some(&key()), TTL);
        assert_eq!(seal.open(&KeyDigest::of("sk_two"), &value), Opened::Forged);
        let mut altered = value.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert_eq!(seal.open(&digest, &altered), Opened::Forged);
        let mut extended = value.clone();
        extended[2] = extended[2].wrapping_add(1);
        assert_eq!(seal.open(&digest, &extended), Opened::Forged);
        let invalid = seal.seal(&digest, None, TTL);
        let mut flipped = invalid.clone();
        *flipped.last_mut().unwrap() = b'1';
        assert_eq!(seal.open(&digest, &flipped), Opened::Forged);
    }

    #[test]
    fn a_sealed_verdict_past_its_lifetime_is_unusable() {
        let seal = Seal::new(b"ours");
        let digest = KeyDigest::of("sk_one");
        let value = seal.seal(&digest, Some(&key()), Duration::ZERO);
        assert_eq!(seal.open(&digest, &value), Opened::Unusable);
    }

    #[test]
    fn no_key_value_in_the_stored_form() {
        let seal = Seal::new(b"ours");
        let value = seal.seal(&KeyDigest::of("sk_live_secret"), Some(&key()), TTL);
        let text = String::from_utf8_lossy(&value);
        assert!(!text.contains("sk_live_secret"));
    }
}
