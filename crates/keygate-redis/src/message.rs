//! The invalidation messages replicas publish to each other: one line of
//! text, `ORIGIN KIND [ARGUMENTS]`, naming keys by digest or id, never by
//! value.

use keygate_auth::{Invalidation, KeyDigest};
use keygate_types::{ApiKeyId, OrganizationId, UserId};

/// A message as received: who sent it, and what to forget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Message {
    /// The sending replica's id (a replica skips its own messages).
    pub(crate) origin: String,
    pub(crate) invalidation: Invalidation,
}

/// The wire form of `invalidation`, sent by `origin`.
pub(crate) fn encode(origin: &str, invalidation: &Invalidation) -> String {
    match invalidation {
        Invalidation::Key(digest) => format!("{origin} key {}", digest.to_hex()),
        Invalidation::Id(id) => format!("{origin} id {id}"),
        Invalidation::Membership { user, organization } => {
            format!("{origin} membership {organization} {user}")
        }
        // `Invalidation` is non-exhaustive: anything newer is at least
        // "everything".
        _ => format!("{origin} all"),
    }
}

/// Reads a message; `None` when it is not one of ours. The caller treats
/// an unreadable message on the channel as "forget everything": it cannot
/// know which key it meant.
pub(crate) fn decode(line: &str) -> Option<Message> {
    let mut words = line.split(' ');
    let origin = words.next().filter(|origin| !origin.is_empty())?;
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
        _ => return None,
    };
    if words.next().is_some() {
        return None;
    }
    Some(Message {
        origin: origin.to_owned(),
        invalidation,
    })
}

/// `id` if it has its kind's prefix and more. Ids are passed on as the key
/// service wrote them (the listener and the receiver do not check their
/// form), so only the prefix is checked: a stricter check would turn every
/// revocation of an id in another form into "forget everything".
fn prefixed<'a>(id: &'a str, prefix: &str) -> Option<&'a str> {
    (id.len() > prefix.len() && id.starts_with(prefix)).then_some(id)
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
        ]
    }

    #[test]
    fn every_invalidation_reads_back() {
        for invalidation in every_kind() {
            let line = encode("r1", &invalidation);
            assert_eq!(
                decode(&line),
                Some(Message {
                    origin: "r1".into(),
                    invalidation
                }),
                "{line}"
            );
        }
    }

    #[test]
    fn a_key_travels_as_its_digest_only() {
        let line = encode("r1", &Invalidation::Key(KeyDigest::of("sk_test_secret")));
        assert!(!line.contains("sk_test_secret"));
    }

    #[test]
    fn malformed_messages_are_refused() {
        for line in [
            "",
            "r1",
            "r1 key",
            "r1 key abc",
            "r1 id not-an-id",
            "r1 id api_key_",
            "r1 membership user_01 org_01",
            "r1 all extra",
            "r1 membership org_x",
            " all",
            "r1 unknown x",
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
        fn what_decodes_encodes_back_to_the_same_line(
            origin in "[a-z0-9]{1,16}",
            kind in 0usize..4,
        ) {
            let invalidation = every_kind().swap_remove(kind);
            let line = encode(&origin, &invalidation);
            let message = decode(&line).unwrap();
            prop_assert_eq!(encode(&message.origin, &message.invalidation), line);
        }
    }
}
