//! One RS256 signing key pair, its JWK, and its private half as PKCS#8 DER
//! (how a state file keeps it).

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rsa::pkcs1v15;
#[cfg(feature = "sqlite")]
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use rsa::rand_core::OsRng;
use rsa::sha2::Sha256;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{Value, json};

/// The size of the emulator's RSA keys, in bits.
const BITS: usize = 2048;

/// A signing key with its `kid`; cloning shares it.
#[derive(Clone)]
pub(crate) struct SigningKey(Arc<Pair>);

struct Pair {
    kid: String,
    signer: pkcs1v15::SigningKey<Sha256>,
    public: RsaPublicKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.0.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A fresh key pair, `kid` shaped like WorkOS's.
    pub(crate) fn generate() -> Self {
        // The OS's CSPRNG cannot fail on the platforms the emulator runs on;
        // if it did, there would be nothing to sign with.
        let private = RsaPrivateKey::new(&mut OsRng, BITS).expect("RSA key generation");
        Self::from_parts(format!("sso_oidc_key_pair_{}", ulid::Ulid::new()), private)
    }

    fn from_parts(kid: String, private: RsaPrivateKey) -> Self {
        let public = RsaPublicKey::from(&private);
        Self(Arc::new(Pair {
            kid,
            signer: pkcs1v15::SigningKey::<Sha256>::new(private),
            public,
        }))
    }

    /// The key `kid` from its private half as PKCS#8 DER, as
    /// [`private_der`](Self::private_der) wrote it.
    #[cfg(feature = "sqlite")]
    pub(crate) fn from_private_der(kid: &str, der: &[u8]) -> Result<Self, String> {
        let private = RsaPrivateKey::from_pkcs8_der(der).map_err(|e| e.to_string())?;
        Ok(Self::from_parts(kid.to_owned(), private))
    }

    /// The private half as PKCS#8 DER (zeroed when dropped).
    #[cfg(feature = "sqlite")]
    pub(crate) fn private_der(&self) -> Result<rsa::pkcs8::SecretDocument, String> {
        let private: &RsaPrivateKey = self.0.signer.as_ref();
        private.to_pkcs8_der().map_err(|e| e.to_string())
    }

    pub(crate) fn kid(&self) -> &str {
        &self.0.kid
    }

    /// The public key as a JWK (`x5c` is left out: no certificate is made).
    pub(crate) fn jwk(&self) -> Value {
        json!({
            "alg": "RS256",
            "kty": "RSA",
            "use": "sig",
            "kid": self.0.kid,
            "n": URL_SAFE_NO_PAD.encode(self.0.public.n().to_bytes_be()),
            "e": URL_SAFE_NO_PAD.encode(self.0.public.e().to_bytes_be()),
        })
    }

    /// `claims` as a compact JWS signed with this key.
    pub(crate) fn sign(&self, claims: &Value) -> String {
        let header = json!({"alg": "RS256", "kid": self.0.kid, "typ": "JWT"});
        let signed = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self.0.signer.sign(signed.as_bytes());
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
    }
}
