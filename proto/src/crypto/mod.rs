//! Cryptography for QUIC: packet and header protection, the TLS 1.3 handshake through rustls,
//! Initial keys, the Retry integrity tag, and address-validation and stateless reset tokens.
//!
//! Everything rests on `rustls::quic` with the ring provider (RFC 9001), and on ring directly for
//! the Retry tag and tokens. Payload protection is path-aware for multipath
//! (RFC 10069 §2.4): the nonce mixes in the [`PathId`](crate::PathId), and
//! path 0 gives exactly the RFC 9001 nonce.
//!
//! # How a connection uses this module
//! - Initial level: [`initial_keys`] from the client's first Destination Connection ID.
//! - Handshake: a [`TlsSession`] is fed CRYPTO frame data per level with
//!   [`TlsSession::read_handshake`] and drained with [`TlsSession::write_handshake`], whose
//!   [`KeyChange`]s install Handshake and then 1-RTT [`Keys`].
//! - 1-RTT key update (RFC 9001 §6): [`TlsSession::next_1rtt_keys`] gives the next generation
//!   of [`PacketKeys`]; header keys stay.
//! - Packets: [`PacketKey::encrypt_packet`] then [`HeaderKey::apply`] to send;
//!   [`HeaderKey::remove`] then [`PacketKey::decrypt_packet`] to receive.
//! - Endpoint: [`retry_integrity_tag`] / [`is_valid_retry`], [`TokenKey`] for Retry and
//!   NEW_TOKEN tokens, [`ResetKey`] for stateless reset tokens.
//!
//! # Randomness and determinism
//! Tokens, token keys and reset keys draw from a caller-provided RNG. The TLS handshake itself
//! draws its randoms and ephemeral keys from the rustls crypto provider (ring reads the OS), so
//! handshake bytes differ from run to run; their lengths do not, as long as the certificate
//! signature has a fixed length (Ed25519; ECDSA DER signatures vary by a byte or two).
//!
//! # Key logging
//! For Wireshark, set `key_log` on the rustls config before wrapping it in an `Arc`, e.g.
//! `config.key_log = Arc::new(rustls::KeyLogFile::new())` (writes to the file named by
//! `SSLKEYLOGFILE`). rustls calls the [`rustls::KeyLog`] for every TLS secret, including the
//! QUIC handshake and 1-RTT traffic secrets; Initial secrets are derivable from the DCID and are
//! not logged. This belongs in the driver (`mpquic-io`), since the file is I/O.

mod config;
mod initial;
mod keys;
mod retry;
mod session;
mod token;

pub use config::{
    check_client_config, check_server_config, client_config_for_quic, quic_crypto_provider, server_config_for_quic,
    TlsConfigError,
};
pub use initial::initial_keys;
pub use keys::{DirectionalKeys, HeaderKeys, Keys, PacketKey, PacketKeys};
#[cfg(any(test, feature = "internals"))]
pub use keys::{CryptoError, HeaderKey};
pub use retry::{is_valid_retry, retry_integrity_tag};
pub use session::{EncryptionLevel, KeyChange, TlsSession};
pub use crate::shared::ResetToken;
pub use token::{ResetKey, TokenKey, ValidToken};
#[cfg(any(test, feature = "internals"))]
pub use token::TokenError;

#[cfg(test)]
pub(crate) mod test_util {
    /// Bytes from a hex string (test vectors); panics on bad input.
    pub(crate) fn hex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }
}
