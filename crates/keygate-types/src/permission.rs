//! Permission slugs such as `posts:read`.

use std::borrow::Borrow;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

/// The longest permission slug the key service accepts.
pub const MAX_PERMISSION_LEN: usize = 48;

/// A permission slug: 1 to 48 characters from lowercase ASCII letters,
/// digits and `:` `-` `_` `.`.
///
/// Matching is exact: `posts:write` does not imply `posts:read`, and there
/// are no wildcards. Deserializing validates, so a `Permission` read from
/// anywhere is well formed; keys' own permission lists are kept as plain
/// strings (see [`ApiKey::permissions`](crate::ApiKey::permissions)) because
/// an unknown string there grants nothing and must not make the key unreadable.
///
/// ```
/// use keygate_types::Permission;
///
/// let p = Permission::parse("posts:write")?;
/// assert_eq!(p.as_str(), "posts:write");
/// assert!(Permission::parse("Posts/Write").is_err());
/// # Ok::<(), keygate_types::PermissionError>(())
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Permission(String);

/// Why a string is not a valid permission slug.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PermissionError {
    /// The slug is empty.
    #[error("permission slug is empty")]
    Empty,
    /// The slug is longer than [`MAX_PERMISSION_LEN`].
    #[error("permission slug is {len} characters long; at most {MAX_PERMISSION_LEN} are allowed")]
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// The slug holds a character outside the allowed set.
    #[error(
        "permission slug holds {found:?} at byte {at}; only lowercase letters, digits and `:` `-` `_` `.` are allowed"
    )]
    InvalidCharacter {
        /// The offending character.
        found: char,
        /// Its byte offset.
        at: usize,
    },
}

/// Whether `byte` may appear in a permission slug: the one rule of the grammar.
const fn is_slug_byte(byte: u8) -> bool {
    matches!(byte, b'a'..=b'z' | b'0'..=b'9' | b':' | b'-' | b'_' | b'.')
}

/// Whether `slug` is a valid permission, usable in `const` context (guards
/// declared as types check their slug at compile time with it).
///
/// ```
/// assert!(keygate_types::is_valid_permission("posts:write"));
/// assert!(!keygate_types::is_valid_permission("Posts/Write"));
/// ```
pub const fn is_valid_permission(slug: &str) -> bool {
    let bytes = slug.as_bytes();
    if bytes.is_empty() || bytes.len() > MAX_PERMISSION_LEN {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if !is_slug_byte(bytes[i]) {
            return false;
        }
        i += 1;
    }
    true
}

/// Checks a permission slug without allocating, saying what is wrong.
pub fn validate_permission(slug: &str) -> Result<(), PermissionError> {
    if slug.is_empty() {
        return Err(PermissionError::Empty);
    }
    if let Some((at, found)) = slug
        .char_indices()
        .find(|&(_, c)| !c.is_ascii() || !is_slug_byte(c as u8))
    {
        return Err(PermissionError::InvalidCharacter { found, at });
    }
    if slug.len() > MAX_PERMISSION_LEN {
        return Err(PermissionError::TooLong { len: slug.len() });
    }
    Ok(())
}

impl Permission {
    /// Validates `slug` and wraps it.
    pub fn parse(slug: impl Into<String>) -> Result<Self, PermissionError> {
        let slug = slug.into();
        validate_permission(&slug)?;
        Ok(Self(slug))
    }

    /// The slug as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl std::str::FromStr for Permission {
    type Err = PermissionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for Permission {
    type Error = PermissionError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(value)
    }
}

impl TryFrom<&str> for Permission {
    type Error = PermissionError;

    fn try_from(value: &str) -> Result<Self, Self::Error> {
        Self::parse(value)
    }
}

impl AsRef<str> for Permission {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Permission {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Permission {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Self::parse(s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_documented_alphabet() {
        for ok in ["posts:read", "a", "x.y-z_w:0", &"a".repeat(48)] {
            assert!(Permission::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_with_reason() {
        assert_eq!(Permission::parse(""), Err(PermissionError::Empty));
        assert_eq!(
            Permission::parse("a".repeat(49)),
            Err(PermissionError::TooLong { len: 49 })
        );
        assert_eq!(
            Permission::parse("posts/read"),
            Err(PermissionError::InvalidCharacter { found: '/', at: 5 })
        );
        assert!(Permission::parse("Posts").is_err());
        assert!(Permission::parse("pösts").is_err());
        assert!(Permission::parse("posts read").is_err());
    }

    #[test]
    fn deserializing_validates() {
        assert!(serde_json::from_str::<Permission>("\"posts:read\"").is_ok());
        assert!(serde_json::from_str::<Permission>("\"POSTS\"").is_err());
    }

    fn reference(s: &str) -> bool {
        (1..=48).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b":-_.".contains(&b))
    }

    proptest! {
        #[test]
        fn agrees_with_reference_on_any_string(s in "\\PC{0,60}") {
            prop_assert_eq!(validate_permission(&s).is_ok(), reference(&s));
            prop_assert_eq!(is_valid_permission(&s), reference(&s));
        }

        #[test]
        fn agrees_with_reference_near_the_alphabet(s in "[a-z0-9:._A-Z/ -]{0,60}") {
            prop_assert_eq!(validate_permission(&s).is_ok(), reference(&s));
            prop_assert_eq!(is_valid_permission(&s), reference(&s));
        }
    }
}
