//! The crypto provider under the TLS of the `reqwest` client this crate builds.
//!
//! | features | TLS |
//! |---|---|
//! | `aws-lc-rs` (default), alone or with `ring` | reqwest's own rustls set-up, on aws-lc-rs |
//! | `ring` alone | rustls on ring, with the OS's trust store, set up here |
//! | neither | none: plain HTTP only, an `https://` base URL is refused |
//!
//! In every case a provider the application installed as rustls's process
//! default (`CryptoProvider::install_default`) is used before the feature's.
//! A client passed to [`ClientBuilder::http_client`](crate::ClientBuilder::http_client)
//! keeps its own TLS and skips all of this.

use crate::Error;

/// Sets up `builder`'s TLS for `base_url` (already checked and normalised).
#[cfg(feature = "aws-lc-rs")]
pub(crate) fn configure(
    builder: reqwest::ClientBuilder,
    _base_url: &str,
) -> Result<reqwest::ClientBuilder, Error> {
    // reqwest's `rustls` feature: the process default, else aws-lc-rs.
    Ok(builder)
}

/// Sets up `builder`'s TLS for `base_url` (already checked and normalised).
#[cfg(all(feature = "ring", not(feature = "aws-lc-rs")))]
pub(crate) fn configure(
    builder: reqwest::ClientBuilder,
    _base_url: &str,
) -> Result<reqwest::ClientBuilder, Error> {
    use std::sync::Arc;

    use rustls::crypto::CryptoProvider;
    use rustls_platform_verifier::BuilderVerifierExt;

    // reqwest's `rustls-no-provider` would panic when building a client with
    // no process default, so the configuration is made here, as reqwest
    // makes it: the process default first, the OS's trust store.
    let provider = CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()));
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(format!("could not set up TLS on ring: {e}")))?
        .with_platform_verifier()
        .map_err(|e| Error::Config(format!("could not load the OS's trust store: {e}")))?
        .with_no_client_auth();
    // The client speaks HTTP/1.1 (reqwest's `http2` feature is off).
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(builder.tls_backend_preconfigured(tls))
}

/// Sets up `builder`'s TLS for `base_url` (already checked and normalised).
#[cfg(not(any(feature = "aws-lc-rs", feature = "ring")))]
pub(crate) fn configure(
    builder: reqwest::ClientBuilder,
    base_url: &str,
) -> Result<reqwest::ClientBuilder, Error> {
    if base_url.starts_with("https:") {
        return Err(Error::Config(format!(
            "the base URL `{base_url}` needs TLS, and keygate-client was built without it: \
             turn on its feature `aws-lc-rs` or `ring` (keygate's features of the same names), \
             or pass a reqwest client with `http_client`"
        )));
    }
    Ok(builder)
}

#[cfg(test)]
mod tests {
    use crate::{Client, Error};

    #[test]
    fn a_plain_http_base_url_builds_with_any_features() {
        let client = Client::builder()
            .secret("sk_test_x")
            .base_url("http://127.0.0.1:4100")
            .build();
        assert!(client.is_ok(), "{client:?}");
    }

    #[cfg(any(feature = "aws-lc-rs", feature = "ring"))]
    #[test]
    fn an_https_base_url_builds_with_a_provider() {
        let client = Client::builder()
            .secret("sk_test_x")
            .base_url("https://api.workos.com")
            .build();
        assert!(client.is_ok(), "{client:?}");
    }

    /// A request over TLS reaches the handshake: a server that is not TLS
    /// fails it with a transport error, not a panic or a configuration error.
    #[cfg(any(feature = "aws-lc-rs", feature = "ring"))]
    #[tokio::test]
    async fn an_https_call_to_a_server_without_tls_is_a_transport_error() {
        use std::io::{Read, Write};

        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            // The ClientHello's first byte: a TLS handshake record.
            let mut first = [0u8; 1];
            conn.read_exact(&mut first).unwrap();
            let _ = conn.write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n");
            first[0]
        });
        let client = Client::builder()
            .secret("sk_test_x")
            .base_url(format!("https://127.0.0.1:{port}"))
            .max_retries(0)
            .build()
            .unwrap();
        let err = client.validate_api_key("sk_test_value").await.unwrap_err();
        assert!(matches!(err, Error::Transport { .. }), "{err:?}");
        assert_eq!(server.join().unwrap(), 0x16, "not a TLS handshake record");
    }

    #[cfg(not(any(feature = "aws-lc-rs", feature = "ring")))]
    #[test]
    fn without_a_provider_an_https_base_url_is_refused_with_the_way_out() {
        let err = Client::builder()
            .secret("sk_test_x")
            .base_url("https://api.workos.com")
            .build()
            .unwrap_err();
        assert!(matches!(err, Error::Config(_)), "{err:?}");
        let shown = err.to_string();
        assert!(shown.contains("`aws-lc-rs` or `ring`"), "{shown}");
    }
}
