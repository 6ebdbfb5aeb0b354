//! The environment secrets the emulator accepts, checked in constant time.

use keygate_types::SecretString;
use rand::Rng;
use rand::distr::Alphanumeric;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The accepted environment secrets. Only their digests are compared, so the
/// time a check takes depends on neither the presented value nor the secrets.
#[derive(Debug, Clone)]
pub(crate) struct EnvironmentSecrets {
    first: SecretString,
    digests: Vec<[u8; 32]>,
}

impl EnvironmentSecrets {
    /// Accepts `secrets`; a generated `sk_test_…` one when the list is empty.
    pub(crate) fn new(secrets: Vec<SecretString>) -> Self {
        let secrets = if secrets.is_empty() {
            vec![generate()]
        } else {
            secrets
        };
        let digests = secrets
            .iter()
            .map(|s| Sha256::digest(s.expose_secret().as_bytes()).into())
            .collect();
        Self {
            first: secrets[0].clone(),
            digests,
        }
    }

    /// The first accepted secret.
    pub(crate) fn first(&self) -> &SecretString {
        &self.first
    }

    /// Whether `presented` is one of the secrets. Every secret is compared,
    /// whichever matches.
    #[cfg(test)]
    pub(crate) fn accepts(&self, presented: &[u8]) -> bool {
        self.matching(presented).is_some()
    }

    /// Which secret `presented` is, by position. Every secret is compared,
    /// whichever matches, and the position is picked without branching.
    pub(crate) fn matching(&self, presented: &[u8]) -> Option<usize> {
        use subtle::ConditionallySelectable;
        let digest: [u8; 32] = Sha256::digest(presented).into();
        let mut found = subtle::Choice::from(0);
        let mut position = 0u64;
        for (i, d) in self.digests.iter().enumerate() {
            let equal = d.ct_eq(&digest);
            position = u64::conditional_select(&position, &(i as u64), equal);
            found |= equal;
        }
        bool::from(found).then(|| usize::try_from(position).unwrap_or(usize::MAX))
    }

    /// How many secrets are accepted.
    pub(crate) fn len(&self) -> usize {
        self.digests.len()
    }
}

/// A fresh `sk_test_` secret with 32 base62 characters.
fn generate() -> SecretString {
    let mut s = String::from("sk_test_");
    s.extend(
        rand::rng()
            .sample_iter(Alphanumeric)
            .take(32)
            .map(char::from),
    );
    SecretString::new(s)
}

/// The token of an `Authorization: Bearer <token>` header value.
pub(crate) fn bearer_token(header: &[u8]) -> Option<&[u8]> {
    let (scheme, token) = header.split_at_checked(7)?;
    (scheme.eq_ignore_ascii_case(b"bearer ") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_any_configured_secret_and_nothing_else() {
        let s = EnvironmentSecrets::new(vec!["sk_test_a".into(), "sk_test_b".into()]);
        assert!(s.accepts(b"sk_test_a"));
        assert!(s.accepts(b"sk_test_b"));
        assert!(!s.accepts(b"sk_test_c"));
        assert!(!s.accepts(b""));
        assert_eq!(s.matching(b"sk_test_b"), Some(1));
        assert_eq!(s.matching(b"sk_test_a"), Some(0));
        assert_eq!(s.first().expose_secret(), "sk_test_a");
    }

    #[test]
    fn generates_a_test_secret_when_none_given() {
        let s = EnvironmentSecrets::new(Vec::new());
        let first = s.first().expose_secret().to_owned();
        assert!(first.starts_with("sk_test_") && first.len() == 40);
        assert!(s.accepts(first.as_bytes()));
    }

    #[test]
    fn parses_bearer() {
        assert_eq!(bearer_token(b"Bearer abc"), Some(&b"abc"[..]));
        assert_eq!(bearer_token(b"bearer abc"), Some(&b"abc"[..]));
        assert_eq!(bearer_token(b"Bearer "), None);
        assert_eq!(bearer_token(b"Basic abc"), None);
        assert_eq!(bearer_token(b"Bear"), None);
    }

    proptest::proptest! {
        /// A header value is a token only after a case-insensitive `Bearer `,
        /// and the token is the rest, unchanged.
        #[test]
        fn bearer_parsing(header in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64)) {
            if let Some(token) = bearer_token(&header) {
                proptest::prop_assert!(header[..7].eq_ignore_ascii_case(b"bearer "));
                proptest::prop_assert_eq!(token, &header[7..]);
                proptest::prop_assert!(!token.is_empty());
            }
        }
    }
}
