//! Certificates made at run time for a TLS test: a CA, a server certificate
//! for `127.0.0.1` and `localhost` and a client certificate, both signed by
//! that CA, and a second, foreign CA (what a client that trusts the wrong
//! authority holds) with a client certificate of its own (what a server
//! that checks client certificates refuses). Written as PEM files into a
//! directory the caller owns.

use std::io;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// The PEM files of one test's certificates.
#[derive(Debug, Clone)]
pub struct TestCertificates {
    /// The CA that signed the server's and the client's certificates.
    pub ca: PathBuf,
    /// The server's certificate, for `127.0.0.1` and `localhost` (also good
    /// as a client certificate, as a cluster node shows it on the bus).
    pub server_cert: PathBuf,
    /// The server certificate's private key (PKCS #8).
    pub server_key: PathBuf,
    /// A client certificate signed by [`ca`](Self::ca).
    pub client_cert: PathBuf,
    /// The client certificate's private key (PKCS #8).
    pub client_key: PathBuf,
    /// A CA that signed neither the server's certificate nor
    /// [`client_cert`](Self::client_cert).
    pub foreign_ca: PathBuf,
    /// A client certificate signed by [`foreign_ca`](Self::foreign_ca).
    pub foreign_client_cert: PathBuf,
    /// That certificate's private key (PKCS #8).
    pub foreign_client_key: PathBuf,
}

impl TestCertificates {
    /// Makes a CA with a server and a client certificate, and a foreign CA
    /// with a client certificate, and writes them into `dir` (`ca.pem`,
    /// `server.pem`, `server-key.pem`, `client.pem`, `client-key.pem`,
    /// `foreign-ca.pem`, `foreign-client.pem`, `foreign-client-key.pem`).
    ///
    /// # Errors
    /// When a certificate cannot be made or a file cannot be written.
    pub fn generate(dir: &Path) -> io::Result<Self> {
        let (ca_pem, issuer) = authority("keygate test CA")?;
        let (foreign_ca_pem, foreign_issuer) = authority("keygate foreign CA")?;
        let (server_pem, server_key) = leaf(
            &issuer,
            "keygate test redis-server",
            &["127.0.0.1", "localhost"],
            // A node of a TLS cluster shows it as a client on the cluster bus too.
            &[
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ],
        )?;
        let (client_pem, client_key) = leaf(
            &issuer,
            "keygate test client",
            &[],
            &[ExtendedKeyUsagePurpose::ClientAuth],
        )?;
        let (foreign_client_pem, foreign_client_key) = leaf(
            &foreign_issuer,
            "keygate foreign client",
            &[],
            &[ExtendedKeyUsagePurpose::ClientAuth],
        )?;
        let write = |name: &str, contents: &str| -> io::Result<PathBuf> {
            let path = dir.join(name);
            std::fs::write(&path, contents)?;
            Ok(path)
        };
        Ok(Self {
            ca: write("ca.pem", &ca_pem)?,
            server_cert: write("server.pem", &server_pem)?,
            server_key: write("server-key.pem", &server_key)?,
            client_cert: write("client.pem", &client_pem)?,
            client_key: write("client-key.pem", &client_key)?,
            foreign_ca: write("foreign-ca.pem", &foreign_ca_pem)?,
            foreign_client_cert: write("foreign-client.pem", &foreign_client_pem)?,
            foreign_client_key: write("foreign-client-key.pem", &foreign_client_key)?,
        })
    }
}

fn invalid(error: rcgen::Error) -> io::Error {
    io::Error::other(format!("rcgen: {error}"))
}

/// A self-signed CA: its PEM, and what signs with it.
fn authority(name: &str) -> io::Result<(String, Issuer<'static, KeyPair>)> {
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(invalid)?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
    ];
    let key = KeyPair::generate().map_err(invalid)?;
    let cert = params.self_signed(&key).map_err(invalid)?;
    Ok((cert.pem(), Issuer::new(params, key)))
}

/// An end-entity certificate signed by `issuer`: its PEM and its key's PEM.
fn leaf(
    issuer: &Issuer<'static, KeyPair>,
    name: &str,
    subject_alt_names: &[&str],
    usages: &[ExtendedKeyUsagePurpose],
) -> io::Result<(String, String)> {
    let names: Vec<String> = subject_alt_names.iter().map(|&n| n.to_owned()).collect();
    let mut params = CertificateParams::new(names).map_err(invalid)?;
    params.distinguished_name.push(DnType::CommonName, name);
    params.use_authority_key_identifier_extension = true;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = usages.to_vec();
    let key = KeyPair::generate().map_err(invalid)?;
    let cert = params.signed_by(&key, issuer).map_err(invalid)?;
    Ok((cert.pem(), key.serialize_pem()))
}
