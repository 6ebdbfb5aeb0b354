//! The compact JWS form of a token: three base64url parts, read without
//! trusting any of them until the signature verifies.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::TokenRefusal;

/// The longest access token read, in bytes (WorkOS's are about 1 KiB).
pub const MAX_TOKEN_LENGTH: usize = 8 * 1024;

/// A token split into its parts, its header read and checked.
#[derive(Debug)]
pub(crate) struct Jws<'a> {
    /// `header.payload`, the bytes the signature covers.
    pub(crate) signed: &'a str,
    pub(crate) payload: Vec<u8>,
    pub(crate) signature: Vec<u8>,
    pub(crate) kid: String,
}

#[derive(Deserialize)]
struct Header {
    alg: Option<String>,
    kid: Option<String>,
    /// `crit` names extensions the verifier must understand; keygate
    /// understands none, so any is a refusal (RFC 7515 § 4.1.11).
    crit: Option<serde_json::Value>,
}

/// Splits `token` and checks its header: RS256 and nothing else (the
/// allow-list that turns `none`, and HS256 signed with the public key, away
/// before any key is looked up), and a `kid`.
pub(crate) fn split(token: &str) -> Result<Jws<'_>, TokenRefusal> {
    if token.len() > MAX_TOKEN_LENGTH {
        return Err(TokenRefusal::Malformed);
    }
    let (signed, signature) = token.rsplit_once('.').ok_or(TokenRefusal::Malformed)?;
    let (header, payload) = signed.split_once('.').ok_or(TokenRefusal::Malformed)?;
    let header: Header = decode_json(header)?;
    if header.alg.as_deref() != Some("RS256") {
        return Err(TokenRefusal::Algorithm);
    }
    if header.crit.is_some() {
        return Err(TokenRefusal::Malformed);
    }
    let kid = header
        .kid
        .filter(|kid| !kid.is_empty())
        .ok_or(TokenRefusal::MissingKeyId)?;
    Ok(Jws {
        signed,
        payload: decode(payload)?,
        signature: decode(signature)?,
        kid,
    })
}

/// base64url without padding, as RFC 7515 writes every part.
pub(crate) fn decode(part: &str) -> Result<Vec<u8>, TokenRefusal> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| TokenRefusal::Malformed)
}

fn decode_json<T: DeserializeOwned>(part: &str) -> Result<T, TokenRefusal> {
    serde_json::from_slice(&decode(part)?).map_err(|_| TokenRefusal::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    #[test]
    fn only_rs256_with_a_kid_passes_the_header_check() {
        let token = |header: &str| format!("{}.{}.{}", b64(header), b64("{}"), b64("sig"));
        assert!(split(&token(r#"{"alg":"RS256","kid":"k1"}"#)).is_ok());
        for alg in ["none", "HS256", "RS384", "ES256", "PS256"] {
            let header = format!(r#"{{"alg":"{alg}","kid":"k1"}}"#);
            assert_eq!(
                split(&token(&header)).unwrap_err(),
                TokenRefusal::Algorithm,
                "{alg}"
            );
        }
        assert_eq!(
            split(&token(r#"{"kid":"k1"}"#)).unwrap_err(),
            TokenRefusal::Algorithm
        );
        assert_eq!(
            split(&token(r#"{"alg":"RS256"}"#)).unwrap_err(),
            TokenRefusal::MissingKeyId
        );
        assert_eq!(
            split(&token(r#"{"alg":"RS256","kid":""}"#)).unwrap_err(),
            TokenRefusal::MissingKeyId
        );
        assert_eq!(
            split(&token(r#"{"alg":"RS256","kid":"k","crit":["b64"]}"#)).unwrap_err(),
            TokenRefusal::Malformed
        );
    }

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        for bad in ["", ".", "..", "a.b", "a.b.c", "eyJ.eyJ.x", "!!.!!.!!"] {
            assert_eq!(split(bad).unwrap_err(), TokenRefusal::Malformed, "{bad:?}");
        }
        let long = format!(
            "{}.{}.{}",
            b64(r#"{"alg":"RS256","kid":"k"}"#),
            "a".repeat(MAX_TOKEN_LENGTH),
            "b"
        );
        assert_eq!(split(&long).unwrap_err(), TokenRefusal::Malformed);
    }
}
