//! Finding the API key in a request.
//!
//! The key is read from `Authorization: Bearer <key>` (RFC 6750 § 2.1): the
//! scheme is case-insensitive, the key must be a `token68`, and a length cap is
//! checked before anything else. Two more sources are opt-in: a named header
//! (such as `X-Api-Key`) and a query parameter (for WebSocket clients that
//! cannot set headers). A request that carries the key in more than one place,
//! or that repeats a source, is malformed (RFC 6750 § 2: "clients MUST NOT use
//! more than one method"). An optional [`Precheck`] then rejects obvious
//! garbage without a call to the key service.

mod token68;

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use http::header::{AUTHORIZATION, HeaderName};
use http::{HeaderMap, Uri};

pub(crate) use token68::is_token68;

/// The default cap on a key's length, in bytes. WorkOS keys are about 50.
pub const DEFAULT_MAX_KEY_LENGTH: usize = 256;

/// Why a request's credential could not be read. Each maps to one row of the
/// response table: see [`AuthRejection`](crate::AuthRejection).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialError {
    /// More than one `Authorization` header.
    #[error("the request carries several Authorization headers; send exactly one")]
    SeveralAuthorizationHeaders,
    /// The key appears in more than one place (or an opt-in source repeats).
    #[error("the API key was sent in more than one place; send it once")]
    SeveralSources,
    /// The key (or the header carrying it) is longer than the cap.
    #[error("the API key is longer than {max} bytes")]
    TooLong {
        /// The cap, in bytes.
        max: usize,
    },
    /// The header holds bytes outside visible ASCII.
    #[error("the credential holds characters outside visible ASCII")]
    NotAscii,
    /// The `Authorization` value does not start with an auth scheme.
    #[error("the Authorization header does not start with an authentication scheme")]
    MalformedScheme,
    /// `Authorization: Bearer` with no token after it, or an empty opt-in source.
    #[error("the Bearer credential is empty")]
    MissingToken,
    /// The token is not RFC 7235 `token68` syntax.
    #[error("the API key is not a token68 string (letters, digits, - . _ ~ + /, then any =)")]
    NotToken68,
    /// A scheme other than `Bearer` (such as `Basic`). RFC 6750 § 3.1 answers
    /// this like a missing credential: 401 without an error code.
    #[error("the Authorization scheme is not Bearer")]
    UnsupportedScheme,
}

/// Where a key was found, as recorded on the request's span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CredentialSource {
    /// `Authorization: Bearer`.
    Authorization,
    /// The opt-in named header.
    Header,
    /// The opt-in query parameter.
    Query,
}

impl CredentialSource {
    /// A short name for logs.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Authorization => "authorization",
            Self::Header => "header",
            Self::Query => "query",
        }
    }
}

/// A local check that runs before the cache and the key service: a key it
/// refuses is rejected as `invalid_token` without a network call and without
/// a cache entry.
///
/// ```
/// use keygate_auth::Precheck;
///
/// let prefix = Precheck::prefix("sk_");
/// assert!(prefix.accepts("sk_live_0123"));
/// assert!(!prefix.accepts("pk_0123"));
///
/// let custom = Precheck::new(|key: &str| key.len() >= 20);
/// assert!(!custom.accepts("sk_short"));
/// ```
#[derive(Clone)]
pub struct Precheck(Arc<dyn Fn(&str) -> bool + Send + Sync>);

impl Precheck {
    /// A check from a closure: `true` lets the key through.
    pub fn new(check: impl Fn(&str) -> bool + Send + Sync + 'static) -> Self {
        Self(Arc::new(check))
    }

    /// Requires keys to start with `prefix`, such as `"sk_"`.
    pub fn prefix(prefix: impl Into<Cow<'static, str>>) -> Self {
        let prefix = prefix.into();
        Self::new(move |key| key.starts_with(prefix.as_ref()))
    }

    /// Whether `key` passes.
    pub fn accepts(&self, key: &str) -> bool {
        (self.0)(key)
    }
}

impl fmt::Debug for Precheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Precheck(..)")
    }
}

/// Where to look for the key and how long it may be.
#[derive(Debug, Clone)]
pub(crate) struct CredentialConfig {
    pub(crate) max_len: usize,
    /// The cap for credentials shaped like a JWT, when access tokens are
    /// accepted (0: none are); `max_len` still caps everything else.
    pub(crate) token_max_len: usize,
    pub(crate) header: Option<HeaderName>,
    pub(crate) query: Option<Cow<'static, str>>,
}

impl Default for CredentialConfig {
    fn default() -> Self {
        Self {
            max_len: DEFAULT_MAX_KEY_LENGTH,
            token_max_len: 0,
            header: None,
            query: None,
        }
    }
}

/// Whether `credential` is shaped like a JWT (a compact JWS): three parts
/// separated by dots, the first a JSON object (`eyJ` is `{"` encoded) and
/// the second not empty. API keys (`sk_…`) never hold a dot, so the two
/// cannot be confused; the parts' alphabet and content are the verifier's
/// to judge (as `invalid_token`), and the issuer is the token's `iss`.
///
/// It runs on every request that carries a token, over about a kilobyte:
/// the dots are found with `str::find`, which searches a whole word of bytes
/// at a time rather than one byte.
pub(crate) fn is_jwt_shaped(credential: &str) -> bool {
    if !credential.starts_with("eyJ") {
        return false;
    }
    let Some(first) = credential.find('.') else {
        return false;
    };
    let rest = &credential[first + 1..];
    let Some(second) = rest.find('.') else {
        return false;
    };
    second > 0 && !rest[second + 1..].contains('.')
}

/// Room for the scheme and some spaces when capping a whole header value.
const SCHEME_ROOM: usize = 16;

impl CredentialConfig {
    /// The cap before the credential's shape is known.
    fn cap(&self) -> usize {
        self.max_len.max(self.token_max_len)
    }

    /// Finds the key: `Ok(None)` when the request carries none at all.
    pub(crate) fn extract<'a>(
        &self,
        headers: &'a HeaderMap,
        uri: &'a Uri,
    ) -> Result<Option<(Cow<'a, str>, CredentialSource)>, CredentialError> {
        let mut found = None;

        let mut authorization = headers.get_all(AUTHORIZATION).iter();
        if let Some(value) = authorization.next() {
            if authorization.next().is_some() {
                return Err(CredentialError::SeveralAuthorizationHeaders);
            }
            // The cap comes first: nothing else looks at an oversized value.
            if value.len() > self.cap().saturating_add(SCHEME_ROOM) {
                return Err(CredentialError::TooLong { max: self.max_len });
            }
            let token = token68::parse_bearer(value.as_bytes())?;
            found = Some((Cow::Borrowed(token), CredentialSource::Authorization));
        }

        if let Some(name) = &self.header {
            let mut values = headers.get_all(name).iter();
            if let Some(value) = values.next() {
                if values.next().is_some() || found.is_some() {
                    return Err(CredentialError::SeveralSources);
                }
                let token = self.check_plain(value.as_bytes())?;
                found = Some((Cow::Borrowed(token), CredentialSource::Header));
            }
        }

        if let (Some(name), Some(query)) = (&self.query, uri.query()) {
            let mut values = query_values(query, name);
            if let Some(raw) = values.next() {
                if values.next().is_some() || found.is_some() {
                    return Err(CredentialError::SeveralSources);
                }
                if raw.len() > self.cap().saturating_mul(3) {
                    return Err(CredentialError::TooLong { max: self.max_len });
                }
                let decoded = percent_decode(raw)?;
                let token = match decoded {
                    Cow::Borrowed(s) => Cow::Borrowed(self.check_plain(s.as_bytes())?),
                    Cow::Owned(s) => {
                        self.check_plain(s.as_bytes())?;
                        Cow::Owned(s)
                    }
                };
                found = Some((token, CredentialSource::Query));
            }
        }

        if let Some((token, _)) = &found
            && token.len() > self.max_len
            && !(token.len() <= self.token_max_len && is_jwt_shaped(token))
        {
            return Err(CredentialError::TooLong { max: self.max_len });
        }
        Ok(found)
    }

    /// Checks a bare key from an opt-in source: capped, ASCII, `token68`.
    fn check_plain<'a>(&self, value: &'a [u8]) -> Result<&'a str, CredentialError> {
        if value.len() > self.cap().saturating_add(SCHEME_ROOM) {
            return Err(CredentialError::TooLong { max: self.max_len });
        }
        let value = std::str::from_utf8(value).map_err(|_| CredentialError::NotAscii)?;
        if !value.is_ascii() {
            return Err(CredentialError::NotAscii);
        }
        let value = value.trim_matches([' ', '\t']);
        if value.is_empty() {
            return Err(CredentialError::MissingToken);
        }
        if !is_token68(value) {
            return Err(CredentialError::NotToken68);
        }
        Ok(value)
    }
}

/// The raw values of every `name=value` pair named `name` in a query string.
fn query_values<'q, 'n>(
    query: &'q str,
    name: &'n str,
) -> impl Iterator<Item = &'q str> + use<'q, 'n> {
    query.split('&').filter_map(move |pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then_some(value)
    })
}

/// Decodes `%XX` escapes; `+` stays a plus sign (it is a `token68` character).
fn percent_decode(raw: &str) -> Result<Cow<'_, str>, CredentialError> {
    if !raw.contains('%') {
        return Ok(Cow::Borrowed(raw));
    }
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or(CredentialError::NotToken68)?;
            let hex = std::str::from_utf8(hex).map_err(|_| CredentialError::NotToken68)?;
            let byte = u8::from_str_radix(hex, 16).map_err(|_| CredentialError::NotToken68)?;
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out)
        .map(Cow::Owned)
        .map_err(|_| CredentialError::NotAscii)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Request;
    use http::request::Parts;

    fn parts(builder: http::request::Builder) -> Parts {
        builder.body(()).unwrap().into_parts().0
    }

    fn extract(config: &CredentialConfig, p: &Parts) -> Result<Option<String>, CredentialError> {
        config
            .extract(&p.headers, &p.uri)
            .map(|found| found.map(|(token, _)| token.into_owned()))
    }

    fn with_sources() -> CredentialConfig {
        CredentialConfig {
            header: Some(HeaderName::from_static("x-api-key")),
            query: Some("api_key".into()),
            ..CredentialConfig::default()
        }
    }

    #[test]
    fn no_credential_is_none() {
        let p = parts(Request::get("/"));
        assert_eq!(extract(&with_sources(), &p), Ok(None));
    }

    #[test]
    fn reads_bearer() {
        let p = parts(Request::get("/").header("authorization", "bearer sk_1"));
        assert_eq!(
            extract(&CredentialConfig::default(), &p),
            Ok(Some("sk_1".into()))
        );
    }

    #[test]
    fn several_authorization_headers_are_rejected() {
        let p = parts(
            Request::get("/")
                .header("authorization", "Bearer a")
                .header("authorization", "Bearer a"),
        );
        assert_eq!(
            extract(&CredentialConfig::default(), &p),
            Err(CredentialError::SeveralAuthorizationHeaders)
        );
    }

    #[test]
    fn length_cap_comes_first() {
        // Too long *and* malformed: the cap answers.
        let long = format!("Basic {}", "é".repeat(200));
        let p = parts(Request::get("/").header("authorization", long.as_str()));
        assert_eq!(
            extract(&CredentialConfig::default(), &p),
            Err(CredentialError::TooLong { max: 256 })
        );
        let token = "a".repeat(257);
        let p = parts(Request::get("/").header("authorization", format!("Bearer {token}")));
        assert_eq!(
            extract(&CredentialConfig::default(), &p),
            Err(CredentialError::TooLong { max: 256 })
        );
        let token = "a".repeat(256);
        let p = parts(Request::get("/").header("authorization", format!("Bearer {token}")));
        assert_eq!(extract(&CredentialConfig::default(), &p), Ok(Some(token)));
    }

    #[test]
    fn extreme_length_caps_neither_overflow_nor_refuse_ordinary_keys() {
        let request = || {
            Request::get("/?api_key=sk_query_0123456789abcdefghij").header(
                "authorization",
                "Bearer sk_0123456789abcdefghijklmnopqrstuvwxyz",
            )
        };
        let unlimited = CredentialConfig {
            max_len: usize::MAX,
            ..CredentialConfig::default()
        };
        assert_eq!(
            extract(&unlimited, &parts(request())),
            Ok(Some("sk_0123456789abcdefghijklmnopqrstuvwxyz".into()))
        );
        let query_only = CredentialConfig {
            max_len: usize::MAX,
            query: Some("api_key".into()),
            header: Some(HeaderName::from_static("x-api-key")),
            ..CredentialConfig::default()
        };
        let p = parts(
            Request::get("/?api_key=sk_query_0123456789abcdefghij").header("x-api-key", "sk_h"),
        );
        assert_eq!(
            extract(&query_only, &p),
            Err(CredentialError::SeveralSources)
        );
        let p = parts(Request::get("/?api_key=sk_query_0123456789abcdefghij"));
        assert_eq!(
            extract(&query_only, &p),
            Ok(Some("sk_query_0123456789abcdefghij".into()))
        );
        let nothing = CredentialConfig {
            max_len: 0,
            ..CredentialConfig::default()
        };
        assert_eq!(
            extract(&nothing, &parts(request())),
            Err(CredentialError::TooLong { max: 0 })
        );
    }

    #[test]
    fn opt_in_sources_only_when_enabled() {
        let p = parts(Request::get("/?api_key=sk_q").header("x-api-key", "sk_h"));
        assert_eq!(extract(&CredentialConfig::default(), &p), Ok(None));
        let p = parts(Request::get("/").header("x-api-key", "sk_h"));
        assert_eq!(extract(&with_sources(), &p), Ok(Some("sk_h".into())));
        let p = parts(Request::get("/ws?x=1&api_key=sk%5Fq&y=2"));
        assert_eq!(extract(&with_sources(), &p), Ok(Some("sk_q".into())));
        let p = parts(Request::get("/ws?api_key=a+b"));
        assert_eq!(extract(&with_sources(), &p), Ok(Some("a+b".into())));
    }

    #[test]
    fn more_than_one_place_is_rejected() {
        let config = with_sources();
        for builder in [
            Request::get("/?api_key=a").header("authorization", "Bearer a"),
            Request::get("/")
                .header("x-api-key", "a")
                .header("authorization", "Bearer a"),
            Request::get("/?api_key=a").header("x-api-key", "a"),
            Request::get("/?api_key=a&api_key=b"),
            Request::get("/")
                .header("x-api-key", "a")
                .header("x-api-key", "b"),
        ] {
            assert_eq!(
                extract(&config, &parts(builder)),
                Err(CredentialError::SeveralSources)
            );
        }
    }

    #[test]
    fn opt_in_sources_are_checked_like_bearer() {
        let config = with_sources();
        let p = parts(Request::get("/?api_key="));
        assert_eq!(extract(&config, &p), Err(CredentialError::MissingToken));
        let p = parts(Request::get("/?api_key=a%20b"));
        assert_eq!(extract(&config, &p), Err(CredentialError::NotToken68));
        let p = parts(Request::get("/?api_key=a%2"));
        assert_eq!(extract(&config, &p), Err(CredentialError::NotToken68));
        let p = parts(Request::get("/?api_key=%FF"));
        assert_eq!(extract(&config, &p), Err(CredentialError::NotAscii));
        let p = parts(Request::get("/").header("x-api-key", "a b"));
        assert_eq!(extract(&config, &p), Err(CredentialError::NotToken68));
    }
}

#[cfg(test)]
mod shape_tests {
    use super::is_jwt_shaped;

    #[test]
    fn a_jwt_is_told_from_an_api_key_by_its_shape() {
        assert!(is_jwt_shaped("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"));
        // alg none: an empty signature is still a JWT's shape (and refused later).
        assert!(is_jwt_shaped("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."));
        for key in [
            "sk_test_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8s9T0",
            "eyJ.only-two",
            "eyJhbGci.eyJz.c2ln.extra",
            "abc.eyJz.c2ln",
            "eyJhbGci..c2ln",
        ] {
            assert!(!is_jwt_shaped(key), "{key}");
        }
    }
}
