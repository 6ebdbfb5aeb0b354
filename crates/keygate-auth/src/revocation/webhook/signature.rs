//! The `WorkOS-Signature` header: `t=<unix ms>, v1=<hex HMAC-SHA256>`, where
//! the HMAC, keyed with the endpoint's secret, covers `"{t}.{raw body}"`.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::WebhookError;

type HmacSha256 = Hmac<Sha256>;

/// The longest header accepted (a timestamp and a few signatures fit easily).
const MAX_HEADER_LEN: usize = 1024;

/// A parsed header: the timestamp and every `v1` signature in it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct SignatureHeader {
    pub(crate) timestamp_ms: i64,
    pub(crate) signatures: Vec<[u8; 32]>,
}

impl SignatureHeader {
    pub(crate) fn parse(header: &str) -> Result<Self, WebhookError> {
        if header.len() > MAX_HEADER_LEN {
            return Err(WebhookError::MalformedSignature);
        }
        let mut timestamp = None;
        let mut signatures = Vec::new();
        for part in header.split(',') {
            let Some((name, value)) = part.trim().split_once('=') else {
                return Err(WebhookError::MalformedSignature);
            };
            match name.trim() {
                "t" => {
                    let t: i64 = value
                        .trim()
                        .parse()
                        .map_err(|_| WebhookError::MalformedSignature)?;
                    timestamp = Some(t);
                }
                "v1" => {
                    signatures.push(hex32(value.trim()).ok_or(WebhookError::MalformedSignature)?)
                }
                // Other schemes may come later: ignore them, as WorkOS's SDKs do.
                _ => {}
            }
        }
        match timestamp {
            Some(timestamp_ms) if !signatures.is_empty() => Ok(Self {
                timestamp_ms,
                signatures,
            }),
            _ => Err(WebhookError::MalformedSignature),
        }
    }
}

fn hex32(text: &str) -> Option<[u8; 32]> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        let hi = (pair[0] as char).to_digit(16)?;
        let lo = (pair[1] as char).to_digit(16)?;
        out[i] = u8::try_from(hi * 16 + lo).ok()?;
    }
    Some(out)
}

fn mac(secret: &[u8], timestamp_ms: i64, body: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length: this cannot fail.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(timestamp_ms.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// Whether one of `header`'s signatures is the HMAC of `body` at its
/// timestamp, compared in constant time.
pub(crate) fn matches(secret: &[u8], header: &SignatureHeader, body: &[u8]) -> bool {
    header.signatures.iter().any(|signature| {
        mac(secret, header.timestamp_ms, body)
            .verify_slice(signature)
            .is_ok()
    })
}

/// The `WorkOS-Signature` value WorkOS would send for `body` at `timestamp_ms`.
///
/// For tests and for senders: a receiver never needs it.
///
/// ```
/// use keygate_auth::webhook_signature;
///
/// let header = webhook_signature(b"whsec_test", 1_700_000_000_000, br#"{"id":"event_1"}"#);
/// assert!(header.starts_with("t=1700000000000, v1="));
/// assert_eq!(header.len(), "t=1700000000000, v1=".len() + 64);
/// ```
pub fn webhook_signature(secret: &[u8], timestamp_ms: i64, body: &[u8]) -> String {
    let digest = mac(secret, timestamp_ms, body).finalize().into_bytes();
    let mut hex = String::with_capacity(64);
    for byte in digest {
        hex.push_str(&format!("{byte:02x}"));
    }
    format!("t={timestamp_ms}, v1={hex}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_what_it_signs() {
        let header = webhook_signature(b"secret", 42, b"body");
        let parsed = SignatureHeader::parse(&header).unwrap();
        assert_eq!(parsed.timestamp_ms, 42);
        assert!(matches(b"secret", &parsed, b"body"));
        assert!(!matches(b"secret", &parsed, b"body!"));
        assert!(!matches(b"other", &parsed, b"body"));
    }

    #[test]
    fn a_known_vector() {
        // HMAC-SHA256("secret", "42.body"), computed independently:
        // `printf 42.body | openssl dgst -sha256 -hmac secret`
        let header = webhook_signature(b"secret", 42, b"body");
        assert_eq!(
            header,
            "t=42, v1=8ea9f5ab29637755bdb1f2587efef1232dff7211ace18f95e9a7157658ef5e63"
        );
    }

    #[test]
    fn refuses_malformed_headers() {
        for bad in [
            "",
            "t=1",
            "v1=00",
            "t=x, v1=0000000000000000000000000000000000000000000000000000000000000000",
            "t=1, v1=zz00000000000000000000000000000000000000000000000000000000000000",
            "t=1, v1=00",
            "garbage",
        ] {
            assert_eq!(
                SignatureHeader::parse(bad),
                Err(WebhookError::MalformedSignature),
                "{bad:?}"
            );
        }
        let ok = "t=1,v1=0000000000000000000000000000000000000000000000000000000000000000, v0=ab";
        assert!(SignatureHeader::parse(ok).is_ok());
    }

    proptest! {
        #[test]
        fn never_panics_on_any_header(header in ".{0,200}") {
            let _ = SignatureHeader::parse(&header);
        }

        #[test]
        fn round_trips(t in any::<i64>(), body in proptest::collection::vec(any::<u8>(), 0..64)) {
            let header = webhook_signature(b"k", t, &body);
            let parsed = SignatureHeader::parse(&header).unwrap();
            prop_assert_eq!(parsed.timestamp_ms, t);
            prop_assert!(matches(b"k", &parsed, &body));
        }
    }
}
