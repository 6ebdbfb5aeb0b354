//! A verdict as stored in Redis: `0` for "invalid", `1` then the key's JSON
//! (as the key service's validation returned it) for "valid". Never the
//! key's value: it is not in the JSON, and the name is the digest.

use keygate_types::ApiKey;

/// The stored form of a definite verdict.
pub(crate) fn encode(key: Option<&ApiKey>) -> Vec<u8> {
    match key {
        None => b"0".to_vec(),
        Some(key) => {
            let mut value = b"1".to_vec();
            // An `ApiKey` always serializes (strings, numbers, timestamps).
            serde_json::to_writer(&mut value, key).expect("an ApiKey serializes to JSON");
            value
        }
    }
}

/// Reads a stored verdict back; `None` when unreadable (written by an
/// incompatible version, or not by keygate).
pub(crate) fn decode(value: &[u8]) -> Option<Option<ApiKey>> {
    match value.split_first()? {
        (b'0', []) => Some(None),
        (b'1', json) => serde_json::from_slice(json).ok().map(Some),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> ApiKey {
        serde_json::from_value(serde_json::json!({
            "object": "api_key",
            "id": "api_key_01HZY2K8M6W9Q3T5V7X9Z1B3D5",
            "owner": {"type": "organization", "id": "org_01HZY2K8M6W9Q3T5V7X9Z1B3D5"},
            "name": "ci",
            "obfuscated_value": "sk_…d5",
            "last_used_at": null,
            "expires_at": null,
            "permissions": ["posts:read"],
            "created_at": "2026-01-01T00:00:00.000Z",
            "updated_at": "2026-01-01T00:00:00.000Z"
        }))
        .unwrap()
    }

    #[test]
    fn verdicts_read_back() {
        assert_eq!(decode(&encode(None)), Some(None));
        assert_eq!(decode(&encode(Some(&key()))), Some(Some(key())));
    }

    #[test]
    fn unreadable_values_are_not_verdicts() {
        for value in [&b""[..], b"2", b"0x", b"1{", b"1null"] {
            assert_eq!(decode(value), None, "{value:?}");
        }
    }
}
