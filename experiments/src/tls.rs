//! TLS for simulated runs: a self-signed Ed25519 certificate for `localhost` made in-process from
//! a fixed key, so the handshake has the same byte lengths in every run (Ed25519 signatures have
//! a fixed size; ECDSA ones do not), and the rustls client and server configurations around it.

use std::sync::Arc;

use mpquic_proto::{client_config_for_quic, quic_crypto_provider, server_config_for_quic};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use thiserror::Error;

/// The ALPN protocol of simulated runs.
pub const ALPN: &[u8] = b"mpquic-exp";
/// The name in the certificate.
pub const SERVER_NAME: &str = "localhost";

/// The certificate or a configuration could not be built.
#[derive(Debug, Error)]
#[error("building the TLS configuration: {0}")]
pub struct TlsError(String);

/// Client and server TLS configurations that trust each other.
#[derive(Debug, Clone)]
pub struct TlsPair {
    /// Server configuration.
    pub server: Arc<rustls::ServerConfig>,
    /// Client configuration (trusts only the server's certificate).
    pub client: Arc<rustls::ClientConfig>,
}

/// PKCS#8 v1 wrapping of an Ed25519 private key (RFC 8410 §7): fixed prefix + 32-byte seed.
fn ed25519_pkcs8(seed: [u8; 32]) -> Vec<u8> {
    let mut der = vec![0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];
    der.extend_from_slice(&seed);
    der
}

/// Builds the pair. The key is fixed: this is a test certificate for simulations only.
pub fn tls_pair() -> Result<TlsPair, TlsError> {
    build(false)
}

/// The pair with session resumption and 0-RTT (RFC 9001 §4.6): the server issues one ticket
/// per connection into its own session cache, and the client keeps tickets and enables early
/// data. Each call makes fresh caches, so a run depends on nothing before it.
pub fn tls_pair_with_resumption() -> Result<TlsPair, TlsError> {
    build(true)
}

fn build(resumption: bool) -> Result<TlsPair, TlsError> {
    let e = |x: &dyn std::fmt::Display| TlsError(x.to_string());
    let pkcs8 = PrivatePkcs8KeyDer::from(ed25519_pkcs8([0x42; 32]));
    let key_pair = rcgen::KeyPair::try_from(&pkcs8).map_err(|x| e(&x))?;
    let mut params = rcgen::CertificateParams::new(vec![SERVER_NAME.to_owned()]).map_err(|x| e(&x))?;
    params.serial_number = Some(rcgen::SerialNumber::from(vec![1]));
    let cert = params.self_signed(&key_pair).map_err(|x| e(&x))?;
    let cert_der = CertificateDer::from(cert.der().to_vec());
    let provider = Arc::new(quic_crypto_provider());
    let mut server = server_config_for_quic(
        provider.clone(),
        vec![cert_der.clone()],
        PrivateKeyDer::Pkcs8(pkcs8.clone_key()),
        vec![ALPN.to_vec()],
    )
    .map_err(|x| e(&x))?;
    // No session tickets unless asked for: nothing in the handshake depends on earlier runs.
    server.send_tls13_tickets = usize::from(resumption);
    if resumption {
        server.session_storage = rustls::server::ServerSessionMemoryCache::new(16);
    }
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert_der).map_err(|x| e(&x))?;
    let mut client = client_config_for_quic(provider, roots, vec![ALPN.to_vec()]).map_err(|x| e(&x))?;
    if resumption {
        client.resumption = rustls::client::Resumption::in_memory_sessions(16);
        client.enable_early_data = true;
    } else {
        // No resumption either: a second run in the same process must not differ from the first.
        client.resumption = rustls::client::Resumption::disabled();
    }
    Ok(TlsPair { server: Arc::new(server), client: Arc::new(client) })
}
