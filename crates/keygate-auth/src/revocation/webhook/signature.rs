//! The `WorkOS-Signature` header, from `keygate_types::webhook_signature`
//! (the emulator signs with the same code), and what its refusals mean for
//! the receiver.

use keygate_types::webhook_signature::{self, SignatureError};

pub(crate) use webhook_signature::SignatureHeader;

use super::WebhookError;

impl From<SignatureError> for WebhookError {
    fn from(error: SignatureError) -> Self {
        match error {
            SignatureError::TooManySignatures { count } => WebhookError::TooManySignatures {
                count,
                max: webhook_signature::MAX_SIGNATURES,
            },
            _ => WebhookError::MalformedSignature,
        }
    }
}

/// The `WorkOS-Signature` value WorkOS would send for `body` at `timestamp_ms`.
///
/// For tests and for senders: a receiver never needs it.
///
/// ```
/// use keygate_auth::webhook_signature;
///
/// let header = webhook_signature(b"whsec_test", 1_700_000_000_000, br#"{"id":"event_1"}"#);
/// assert!(header.starts_with("t=1700000000000, v1="));
/// assert_eq!(header.len(), "t=1700000000000, v1=".len() + 64);
/// ```
pub fn webhook_signature(secret: &[u8], timestamp_ms: i64, body: &[u8]) -> String {
    webhook_signature::sign(secret, timestamp_ms, body)
}
