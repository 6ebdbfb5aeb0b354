//! The IETF `RateLimit-Policy` and `RateLimit` header fields
//! (draft-ietf-httpapi-ratelimit-headers, -09 and later): Structured Field
//! lists of one item each, named by the policy.
//!
//! ```text
//! RateLimit-Policy: "per-key";q=10;w=1
//! RateLimit: "per-key";r=0;t=1
//! ```

use std::fmt::Write as _;
use std::time::Duration;

use http::HeaderValue;
use http::header::HeaderName;

use crate::Quota;

/// `RateLimit-Policy`: the quota a response's partition is held to.
pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");

/// `RateLimit`: what is left of it now.
pub const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// A policy name as a Structured Field String: quoted, `"` and `\`
/// escaped, anything but printable ASCII dropped (SF Strings allow nothing
/// else).
pub(crate) fn sf_string(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for c in name.chars().filter(|c| matches!(c, ' '..='~')) {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// `"name";q=10;w=1`.
pub(crate) fn policy(quoted_name: &str, quota: &Quota) -> HeaderValue {
    let value = format!(
        "{quoted_name};q={};w={}",
        quota.count(),
        quota.window_secs()
    );
    HeaderValue::try_from(value).expect("an SF String and integers are a valid header value")
}

/// `"name";r=9;t=1`: `remaining` requests may still be made, and the
/// budget is whole again within `reset` (whole seconds, rounded up).
pub(crate) fn remaining(quoted_name: &str, remaining: u32, reset: Duration) -> HeaderValue {
    let mut value = String::with_capacity(quoted_name.len() + 24);
    value.push_str(quoted_name);
    let _ = write!(value, ";r={remaining};t={}", whole_seconds(reset));
    HeaderValue::try_from(value).expect("an SF String and integers are a valid header value")
}

/// Whole seconds, rounded up: a client told 0 would come back too early.
pub(crate) fn whole_seconds(duration: Duration) -> u64 {
    duration
        .as_secs()
        .saturating_add(u64::from(duration.subsec_nanos() > 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_names_its_quota_and_window() {
        let name = sf_string("per-key");
        assert_eq!(
            policy(&name, &Quota::per_second(10)),
            "\"per-key\";q=10;w=1"
        );
        assert_eq!(
            policy(&name, &Quota::per_hour(1000).with_burst(50)),
            "\"per-key\";q=1000;w=3600"
        );
    }

    #[test]
    fn the_remaining_budget_rounds_its_reset_up() {
        let name = sf_string("per-key");
        assert_eq!(
            remaining(&name, 0, Duration::from_millis(1)),
            "\"per-key\";r=0;t=1"
        );
        assert_eq!(
            remaining(&name, 9, Duration::from_millis(2_000)),
            "\"per-key\";r=9;t=2"
        );
        assert_eq!(remaining(&name, 3, Duration::ZERO), "\"per-key\";r=3;t=0");
    }

    #[test]
    fn a_policy_name_is_a_valid_sf_string_whatever_it_holds() {
        assert_eq!(sf_string("a\"b\\c\nd é"), "\"a\\\"b\\\\cd \"");
    }

    /// Reads an SF String back (RFC 8941 §4.2.5): `None` if it is not one.
    fn parse_sf_string(input: &str) -> Option<String> {
        let inner = input.strip_prefix('"')?.strip_suffix('"')?;
        let mut out = String::new();
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next()? {
                    escaped @ ('"' | '\\') => out.push(escaped),
                    _ => return None,
                },
                '"' => return None,
                ' '..='~' => out.push(c),
                _ => return None,
            }
        }
        Some(out)
    }

    proptest::proptest! {
        #[test]
        fn any_policy_name_makes_valid_header_values(name in ".*", count in 1u32.., window in 1u32..) {
            let quoted = sf_string(&name);
            // The printable ASCII of the name, read back exactly.
            let kept: String = name.chars().filter(|c| matches!(c, ' '..='~')).collect();
            proptest::prop_assert_eq!(parse_sf_string(&quoted), Some(kept));
            let policy = policy(&quoted, &Quota::new(count, window));
            let expected = format!("{quoted};q={count};w={window}");
            proptest::prop_assert_eq!(policy.to_str().unwrap(), expected.as_str());
            let left = remaining(&quoted, count - 1, Duration::from_millis(u64::from(window)));
            proptest::prop_assert!(left.to_str().is_ok());
        }
    }
}
