//! rustls configurations fit for QUIC: TLS 1.3 only (RFC 9001 §4.2), the ring provider,
//! ALPN set (RFC 9001 §8.1), and a max_early_data_size rustls accepts for QUIC (RFC 9001 §4.6.1).

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use thiserror::Error;

/// A TLS configuration or session that cannot be used for QUIC.
#[derive(Debug, Error)]
pub enum TlsConfigError {
    /// rustls refused the configuration or the session.
    #[error("rustls: {0}")]
    Rustls(#[from] rustls::Error),
    /// RFC 9001 §4.6.1: a QUIC server's max_early_data_size must be 0 (no 0-RTT) or
    /// 0xffffffff (0-RTT accepted); rustls refuses anything else.
    #[error("max_early_data_size must be 0 or 0xffffffff for QUIC, not {0}")]
    EarlyDataSize(u32),
    /// The crypto provider has no TLS 1.3 cipher suite with QUIC support.
    #[error("no TLS 1.3 cipher suite usable with QUIC in the crypto provider")]
    NoQuicCipherSuite,
    /// RFC 9001 §8.1: QUIC endpoints must negotiate an application protocol with ALPN.
    #[error("no ALPN protocol configured; QUIC requires ALPN")]
    NoAlpn,
    /// The server name is neither a DNS name nor an IP address.
    #[error("invalid server name {0:?}")]
    InvalidServerName(String),
}

/// The ring crypto provider limited to the TLS 1.3 suites QUIC can use: AES-128-GCM,
/// AES-256-GCM and ChaCha20-Poly1305 (RFC 9001 §5.3). Narrow `cipher_suites` further to force
/// one suite, e.g. for tests.
///
/// The key exchange groups are X25519 first, then P-256, then P-384, whatever order the rustls
/// release prefers. The client's first group is the key share its ClientHello carries, and a
/// server that supports it picks it (RFC 8446 §4.2.8), so the first group decides the cost of
/// every handshake. rustls 0.23.48 moved P-384 to the front of the ring provider's list; with
/// ring's portable arithmetic a P-384 exchange costs about ten times an X25519 one, and it was
/// half the CPU time of a fuzzed handshake.
pub fn quic_crypto_provider() -> CryptoProvider {
    let mut provider = rustls::crypto::ring::default_provider();
    provider.cipher_suites.retain(|suite| suite.tls13().is_some_and(|s| s.quic.is_some()));
    provider.kx_groups.sort_by_key(|group| kx_preference(group.name()));
    provider
}

/// Lower is preferred: X25519, then the NIST curves from the cheapest, then anything else in
/// the provider's own order (the sort is stable).
fn kx_preference(group: rustls::NamedGroup) -> u8 {
    match group {
        rustls::NamedGroup::X25519 => 0,
        rustls::NamedGroup::secp256r1 => 1,
        rustls::NamedGroup::secp384r1 => 2,
        _ => 3,
    }
}

fn has_quic_suite(provider: &CryptoProvider) -> bool {
    provider.cipher_suites.iter().any(|suite| suite.tls13().is_some_and(|s| s.quic.is_some()))
}

/// A server configuration for QUIC: TLS 1.3 only, no client authentication, the given
/// certificate chain and key, and `alpn_protocols` in order of preference.
///
/// 0-RTT is accepted (`max_early_data_size` 0xffffffff, RFC 9001 §4.6.1), with rustls's default
/// stateful session cache: each ticket is used at most once, so a replayed ClientHello gets no
/// 0-RTT (RFC 8446 §8.1). Set `max_early_data_size` to 0 to stop offering 0-RTT in tickets; do
/// not install a stateless `ticketer` if 0-RTT is wanted (rustls then never offers it). Set
/// `key_log` (e.g. `rustls::KeyLogFile`) to log TLS secrets for Wireshark. Pass [`quic_crypto_provider`] as `provider`
/// unless a specific suite set is wanted.
pub fn server_config_for_quic(
    provider: Arc<CryptoProvider>,
    cert_chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    alpn_protocols: Vec<Vec<u8>>,
) -> Result<ServerConfig, TlsConfigError> {
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_no_client_auth()
        .with_single_cert(cert_chain, key)?;
    config.alpn_protocols = alpn_protocols;
    config.max_early_data_size = u32::MAX;
    check_server_config(&config)?;
    Ok(config)
}

/// A client configuration for QUIC: TLS 1.3 only, server certificates verified against `roots`,
/// and `alpn_protocols` offered. 0-RTT is off: RFC 9001 §5.6 lets a client send application data
/// in 0-RTT only when the application asks for it, by setting `enable_early_data`.
pub fn client_config_for_quic(
    provider: Arc<CryptoProvider>,
    roots: RootCertStore,
    alpn_protocols: Vec<Vec<u8>>,
) -> Result<ClientConfig, TlsConfigError> {
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn_protocols;
    check_client_config(&config)?;
    Ok(config)
}

/// Checks that a server configuration (built here or by hand) can carry QUIC: a QUIC-capable
/// TLS 1.3 suite, ALPN protocols, and max_early_data_size 0 or 0xffffffff.
pub fn check_server_config(config: &ServerConfig) -> Result<(), TlsConfigError> {
    if config.max_early_data_size != 0 && config.max_early_data_size != u32::MAX {
        return Err(TlsConfigError::EarlyDataSize(config.max_early_data_size));
    }
    if !has_quic_suite(config.crypto_provider()) {
        return Err(TlsConfigError::NoQuicCipherSuite);
    }
    if config.alpn_protocols.is_empty() {
        return Err(TlsConfigError::NoAlpn);
    }
    Ok(())
}

/// Checks that a client configuration can carry QUIC: a QUIC-capable TLS 1.3 suite and ALPN.
pub fn check_client_config(config: &ClientConfig) -> Result<(), TlsConfigError> {
    if !has_quic_suite(config.crypto_provider()) {
        return Err(TlsConfigError::NoQuicCipherSuite);
    }
    if config.alpn_protocols.is_empty() {
        return Err(TlsConfigError::NoAlpn);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_offers_x25519_first_and_keeps_every_group() {
        let provider = quic_crypto_provider();
        let names: Vec<_> = provider.kx_groups.iter().map(|g| g.name()).collect();
        assert_eq!(names.first(), Some(&rustls::NamedGroup::X25519), "{names:?}");
        let mut default: Vec<_> = rustls::crypto::ring::default_provider().kx_groups.iter().map(|g| g.name()).collect();
        let mut ours = names.clone();
        default.sort_by_key(|n| u16::from(*n));
        ours.sort_by_key(|n| u16::from(*n));
        assert_eq!(ours, default, "the order changes, never the set");
        let preference: Vec<_> = names.iter().map(|n| kx_preference(*n)).collect();
        assert!(preference.windows(2).all(|w| w[0] <= w[1]), "{names:?}");
    }
}
