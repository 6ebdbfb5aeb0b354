//! The `WorkOS-Signature` header: `t=<unix ms>, v1=<hex HMAC-SHA256>` over
//! `"{t}.{body}"`, keyed with the endpoint's secret.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header's name, as WorkOS sends it.
pub(crate) const HEADER: &str = "WorkOS-Signature";

/// The header value for `body` signed at `timestamp_ms` with `secret`.
pub(crate) fn header_value(secret: &[u8], timestamp_ms: u128, body: &[u8]) -> String {
    let timestamp = timestamp_ms.to_string();
    format!("t={timestamp}, v1={}", sign(secret, &timestamp, body))
}

fn sign(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail here.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    hex(&mac.finalize().into_bytes())
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_a_known_hmac_sha256() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let mut mac = Hmac::<Sha256>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            hex(&mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Our framing: "{t}.{body}".
        let header = header_value(b"Jefe", 1, b"what do ya want for nothing?");
        assert!(header.starts_with("t=1, v1="));
        assert_eq!(header.len(), "t=1, v1=".len() + 64);
    }
}
