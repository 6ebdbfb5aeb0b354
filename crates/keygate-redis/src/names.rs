//! The names of keygate's keys and channel in Redis.
//!
//! Two kinds of hash tag, so that each script touches one Cluster slot while
//! the verdicts spread over many:
//! - the log's, `{prefix}`: the invalidation log, its incarnation and trim
//!   floor, the wake-up channel, the revoked sessions, the Events lease and
//!   cursor;
//! - each shard's, `{prefix:NN}`: a share of the verdicts (by digest), with
//!   the shard's fence, generation, id index and claims.

use keygate_auth::tier::KeyDigest;
use keygate_types::ApiKeyId;

/// The names under one prefix, built once.
#[derive(Debug, Clone)]
pub(crate) struct Names {
    log: String,
    incarnation: String,
    floor: String,
    wake: String,
    sessions: String,
    lease: String,
    cursor: String,
    shards: Vec<Shard>,
}

/// The names of one shard of the verdicts.
#[derive(Debug, Clone)]
pub(crate) struct Shard {
    /// `{prefix:NN}`, the shard's hash tag.
    tag: String,
    fence: String,
    generation: String,
    verdict_prefix: String,
}

impl Names {
    /// The names under `prefix`, with `shards` shards (1 to 256).
    pub(crate) fn new(prefix: &str, shards: u16) -> Self {
        let tag = format!("{{{prefix}}}");
        let shards = (0..shards.clamp(1, 256))
            .map(|n| {
                let tag = format!("{{{prefix}:{n:02}}}");
                Shard {
                    fence: format!("{tag}:fence"),
                    generation: format!("{tag}:gen"),
                    verdict_prefix: format!("{tag}:v:"),
                    tag,
                }
            })
            .collect();
        Self {
            log: format!("{tag}:log"),
            incarnation: format!("{tag}:log:incarnation"),
            floor: format!("{tag}:log:floor"),
            wake: format!("{tag}:log:wake"),
            sessions: format!("{tag}:log:sessions"),
            lease: format!("{tag}:events:lease"),
            cursor: format!("{tag}:events:cursor"),
            shards,
        }
    }

    /// The invalidation log (a Stream).
    pub(crate) fn log(&self) -> &str {
        &self.log
    }

    /// A random token set when the log is first written: a Redis that lost
    /// its data has none, or another.
    pub(crate) fn incarnation(&self) -> &str {
        &self.incarnation
    }

    /// The id of the last entry trimmed from the log.
    pub(crate) fn floor(&self) -> &str {
        &self.floor
    }

    /// The pub/sub channel that wakes followers when an entry is appended.
    pub(crate) fn wake(&self) -> &str {
        &self.wake
    }

    /// The revoked sessions (a sorted set: `sid` scored by the end of its
    /// denial, in seconds), written with their log entries and never trimmed
    /// with them: what a follower that lost its place reads instead.
    pub(crate) fn sessions(&self) -> &str {
        &self.sessions
    }

    /// The Events API lease: the id of the replica that holds it.
    pub(crate) fn lease(&self) -> &str {
        &self.lease
    }

    /// The fleet's Events cursor.
    pub(crate) fn cursor(&self) -> &str {
        &self.cursor
    }

    /// The shard that holds the verdict of `digest`.
    pub(crate) fn shard(&self, digest: &KeyDigest) -> &Shard {
        let bytes = digest.as_bytes();
        let at = usize::from(u16::from_be_bytes([bytes[0], bytes[1]])) % self.shards.len();
        &self.shards[at]
    }

    /// Every shard.
    pub(crate) fn shards(&self) -> &[Shard] {
        &self.shards
    }
}

impl Shard {
    /// Moved (to a random token) by every invalidation that touches the
    /// shard: a verdict is written only if it has not moved since the read
    /// that preceded its call. Absent, it refuses every write.
    pub(crate) fn fence(&self) -> &str {
        &self.fence
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

    /// The id index: the key id's `GEN:DIGEST` in this shard, so that a
    /// revocation by id finds the verdict.
    pub(crate) fn id(&self, id: &ApiKeyId) -> String {
        format!("{}:id:{}", self.tag, id.as_str())
    }

    /// The claim of the replica that calls the key service for a key.
    pub(crate) fn claim(&self, digest: &KeyDigest) -> String {
        format!("{}:claim:{}", self.tag, digest.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_shares_the_prefix_tag_and_each_shard_has_its_own() {
        let names = Names::new("billing", 16);
        for name in [
            names.log(),
            names.incarnation(),
            names.floor(),
            names.wake(),
            names.lease(),
            names.cursor(),
        ] {
            assert!(name.starts_with("{billing}:"), "{name}");
        }
        let digest = KeyDigest::of("sk_test");
        let id = ApiKeyId::new_unchecked("api_key_01");
        let shard = names.shard(&digest);
        let tag = &shard.tag;
        for name in [
            shard.fence(),
            shard.generation(),
            shard.verdict_prefix(),
            &shard.id(&id),
            &shard.claim(&digest),
        ] {
            assert!(name.starts_with(tag.as_str()), "{name}");
            assert!(!name.contains("sk_test"), "{name}");
        }
        let tags: std::collections::HashSet<_> = names.shards().iter().map(|s| &s.tag).collect();
        assert_eq!(tags.len(), 16);
    }

    #[test]
    fn digests_spread_over_every_shard() {
        let names = Names::new("p", 16);
        let mut used = std::collections::HashSet::new();
        for n in 0..1000 {
            used.insert(names.shard(&KeyDigest::of(&format!("sk_{n}"))).tag.clone());
        }
        assert_eq!(used.len(), 16);
    }
}
