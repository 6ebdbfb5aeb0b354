//! Keys as the cache holds them: the SHA-256 digest, and the cheap hash of it.

use sha2::{Digest, Sha256};

/// The SHA-256 digest of a key: the only form in which the cache holds it.
pub(crate) fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// A digest's hash for hash tables: its first 8 bytes.
///
/// A SHA-256 digest is already uniformly distributed, so SipHash over it buys
/// nothing but time on every hit. Nor is there a HashDoS risk (the reason
/// std defaults to SipHash): an attacker cannot choose SHA-256 outputs that
/// collide in 64 bits, short of breaking SHA-256's preimage resistance.
pub(crate) fn digest_hash(digest: &[u8; 32]) -> u64 {
    let mut head = [0; 8];
    head.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(head)
}

/// moka's hasher for digest keys: [`digest_hash`].
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct DigestHashing;

impl std::hash::BuildHasher for DigestHashing {
    type Hasher = DigestHasher;

    fn build_hasher(&self) -> DigestHasher {
        DigestHasher(0)
    }
}

/// See [`DigestHashing`].
#[derive(Debug)]
pub(crate) struct DigestHasher(u64);

impl std::hash::Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // `[u8; 32]` hashes as a length prefix, then the 32 bytes: the
        // digest's first 8 bytes replace whatever came before.
        if let Some(head) = bytes.first_chunk::<8>() {
            self.0 = u64::from_le_bytes(*head);
        } else {
            for &byte in bytes {
                self.0 = self.0.rotate_left(8) ^ u64::from(byte);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    use super::*;

    #[test]
    fn moka_and_the_hit_table_hash_a_digest_alike() {
        let d = digest("sk_example");
        assert_eq!(DigestHashing.hash_one(d), digest_hash(&d));
    }
}
