//! Object identifiers: a type prefix and a ULID.

use std::borrow::Borrow;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a string is not a well-formed identifier of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a valid {kind} id (expected `{prefix}` followed by a 26-character ULID)")]
pub struct IdError {
    kind: &'static str,
    prefix: &'static str,
    value: String,
}

/// Whether `body` is a ULID in its canonical text form: 26 characters of
/// Crockford base32, upper case, the first at most `7` (128 bits).
fn is_ulid(body: &str) -> bool {
    const CROCKFORD: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    body.len() == 26 && body.as_bytes()[0] <= b'7' && body.bytes().all(|b| CROCKFORD.contains(&b))
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $kind:literal) => {
        $(#[$doc])*
        ///
        /// On the wire it is a plain string. Deserializing accepts any string, so
        /// that a client keeps working if the service changes its id format;
        /// [`parse`](Self::parse) checks the documented form.
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The prefix every id of this kind starts with.
            pub const PREFIX: &'static str = $prefix;

            /// Checks that `value` is the prefix followed by a ULID.
            pub fn parse(value: impl Into<String>) -> Result<Self, IdError> {
                let value = value.into();
                match value.strip_prefix($prefix) {
                    Some(body) if is_ulid(body) => Ok(Self(value)),
                    _ => Err(IdError { kind: $kind, prefix: $prefix, value }),
                }
            }

            /// Wraps `value` without checking its form, for ids that come from
            /// the service itself.
            pub fn new_unchecked(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            /// The id as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The id as an owned string.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

id_type!(
    /// The id of an API key: `api_key_` + ULID.
    ApiKeyId, "api_key_", "API key"
);
id_type!(
    /// The id of an organization: `org_` + ULID.
    OrganizationId, "org_", "organization"
);
id_type!(
    /// The id of a user: `user_` + ULID.
    UserId, "user_", "user"
);
id_type!(
    /// The id of an organization membership: `om_` + ULID.
    MembershipId, "om_", "organization membership"
);
id_type!(
    /// The id of an event: `event_` + ULID.
    EventId, "event_", "event"
);
id_type!(
    /// The id of a webhook endpoint: `we_` + ULID.
    WebhookEndpointId, "we_", "webhook endpoint"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prefix_and_ulid() {
        let id = ApiKeyId::parse("api_key_01HZY3K2J5QW8N7X6V4T3R2P1M").unwrap();
        assert_eq!(id.as_str(), "api_key_01HZY3K2J5QW8N7X6V4T3R2P1M");
        assert_eq!(id, "api_key_01HZY3K2J5QW8N7X6V4T3R2P1M");
    }

    #[test]
    fn rejects_wrong_prefix_length_and_alphabet() {
        for bad in [
            "org_01HZY3K2J5QW8N7X6V4T3R2P1M",
            "api_key_01HZY3K2J5QW8N7X6V4T3R2P1",
            "api_key_01HZY3K2J5QW8N7X6V4T3R2P1MM",
            "api_key_01hzy3k2j5qw8n7x6v4t3r2p1m",
            "api_key_01HZY3K2J5QW8N7X6V4T3R2PIL",
            "api_key_81HZY3K2J5QW8N7X6V4T3R2P1M",
            "api_key_../../etc/passwd",
            "",
        ] {
            let err = ApiKeyId::parse(bad).unwrap_err();
            assert!(err.to_string().contains("API key id"), "{bad}");
        }
    }

    #[test]
    fn deserializes_leniently() {
        let id: OrganizationId = serde_json::from_str("\"org_legacy\"").unwrap();
        assert_eq!(id.as_str(), "org_legacy");
    }
}
