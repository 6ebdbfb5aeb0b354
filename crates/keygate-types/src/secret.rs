//! A string that never shows itself in logs.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroizing;

/// A secret string: an API key value or an environment secret.
///
/// `Debug` and `Display` print `[REDACTED]`; the only way to read the value is
/// [`SecretString::expose_secret`], which makes every use easy to find in
/// review. The memory is zeroed on drop. It serializes as the plain string, so
/// a type holding it can still go on the wire where the wire needs it.
///
/// ```
/// use keygate_types::SecretString;
///
/// let value = SecretString::from("sk_live_0123456789");
/// assert_eq!(format!("{value}"), "[REDACTED]");
/// assert_eq!(format!("{value:?}"), "SecretString([REDACTED])");
/// assert_eq!(value.expose_secret(), "sk_live_0123456789");
/// ```
#[derive(Clone, Default)]
pub struct SecretString(Zeroizing<String>);

impl SecretString {
    /// Wraps a string as a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(Zeroizing::new(value.into()))
    }

    /// The secret itself. Every call is a place where the secret leaves its
    /// wrapper: keep them few and never log the result.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// Whether the secret is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The length of the secret in bytes (safe to log: it says nothing of the value).
    pub fn len(&self) -> usize {
        self.0.len()
    }
}

impl From<String> for SecretString {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

impl From<&str> for SecretString {
    fn from(value: &str) -> Self {
        Self::new(value)
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString([REDACTED])")
    }
}

impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

/// Constant-time comparison, so that comparing a presented secret with a
/// stored one leaks nothing through timing but the lengths.
impl PartialEq for SecretString {
    fn eq(&self, other: &Self) -> bool {
        constant_time_eq(self.0.as_bytes(), other.0.as_bytes())
    }
}

impl Eq for SecretString {}

/// Compares two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // `black_box` keeps the optimiser from turning the fold into an early exit.
    std::hint::black_box(diff) == 0
}

impl Serialize for SecretString {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SecretString {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_in_debug_and_display() {
        let s = SecretString::from("sk_test_abc");
        assert!(!format!("{s:?}").contains("sk_test_abc"));
        assert!(!format!("{s}").contains("sk_test_abc"));
        assert!(!format!("{s:#?}").contains("sk_test_abc"));
    }

    #[test]
    fn compares_by_value() {
        assert_eq!(SecretString::from("a"), SecretString::from("a"));
        assert_ne!(SecretString::from("a"), SecretString::from("b"));
        assert_ne!(SecretString::from("a"), SecretString::from("ab"));
    }

    #[test]
    fn serializes_as_plain_string() {
        let s = SecretString::from("v");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"v\"");
        let back: SecretString = serde_json::from_str("\"v\"").unwrap();
        assert_eq!(back.expose_secret(), "v");
    }
}
