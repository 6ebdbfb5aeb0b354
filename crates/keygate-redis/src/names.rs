//! The names of keygate's keys and channel in Redis.
//!
//! Every name carries the prefix as a hash tag (`{keygate}:…`), so that all
//! of them live in one hash slot: the scripts touch several at once, which
//! Redis Cluster allows only within one slot.

use keygate_auth::KeyDigest;
use keygate_types::ApiKeyId;

/// The names under one prefix: the fixed ones built once, the per-key
/// ones on demand.
#[derive(Debug, Clone)]
pub(crate) struct Names {
    /// `{prefix}`, the hash tag.
    tag: String,
    epoch: String,
    generation: String,
    verdict_prefix: String,
    channel: String,
    lease: String,
    cursor: String,
}

impl Names {
    pub(crate) fn new(prefix: &str) -> Self {
        let tag = format!("{{{prefix}}}");
        Self {
            epoch: format!("{tag}:epoch"),
            generation: format!("{tag}:gen"),
            verdict_prefix: format!("{tag}:v:"),
            channel: format!("{tag}:invalidations"),
            lease: format!("{tag}:events:lease"),
            cursor: format!("{tag}:events:cursor"),
            tag,
        }
    }

    /// Moved by every invalidation (to a random token): an answer is written
    /// only if it has not moved since the call that produced it began.
    pub(crate) fn epoch(&self) -> &str {
        &self.epoch
    }

    /// Part of every verdict's name; moved by invalidations too broad to
    /// name keys one by one (a membership, everything).
    pub(crate) fn generation(&self) -> &str {
        &self.generation
    }

    /// What precedes `GEN:DIGEST` in a verdict's name.
    pub(crate) fn verdict_prefix(&self) -> &str {
        &self.verdict_prefix
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
    pub(crate) fn channel(&self) -> &str {
        &self.channel
    }

    /// The Events API lease: the id of the replica that holds it.
    pub(crate) fn lease(&self) -> &str {
        &self.lease
    }

    /// The fleet's Events cursor.
    pub(crate) fn cursor(&self) -> &str {
        &self.cursor
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
            &names.id(&id),
            &names.claim(&digest),
            names.channel(),
            names.lease(),
            names.cursor(),
        ] {
            assert!(name.starts_with("{billing}:"), "{name}");
            assert!(!name.contains("sk_test"), "{name}");
        }
    }
}
