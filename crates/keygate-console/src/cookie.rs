//! The console's cookies: read from `Cookie`, written `HttpOnly;
//! SameSite=Strict; Path=/`, and `Secure` with the `__Host-` prefix unless
//! turned off for plain-HTTP local development.

use http::HeaderMap;
use http::HeaderValue;
use http::header::COOKIE;
use rand::RngCore;

/// How the console names and writes its cookies.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CookiePolicy {
    /// `Secure` and the `__Host-` prefix: the browser sends the cookie only
    /// over HTTPS, and no subdomain can set one of the same name.
    pub(crate) secure: bool,
}

impl CookiePolicy {
    /// The cookie's full name.
    pub(crate) fn name(&self, base: &str) -> String {
        if self.secure {
            format!("__Host-{base}")
        } else {
            base.to_owned()
        }
    }

    /// The request's value of the cookie `base`, if sent once.
    pub(crate) fn read<'h>(&self, headers: &'h HeaderMap, base: &str) -> Option<&'h str> {
        read(headers, &self.name(base))
    }

    /// A `Set-Cookie` value; `None` deletes the cookie.
    pub(crate) fn set(&self, base: &str, value: Option<&str>) -> HeaderValue {
        let name = self.name(base);
        let secure = if self.secure { "; Secure" } else { "" };
        let line = match value {
            Some(value) => format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict{secure}"),
            None => format!("{name}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
        };
        // Names are ours and values are hex or ids: always a valid header value.
        HeaderValue::try_from(line).unwrap_or_else(|_| HeaderValue::from_static(""))
    }
}

/// The value of the cookie `name`, when exactly one is sent: two cookies of
/// one name (one possibly tossed in by a sibling domain) are refused.
pub(crate) fn read<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    let mut found = None;
    for header in headers.get_all(COOKIE) {
        let Ok(header) = header.to_str() else {
            continue;
        };
        for pair in header.split(';') {
            if let Some((key, value)) = pair.trim().split_once('=')
                && key == name
            {
                if found.is_some() {
                    return None;
                }
                found = Some(value);
            }
        }
    }
    found
}

/// 32 random bytes from the thread's CSPRNG, as 64 hex digits.
pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let mut hex = String::with_capacity(64);
    for byte in bytes {
        hex.push_str(&format!("{byte:02x}"));
    }
    hex
}

/// Whether `value` has the shape [`random_token`] makes.
pub(crate) fn is_token(value: &str) -> bool {
    value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(cookies: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for cookie in cookies {
            map.append(COOKIE, HeaderValue::from_str(cookie).unwrap());
        }
        map
    }

    #[test]
    fn a_cookie_is_read_from_any_cookie_header() {
        let map = headers(&["a=1; keygate_csrf=abc", "b=2"]);
        assert_eq!(read(&map, "keygate_csrf"), Some("abc"));
        assert_eq!(read(&map, "b"), Some("2"));
        assert_eq!(read(&map, "c"), None);
    }

    #[test]
    fn a_cookie_sent_twice_is_not_read() {
        let map = headers(&["keygate_csrf=abc", "keygate_csrf=def"]);
        assert_eq!(read(&map, "keygate_csrf"), None);
    }

    #[test]
    fn secure_cookies_carry_the_host_prefix_and_secure() {
        let policy = CookiePolicy { secure: true };
        let line = policy.set("keygate_csrf", Some("x"));
        assert_eq!(
            line,
            "__Host-keygate_csrf=x; Path=/; HttpOnly; SameSite=Strict; Secure"
        );
        let plain = CookiePolicy { secure: false }.set("keygate_csrf", None);
        assert_eq!(
            plain,
            "keygate_csrf=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"
        );
    }

    #[test]
    fn tokens_are_64_hex_digits_and_differ() {
        let (a, b) = (random_token(), random_token());
        assert!(is_token(&a) && is_token(&b));
        assert_ne!(a, b);
        assert!(!is_token("zz"));
    }
}
