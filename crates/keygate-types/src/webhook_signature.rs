//! The `WorkOS-Signature` header of webhook deliveries (feature
//! `webhook-signature`): `t=<unix ms>, v1=<hex HMAC-SHA256>`, where the HMAC,
//! keyed with the endpoint's secret, covers `"{t}.{raw body}"`.
//!
//! One implementation for both sides: the emulator signs with it, and
//! keygate's webhook receiver parses and verifies with it.
//!
//! ```
//! use keygate_types::webhook_signature::{SignatureHeader, sign};
//!
//! let value = sign(b"whsec_test", 1_700_000_000_000, br#"{"id":"event_1"}"#);
//! assert!(value.starts_with("t=1700000000000, v1="));
//! let header = SignatureHeader::parse(&value)?;
//! assert!(header.verify(b"whsec_test", br#"{"id":"event_1"}"#));
//! assert!(!header.verify(b"whsec_other", br#"{"id":"event_1"}"#));
//! # Ok::<(), keygate_types::webhook_signature::SignatureError>(())
//! ```

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::constant_time_eq;

/// The header's name, as WorkOS sends it.
pub const HEADER: &str = "WorkOS-Signature";
/// The longest header accepted: a timestamp and a few signatures fit easily.
pub const MAX_HEADER_LEN: usize = 1024;
/// The most `v1=` entries accepted: WorkOS sends one, a few more allow for a
/// secret rotation; a longer list only makes the receiver compare more.
pub const MAX_SIGNATURES: usize = 5;

/// Why a header was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// Longer than [`MAX_HEADER_LEN`].
    #[error("the WorkOS-Signature header is {len} bytes; at most {MAX_HEADER_LEN} are accepted")]
    TooLong {
        /// Its length.
        len: usize,
    },
    /// Not `t=<unix ms>, v1=<64 hex digits>[, v1=…]`.
    #[error("the WorkOS-Signature header is not `t=<unix ms>, v1=<hex HMAC-SHA256>`")]
    Malformed,
    /// More than [`MAX_SIGNATURES`] `v1=` entries.
    #[error(
        "the WorkOS-Signature header carries {count} `v1=` signatures; at most {MAX_SIGNATURES} are accepted"
    )]
    TooManySignatures {
        /// How many it carries.
        count: usize,
    },
}

/// A parsed header: the timestamp (milliseconds since the Unix epoch) and
/// every `v1` signature in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureHeader {
    /// `t`, in milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
    /// The `v1` signatures, in order: 1 to [`MAX_SIGNATURES`].
    pub signatures: Vec<[u8; 32]>,
}

impl SignatureHeader {
    /// The header WorkOS would send for `body` at `timestamp_ms`.
    pub fn sign(secret: &[u8], timestamp_ms: i64, body: &[u8]) -> Self {
        Self {
            timestamp_ms,
            signatures: vec![hmac(secret, timestamp_ms, body)],
        }
    }

    /// Reads a header value. Entries other than `t` and `v1` are ignored,
    /// as WorkOS's SDKs do, so other schemes may be added later.
    pub fn parse(header: &str) -> Result<Self, SignatureError> {
        if header.len() > MAX_HEADER_LEN {
            return Err(SignatureError::TooLong { len: header.len() });
        }
        let mut timestamp = None;
        let mut signatures = Vec::new();
        for part in header.split(',') {
            let (name, value) = part
                .trim()
                .split_once('=')
                .ok_or(SignatureError::Malformed)?;
            match name.trim() {
                "t" if timestamp.is_none() => {
                    timestamp = Some(
                        value
                            .trim()
                            .parse()
                            .map_err(|_| SignatureError::Malformed)?,
                    );
                }
                "t" => return Err(SignatureError::Malformed),
                "v1" => signatures.push(hex32(value.trim()).ok_or(SignatureError::Malformed)?),
                _ => {}
            }
        }
        if signatures.len() > MAX_SIGNATURES {
            return Err(SignatureError::TooManySignatures {
                count: signatures.len(),
            });
        }
        match timestamp {
            Some(timestamp_ms) if !signatures.is_empty() => Ok(Self {
                timestamp_ms,
                signatures,
            }),
            _ => Err(SignatureError::Malformed),
        }
    }

    /// Whether one of the signatures is the HMAC of `body` at the header's
    /// timestamp under `secret`. The HMAC is computed once and compared
    /// with each signature in constant time.
    pub fn verify(&self, secret: &[u8], body: &[u8]) -> bool {
        let expected = hmac(secret, self.timestamp_ms, body);
        // Every entry is compared, so the time taken does not say which matched.
        self.signatures
            .iter()
            .fold(false, |found, s| constant_time_eq(s, &expected) | found)
    }
}

impl fmt::Display for SignatureHeader {
    /// `t=<ms>, v1=<hex>[, v1=<hex>…]`, as WorkOS writes it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "t={}", self.timestamp_ms)?;
        for signature in &self.signatures {
            f.write_str(", v1=")?;
            for byte in signature {
                write!(f, "{byte:02x}")?;
            }
        }
        Ok(())
    }
}

/// The `WorkOS-Signature` value WorkOS would send for `body` at
/// `timestamp_ms`, signed with `secret`.
pub fn sign(secret: &[u8], timestamp_ms: i64, body: &[u8]) -> String {
    SignatureHeader::sign(secret, timestamp_ms, body).to_string()
}

fn hmac(secret: &[u8], timestamp_ms: i64, body: &[u8]) -> [u8; 32] {
    // HMAC takes keys of any length: this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(timestamp_ms.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().into()
}

fn hex32(text: &str) -> Option<[u8; 32]> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        let hi = char::from(pair[0]).to_digit(16)?;
        let lo = char::from(pair[1]).to_digit(16)?;
        out[i] = u8::try_from(hi * 16 + lo).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_known_vector() {
        // HMAC-SHA256("secret", "42.body"), computed independently:
        // `printf 42.body | openssl dgst -sha256 -hmac secret`
        assert_eq!(
            sign(b"secret", 42, b"body"),
            "t=42, v1=8ea9f5ab29637755bdb1f2587efef1232dff7211ace18f95e9a7157658ef5e63"
        );
        // RFC 4231 test case 2's key, in our framing "{t}.{body}".
        let header = sign(b"Jefe", 1, b"what do ya want for nothing?");
        assert!(header.starts_with("t=1, v1="));
        assert_eq!(header.len(), "t=1, v1=".len() + 64);
    }

    #[test]
    fn verifies_only_the_same_body_and_secret() {
        let header = SignatureHeader::parse(&sign(b"secret", 42, b"body")).unwrap();
        assert_eq!(header.timestamp_ms, 42);
        assert!(header.verify(b"secret", b"body"));
        assert!(!header.verify(b"secret", b"body!"));
        assert!(!header.verify(b"other", b"body"));
    }

    #[test]
    fn refuses_malformed_headers() {
        let zeros = "0".repeat(64);
        for bad in [
            "".to_owned(),
            "t=1".to_owned(),
            "v1=00".to_owned(),
            "garbage".to_owned(),
            format!("t=x, v1={zeros}"),
            format!("t=1, t=2, v1={zeros}"),
            format!("t=1, v1=zz{}", "0".repeat(62)),
            "t=1, v1=00".to_owned(),
        ] {
            assert_eq!(
                SignatureHeader::parse(&bad),
                Err(SignatureError::Malformed),
                "{bad:?}"
            );
        }
        let ok = format!("t=1,v1={zeros}, v0=ab");
        assert!(SignatureHeader::parse(&ok).is_ok());
        let long = format!("t=1, v1={zeros}, x={}", "a".repeat(MAX_HEADER_LEN));
        assert!(matches!(
            SignatureHeader::parse(&long),
            Err(SignatureError::TooLong { .. })
        ));
    }

    #[test]
    fn refuses_more_than_max_signatures() {
        let entry = format!(", v1={}", "0".repeat(64));
        let at_most = format!("t=1{}", entry.repeat(MAX_SIGNATURES));
        assert_eq!(
            SignatureHeader::parse(&at_most).unwrap().signatures.len(),
            MAX_SIGNATURES
        );
        let over = format!("t=1{}", entry.repeat(MAX_SIGNATURES + 1));
        assert_eq!(
            SignatureHeader::parse(&over),
            Err(SignatureError::TooManySignatures {
                count: MAX_SIGNATURES + 1
            })
        );
    }

    fn any_header() -> impl Strategy<Value = SignatureHeader> {
        (
            any::<i64>(),
            proptest::collection::vec(any::<[u8; 32]>(), 1..=MAX_SIGNATURES),
        )
            .prop_map(|(timestamp_ms, signatures)| SignatureHeader {
                timestamp_ms,
                signatures,
            })
    }

    proptest! {
        #[test]
        fn format_then_parse_round_trips(header in any_header()) {
            prop_assert_eq!(SignatureHeader::parse(&header.to_string()), Ok(header));
        }

        #[test]
        fn signs_then_verifies(t in any::<i64>(), body in proptest::collection::vec(any::<u8>(), 0..64)) {
            let header = SignatureHeader::parse(&sign(b"k", t, &body)).unwrap();
            prop_assert_eq!(header.timestamp_ms, t);
            prop_assert!(header.verify(b"k", &body));
        }

        #[test]
        fn never_panics_on_any_header(header in ".{0,300}") {
            let _ = SignatureHeader::parse(&header);
        }

        /// Breaking any part of a good header is refused, never misread.
        #[test]
        fn a_damaged_header_is_refused(
            header in any_header(),
            damage in prop_oneof![
                Just("t=notanumber, "),
                Just("v1=abc, "),
                Just("nonsense, "),
                Just("t=1, "),
            ],
        ) {
            let damaged = format!("{damage}{header}");
            prop_assert!(SignatureHeader::parse(&damaged).is_err(), "{}", damaged);
        }

        #[test]
        fn a_wrong_length_or_non_hex_signature_is_refused(
            t in any::<i64>(),
            sig in "[0-9a-fA-Fg-z]{0,70}",
        ) {
            let valid = sig.len() == 64 && sig.chars().all(|c| c.is_ascii_hexdigit());
            let parsed = SignatureHeader::parse(&format!("t={t}, v1={sig}"));
            prop_assert_eq!(parsed.is_ok(), valid);
        }
    }
}
