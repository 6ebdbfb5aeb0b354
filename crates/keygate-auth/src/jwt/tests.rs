//! The verifier against a key-set server of its own.
