//! CSRF protection: a double-submit token.
//!
//! The invariants, each tested:
//! 1. Every state-changing request (form post or JSON call) carries the
//!    token, in the `csrf_token` form field or the `X-CSRF-Token` header,
//!    and it equals the `keygate_csrf` cookie, compared in constant time.
//!    Anything else answers 403 `csrf_token_invalid` before the body is
//!    read or the key service is called.
//! 2. The cookie is `HttpOnly; SameSite=Strict` (and `Secure` with the
//!    `__Host-` prefix unless turned off), so another site's page neither
//!    reads it nor makes the browser send it.
//! 3. A request the browser marks `Sec-Fetch-Site: cross-site` or
//!    `same-site` is refused even with a matching token.

use http::{HeaderMap, HeaderValue};
use keygate_types::constant_time_eq;

use crate::cookie::{CookiePolicy, is_token, random_token};
use crate::error::ConsoleError;

/// The cookie holding the token.
pub(crate) const COOKIE: &str = "keygate_csrf";
/// The header JSON calls send the token in.
pub const HEADER: &str = "x-csrf-token";
/// The form field forms send the token in.
pub const FIELD: &str = "csrf_token";

/// The token to put in a page's forms: the request's cookie when it has
/// the right shape, else a new one with the `Set-Cookie` that stores it.
pub(crate) fn page_token(
    policy: CookiePolicy,
    headers: &HeaderMap,
) -> (String, Option<HeaderValue>) {
    match policy.read(headers, COOKIE) {
        Some(token) if is_token(token) => (token.to_owned(), None),
        _ => {
            let token = random_token();
            let cookie = policy.set(COOKIE, Some(&token));
            (token, Some(cookie))
        }
    }
}

/// Checks a state-changing request's token against its cookie.
pub(crate) fn check(
    policy: CookiePolicy,
    headers: &HeaderMap,
    submitted: Option<&str>,
) -> Result<(), ConsoleError> {
    let cross_site = headers
        .get("sec-fetch-site")
        .is_some_and(|site| site == "cross-site" || site == "same-site");
    let matches = match (policy.read(headers, COOKIE), submitted) {
        (Some(cookie), Some(submitted)) => {
            is_token(cookie) && constant_time_eq(cookie.as_bytes(), submitted.as_bytes())
        }
        _ => false,
    };
    if matches && !cross_site {
        Ok(())
    } else {
        tracing::info!(
            cross_site,
            "console request refused: CSRF token missing or wrong"
        );
        Err(ConsoleError::csrf())
    }
}

/// The token a JSON call sent in its header.
pub(crate) fn from_header(headers: &HeaderMap) -> Option<&str> {
    headers.get(HEADER).and_then(|v| v.to_str().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::COOKIE as COOKIE_HEADER;

    const POLICY: CookiePolicy = CookiePolicy { secure: false };

    fn with_cookie(token: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE_HEADER,
            HeaderValue::from_str(&format!("keygate_csrf={token}")).unwrap(),
        );
        headers
    }

    #[test]
    fn a_page_reuses_a_good_cookie_and_replaces_a_bad_one() {
        let token = random_token();
        let (same, set) = page_token(POLICY, &with_cookie(&token));
        assert_eq!((same, set), (token, None));
        let (fresh, set) = page_token(POLICY, &with_cookie("short"));
        assert!(is_token(&fresh));
        assert!(set.is_some());
    }

    #[test]
    fn only_the_cookies_own_token_passes() {
        let token = random_token();
        let headers = with_cookie(&token);
        assert!(check(POLICY, &headers, Some(&token)).is_ok());
        assert!(check(POLICY, &headers, Some(&random_token())).is_err());
        assert!(check(POLICY, &headers, None).is_err());
        assert!(check(POLICY, &HeaderMap::new(), Some(&token)).is_err());
    }

    #[test]
    fn a_cross_site_request_is_refused_even_with_the_token() {
        let token = random_token();
        let mut headers = with_cookie(&token);
        headers.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(check(POLICY, &headers, Some(&token)).is_err());
        headers.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
        assert!(check(POLICY, &headers, Some(&token)).is_ok());
    }
}
