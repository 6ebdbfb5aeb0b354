//! The entries of the invalidation log: one line of text, `KIND
//! [ARGUMENTS]`, naming keys by digest or id, never by value; and the
//! position of an entry in the log (a Redis Stream id).

use std::fmt;

use keygate_auth::tier::{Invalidation, KeyDigest};
use keygate_types::{ApiKeyId, OrganizationId, Timestamp, UserId};

/// The wire form of `invalidation`.
pub(crate) fn encode(invalidation: &Invalidation) -> String {
    match invalidation {
        Invalidation::Key(digest) => format!("key {}", digest.to_hex()),
        Invalidation::Id(id) => format!("id {id}"),
        Invalidation::Membership { user, organization } => {
            format!("membership {organization} {user}")
        }
        Invalidation::Session { sid, until } => format!("session {sid} {}", seconds(*until)),
        // `Invalidation` is non-exhaustive: anything newer is at least
        // "everything".
        _ => "all".to_owned(),
    }
}

/// The end of a session's denial as logged: seconds since the epoch, whole
/// seconds rounded up (a denial never ends early).
pub(crate) fn seconds(until: Timestamp) -> i64 {
    let at = until.as_offset_date_time();
    at.unix_timestamp() + i64::from(at.nanosecond() > 0)
}

/// Reads an entry; `None` when it is not one of ours. The follower applies
/// an unreadable entry as "forget everything": it cannot know which key it
/// meant.
pub(crate) fn decode(line: &str) -> Option<Invalidation> {
    let mut words = line.split(' ');
    let invalidation = match (words.next()?, words.next(), words.next()) {
        ("key", Some(hex), None) => Invalidation::Key(KeyDigest::from_hex(hex)?),
        ("id", Some(id), None) => {
            Invalidation::Id(ApiKeyId::new_unchecked(prefixed(id, ApiKeyId::PREFIX)?))
        }
        ("membership", Some(organization), Some(user)) => Invalidation::Membership {
            organization: OrganizationId::new_unchecked(prefixed(
                organization,
                OrganizationId::PREFIX,
            )?),
            user: UserId::new_unchecked(prefixed(user, UserId::PREFIX)?),
        },
        ("all", None, None) => Invalidation::All,
        ("session", Some(sid), Some(until)) if !sid.is_empty() => Invalidation::Session {
            sid: sid.to_owned(),
            until: Timestamp::from_unix_timestamp(until.parse().ok()?)?,
        },
        _ => return None,
    };
    if words.next().is_some() {
        return None;
    }
    Some(invalidation)
}

/// `id` if it has its kind's prefix and more. Ids are logged as the key
/// service wrote them (the listener and the receiver do not check their
/// form), so only the prefix is checked: a stricter check would turn every
/// revocation of an id in another form into "forget everything".
fn prefixed<'a>(id: &'a str, prefix: &str) -> Option<&'a str> {
    (id.len() > prefix.len() && id.starts_with(prefix)).then_some(id)
}

/// A position in the log: a Redis Stream id, `MILLISECONDS-SEQUENCE`,
/// ordered as Redis orders them. `0-0` is before every entry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Position(u64, u64);

impl Position {
    /// Reads `MS-SEQ`; `None` for anything else.
    pub(crate) fn parse(id: &str) -> Option<Self> {
        let (ms, seq) = id.split_once('-')?;
        Some(Self(ms.parse().ok()?, seq.parse().ok()?))
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.0, self.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ULID: &str = "01HZY2K8M6W9Q3T5V7X9Z1B3D5";

    fn every_kind() -> Vec<Invalidation> {
        vec![
            Invalidation::Key(KeyDigest::of("sk_test_one")),
            Invalidation::Id(ApiKeyId::parse(format!("api_key_{ULID}")).unwrap()),
            Invalidation::Membership {
                user: UserId::parse(format!("user_{ULID}")).unwrap(),
                organization: OrganizationId::parse(format!("org_{ULID}")).unwrap(),
            },
            Invalidation::All,
            Invalidation::Session {
                sid: format!("session_{ULID}"),
                until: Timestamp::from_unix_timestamp(1_796_643_758).unwrap(),
            },
        ]
    }

    #[test]
    fn every_invalidation_reads_back() {
        for invalidation in every_kind() {
            let line = encode(&invalidation);
            assert_eq!(decode(&line), Some(invalidation), "{line}");
        }
    }

    #[test]
    fn positions_order_as_redis_orders_stream_ids() {
        let parse = |id| Position::parse(id).unwrap();
        assert!(parse("0-0") < parse("1-0"));
        assert!(parse("9-5") < parse("10-0"));
        assert!(parse("10-2") < parse("10-10"));
        assert_eq!(parse("1796643758592-7").to_string(), "1796643758592-7");
        for bad in ["", "1", "-1", "1-", "a-1", "1-2-3"] {
            assert_eq!(Position::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_key_travels_as_its_digest_only() {
        let line = encode(&Invalidation::Key(KeyDigest::of("sk_test_secret")));
        assert!(!line.contains("sk_test_secret"));
    }

    #[test]
    fn malformed_messages_are_refused() {
        for line in [
            "",
            "key",
            "key abc",
            "id not-an-id",
            "id api_key_",
            "membership user_01 org_01",
            "session",
            "session session_01",
            "session session_01 soon",
            "session session_01 1 2",
            "all extra",
            "membership org_x",
            " all",
            "unknown x",
        ] {
            assert_eq!(decode(line), None, "{line:?}");
        }
    }

    proptest! {
        #[test]
        fn decoding_never_panics(line in ".{0,200}") {
            let _ = decode(&line);
        }

        #[test]
        fn what_decodes_encodes_back_to_the_same_line(kind in 0usize..4) {
            let invalidation = every_kind().swap_remove(kind);
            let line = encode(&invalidation);
            prop_assert_eq!(encode(&decode(&line).unwrap()), line);
        }

        #[test]
        fn position_parsing_never_panics(id in ".{0,40}") {
            let _ = Position::parse(&id);
        }
    }
}
