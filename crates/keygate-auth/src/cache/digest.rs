//! Keys as the cache holds them: the SHA-256 digest, and the hash of it that
//! moka's tables use.

/// The SHA-256 digest of a key ([`KeyDigest`](crate::tier::KeyDigest)'s
/// bytes): the only form in which the cache holds it.
pub(crate) type Digest = [u8; 32];

/// The [`Digest`] of `key`.
pub(crate) fn digest(key: &str) -> Digest {
    crate::tier::KeyDigest::of(key).0
}

/// The tables' hash of a digest: its first 8 bytes, mixed with a random key
/// of this cache (a folded multiply, as in foldhash).
///
/// A digest is already uniform, so SipHash over all of it buys nothing but
/// time on every hit. But its bytes are not secret: an attacker can grind
/// keys whose digests share their low bits (about 2^k tries for k bits) and
/// pile them into one region of a table (they reach moka as "invalid"
/// verdicts). The random key makes that impossible to do offline.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DigestHashing {
    seed: u64,
    multiplier: u64,
}

impl DigestHashing {
    /// A fresh random key.
    pub(crate) fn random() -> Self {
        Self {
            seed: rand::random(),
            // Odd, so the multiply loses no bits.
            multiplier: rand::random::<u64>() | 1,
        }
    }

    pub(crate) fn hash(&self, digest: &[u8; 32]) -> u64 {
        let mut head = [0; 8];
        head.copy_from_slice(&digest[..8]);
        let full = u128::from(u64::from_le_bytes(head) ^ self.seed) * u128::from(self.multiplier);
        // Folding the high half in makes every output bit depend on every
        // input bit (the low half alone depends only on lower bits).
        (full as u64) ^ ((full >> 64) as u64)
    }
}

/// moka's hasher: [`DigestHashing::hash`] of the `[u8; 32]` key.
impl std::hash::BuildHasher for DigestHashing {
    type Hasher = DigestHasher;

    fn build_hasher(&self) -> DigestHasher {
        DigestHasher {
            hashing: *self,
            value: 0,
        }
    }
}

/// See [`DigestHashing`].
#[derive(Debug)]
pub(crate) struct DigestHasher {
    hashing: DigestHashing,
    value: u64,
}

impl std::hash::Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.value
    }

    fn write(&mut self, bytes: &[u8]) {
        // `[u8; 32]` hashes as a length prefix, then its 32 bytes: the
        // digest decides; the prefix (the same for every key) is ignored.
        if let Ok(digest) = <&[u8; 32]>::try_from(bytes) {
            self.value = self.hashing.hash(digest);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    use super::*;

    #[test]
    fn moka_hashes_a_digest_with_the_keyed_hash() {
        let hashing = DigestHashing::random();
        let d = digest("sk_example");
        assert_eq!(hashing.hash_one(d), hashing.hash(&d));
    }

    #[test]
    fn each_cache_hashes_with_its_own_key() {
        let d = digest("sk_example");
        let (a, b) = (DigestHashing::random(), DigestHashing::random());
        assert_ne!(a.hash(&d), b.hash(&d));
    }

    #[test]
    fn digests_sharing_their_low_bits_spread_out() {
        // Digests whose first 8 bytes agree in the low 16 bits: what an
        // attacker could grind offline. Their hashes' low bits must not.
        let hashing = DigestHashing::random();
        let low: std::collections::HashSet<u64> = (0u64..64)
            .map(|n| {
                let mut d = [0u8; 32];
                d[..8].copy_from_slice(&((n << 16) | 0xbeef).to_le_bytes());
                hashing.hash(&d) & 0xffff
            })
            .collect();
        assert!(
            low.len() > 56,
            "only {} distinct low-16-bit values",
            low.len()
        );
    }
}
