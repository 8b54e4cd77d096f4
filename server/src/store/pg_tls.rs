//! How the server connects to PostgreSQL: TLS (rustls) and timeouts, from the configuration.
//!
//! - `database_tls = "disable"` (default): plain TCP, for a database on the same host or a
//!   private network.
//! - `"require"`: TLS, without checking the server's certificate (libpq's `sslmode=require`):
//!   protects against passive eavesdropping only.
//! - `"verify-full"`: TLS, the certificate checked against `database_ca_file` and the host name
//!   of the URL (libpq's `sslmode=verify-full`). The one to use across a network.
//!
//! Timeouts turn a hung database into quick errors (503 from `/healthz`, 500 from the API)
//! instead of stalled requests: `database_connect_timeout_seconds` (TCP + TLS + startup),
//! `database_acquire_timeout_seconds` (waiting for a pooled connection) and
//! `database_statement_timeout_seconds` (PostgreSQL's `statement_timeout`, server side).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::StoreError;

/// TLS to PostgreSQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PgTls {
    /// Plain TCP.
    Disable,
    /// TLS without certificate checks (libpq's `require`).
    Require,
    /// TLS with the certificate checked against this CA file and the URL's host.
    VerifyFull(PathBuf),
}

/// Connection options of the PostgreSQL store.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// Largest pool.
    pub max_connections: usize,
    /// TLS mode.
    pub tls: PgTls,
    /// TCP connect, TLS and startup, per attempt.
    pub connect_timeout: Duration,
    /// Waiting for a pooled connection.
    pub acquire_timeout: Duration,
    /// PostgreSQL's `statement_timeout`.
    pub statement_timeout: Duration,
    /// Writer tasks of this process that apply participations in batches (each uses one
    /// pooled connection while it applies a batch).
    pub writers: usize,
    /// Most participations one writer commits in one transaction.
    pub max_batch: usize,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            max_connections: 16,
            tls: PgTls::Disable,
            connect_timeout: Duration::from_secs(5),
            acquire_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(10),
            writers: 1,
            max_batch: 64,
        }
    }
}

/// The rustls connector for `tls`, or `None` for plain TCP.
pub(super) fn connector(
    tls: &PgTls,
) -> Result<Option<tokio_postgres_rustls::MakeRustlsConnect>, StoreError> {
    let config = match tls {
        PgTls::Disable => return Ok(None),
        PgTls::Require => ClientConfig::builder()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoCertificateCheck(
                rustls::crypto::CryptoProvider::get_default()
                    .cloned()
                    .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider())),
            )))
            .with_no_client_auth(),
        PgTls::VerifyFull(ca) => {
            let mut roots = RootCertStore::empty();
            let certs = CertificateDer::pem_file_iter(ca).map_err(|e| {
                StoreError::caused(&format!("database_ca_file {}", ca.display()), e)
            })?;
            for cert in certs {
                let cert = cert.map_err(|e| {
                    StoreError::caused(&format!("database_ca_file {}", ca.display()), e)
                })?;
                roots.add(cert).map_err(|e| {
                    StoreError::caused(&format!("database_ca_file {}", ca.display()), e)
                })?;
            }
            if roots.is_empty() {
                return Err(StoreError::new(format!(
                    "database_ca_file {} holds no certificate",
                    ca.display()
                )));
            }
            ClientConfig::builder()
                .with_root_certificates(roots)
                .with_no_client_auth()
        }
    };
    Ok(Some(tokio_postgres_rustls::MakeRustlsConnect::new(config)))
}

/// `require`: the TLS handshake's signatures are checked (the channel is real TLS), the
/// certificate is not (libpq's `sslmode=require`).
#[derive(Debug)]
struct NoCertificateCheck(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoCertificateCheck {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
