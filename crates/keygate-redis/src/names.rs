//! The names of keygate's keys and channel in Redis.
//!
//! Every name carries the prefix as a hash tag (`{keygate}:…`), so that all
//! of them live in one hash slot: the scripts touch several at once, which
//! Redis Cluster allows only within one slot.

use keygate_auth::KeyDigest;
use keygate_types::ApiKeyId;

/// The names under one prefix.
#[derive(Debug, Clone)]
pub(crate) struct Names {
    /// `{prefix}`, the hash tag.
    tag: String,
}

impl Names {
    pub(crate) fn new(prefix: &str) -> Self {
        Self {
            tag: format!("{{{prefix}}}"),
        }
    }

    /// Moved by every invalidation (to a random token): an answer is written
    /// only if it has not moved since the call that produced it began.
    pub(crate) fn epoch(&self) -> String {
        format!("{}:epoch", self.tag)
    }

    /// Part of every verdict's name; moved by invalidations too broad to
    /// name keys one by one (a membership, everything).
    pub(crate) fn generation(&self) -> String {
        format!("{}:gen", self.tag)
    }

    /// What precedes `GEN:DIGEST` in a verdict's name.
    pub(crate) fn verdict_prefix(&self) -> String {
        format!("{}:v:", self.tag)
    }

    /// The id index: the key id's `GEN:DIGEST`, so a revocation by id finds
    /// the verdict on any replica.
    pub(crate) fn id(&self, id: &ApiKeyId) -> String {
        format!("{}:id:{}", self.tag, id.as_str())
    }

    /// The claim of the replica that calls the key service for a key.
    pub(crate) fn claim(&self, digest: &KeyDigest) -> String {
        format!("{}:claim:{}", self.tag, digest.to_hex())
    }

    /// The pub/sub channel of invalidations.
    pub(crate) fn channel(&self) -> String {
        format!("{}:invalidations", self.tag)
    }

    /// The Events API lease: the id of the replica that holds it.
    pub(crate) fn lease(&self) -> String {
        format!("{}:events:lease", self.tag)
    }

    /// The fleet's Events cursor.
    pub(crate) fn cursor(&self) -> String {
        format!("{}:events:cursor", self.tag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_shares_the_prefix_hash_tag() {
        let names = Names::new("billing");
        let digest = KeyDigest::of("sk_test");
        let id = ApiKeyId::new_unchecked("api_key_01");
        for name in [
            names.epoch(),
            names.generation(),
            names.verdict_prefix(),
            names.id(&id),
            names.claim(&digest),
            names.lease(),
            names.cursor(),
        ] {
            assert!(name.starts_with("{billing}:"), "{name}");
            assert!(!name.contains("sk_test"), "{name}");
        }
    }
}
