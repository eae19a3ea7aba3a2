//! The TLS 1.3 handshake of a QUIC connection (RFC 9001 §4), over rustls's QUIC API.
//!
//! QUIC carries TLS handshake messages in CRYPTO frames, one byte stream per encryption level,
//! and takes its packet protection keys from TLS as the handshake progresses. [`TlsSession`]
//! is that exchange seen from the connection: bytes in per level, bytes out at the current
//! write level, and a [`KeyChange`] whenever the write level advances.

use core::fmt;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, ServerName};
use rustls::quic as rq;

use super::config::{check_client_config, check_server_config, TlsConfigError};
use super::keys::{DirectionalKeys, Keys, PacketKeys};
use crate::error::{TransportError, TransportErrorCode};
use crate::shared::Side;
use crate::transport_parameters::TransportParameters;

/// The encryption levels of QUIC (RFC 9001 §4.1.3) and the packet number spaces they map to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EncryptionLevel {
    /// Initial packets: keys from the client's Destination Connection ID.
    Initial,
    /// 0-RTT packets (client to server only), in the application data space.
    ZeroRtt,
    /// Handshake packets.
    Handshake,
    /// 1-RTT packets (short header), in the application data space(s).
    OneRtt,
}

/// New keys from the TLS handshake; the write level advances to the level named.
#[derive(Debug)]
pub enum KeyChange {
    /// Handshake keys: later handshake bytes are sent in Handshake packets.
    Handshake {
        /// Header and packet keys, both directions.
        keys: Keys,
    },
    /// 1-RTT keys (key phase 0). Later key generations come from [`TlsSession::next_1rtt_keys`].
    OneRtt {
        /// Header and packet keys, both directions.
        keys: Keys,
    },
}

/// One endpoint's TLS session.
///
/// Driving it from a connection:
/// ```text
/// on CRYPTO data at level L:   tls.read_handshake(&data)?   (after reassembly, in order)
/// then, until nothing changes:
///     let level = tls.write_level();
///     let mut out = Vec::new();
///     let change = tls.write_handshake(&mut out);
///     queue `out` as CRYPTO data in the space of `level`
///     match change { Some(c) => install its keys, None => break }
/// ```
/// The bytes one call appends belong to the write level as it was before the call; a returned
/// [`KeyChange`] applies to what is written afterwards.
pub struct TlsSession {
    conn: rq::Connection,
    write_level: EncryptionLevel,
    /// Secrets of the next 1-RTT key generation (RFC 9001 §6), once 1-RTT keys exist.
    next_secrets: Option<rq::Secrets>,
}

impl TlsSession {
    /// A client session toward `server_name` (a DNS name or an IP address), sending
    /// `params` in the quic_transport_parameters extension (RFC 9001 §8.2).
    pub fn client(
        config: Arc<rustls::ClientConfig>,
        server_name: &str,
        params: &TransportParameters,
    ) -> Result<Self, TlsConfigError> {
        check_client_config(&config)?;
        let name = ServerName::try_from(server_name.to_owned())
            .map_err(|_| TlsConfigError::InvalidServerName(server_name.to_owned()))?;
        let conn = rq::ClientConnection::new(config, rq::Version::V1, name, encode(params))?;
        Ok(Self::new(conn.into()))
    }

    /// A server session sending `params` (which should include
    /// original_destination_connection_id, initial_source_connection_id and, after a Retry,
    /// retry_source_connection_id; RFC 9000 §7.3).
    pub fn server(config: Arc<rustls::ServerConfig>, params: &TransportParameters) -> Result<Self, TlsConfigError> {
        check_server_config(&config)?;
        let conn = rq::ServerConnection::new(config, rq::Version::V1, encode(params))?;
        Ok(Self::new(conn.into()))
    }

    fn new(conn: rq::Connection) -> Self {
        Self { conn, write_level: EncryptionLevel::Initial, next_secrets: None }
    }

    /// Which side this session is.
    pub fn side(&self) -> Side {
        match self.conn {
            rq::Connection::Client(_) => Side::Client,
            rq::Connection::Server(_) => Side::Server,
        }
    }

    /// The level of the bytes the next [`Self::write_handshake`] appends.
    pub fn write_level(&self) -> EncryptionLevel {
        self.write_level
    }

    /// Feeds handshake bytes received in CRYPTO frames of one encryption level, in order.
    ///
    /// RFC 9001 §4.8: a TLS alert becomes CRYPTO_ERROR (0x100 + alert code); a TLS failure
    /// without an alert becomes PROTOCOL_VIOLATION. The connection closes with the error.
    pub fn read_handshake(&mut self, data: &[u8]) -> Result<(), TransportError> {
        self.conn.read_hs(data).map_err(|e| {
            let code = match self.conn.alert() {
                Some(alert) => TransportErrorCode::crypto(u8::from(alert)),
                None => TransportErrorCode::PROTOCOL_VIOLATION,
            };
            TransportError::new(code, format!("TLS handshake failed: {e}"))
        })
    }

    /// Appends handshake bytes to send, at [`Self::write_level`], to `buf`, and returns new keys
    /// if the write level advanced (see the type's docs for the loop that drives this).
    pub fn write_handshake(&mut self, buf: &mut Vec<u8>) -> Option<KeyChange> {
        match self.conn.write_hs(buf)? {
            rq::KeyChange::Handshake { keys } => {
                self.write_level = EncryptionLevel::Handshake;
                Some(KeyChange::Handshake { keys: keys.into() })
            }
            rq::KeyChange::OneRtt { keys, next } => {
                self.write_level = EncryptionLevel::OneRtt;
                self.next_secrets = Some(next);
                Some(KeyChange::OneRtt { keys: keys.into() })
            }
        }
    }

    /// The packet keys of the next 1-RTT key phase (RFC 9001 §6), each call one generation
    /// further: the first call gives the keys that replace those of [`KeyChange::OneRtt`].
    /// Header protection keys do not change. `None` before 1-RTT keys exist.
    pub fn next_1rtt_keys(&mut self) -> Option<PacketKeys> {
        Some(self.next_secrets.as_mut()?.next_packet_keys().into())
    }

    /// 0-RTT keys (RFC 9001 §4.6), if early data is possible: the client's after it sent a
    /// ClientHello resuming a session with early data, the server's after it accepted it.
    pub fn zero_rtt_keys(&self) -> Option<DirectionalKeys> {
        self.conn.zero_rtt_keys().map(DirectionalKeys::from)
    }

    /// The peer's transport parameters, once its handshake message carrying them has been read
    /// (ClientHello for a server, EncryptedExtensions for a client). Malformed parameters are a
    /// TRANSPORT_PARAMETER_ERROR.
    pub fn peer_transport_parameters(&self) -> Result<Option<TransportParameters>, TransportError> {
        let sender = !self.side();
        self.conn.quic_transport_parameters().map(|bytes| TransportParameters::decode(sender, bytes)).transpose()
    }

    /// The negotiated application protocol (RFC 9001 §8.1), once known.
    pub fn alpn_protocol(&self) -> Option<&[u8]> {
        self.conn.alpn_protocol()
    }

    /// True until the TLS handshake is complete (RFC 9001 §4.1.1).
    pub fn is_handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    /// The certificate chain the peer presented, end-entity first.
    pub fn peer_certificates(&self) -> Option<&[CertificateDer<'static>]> {
        self.conn.peer_certificates()
    }

    /// The negotiated cipher suite, once known.
    pub fn negotiated_cipher_suite(&self) -> Option<rustls::SupportedCipherSuite> {
        self.conn.negotiated_cipher_suite()
    }

    /// Server only: the server name the client asked for (SNI), once known.
    pub fn server_name(&self) -> Option<&str> {
        match &self.conn {
            rq::Connection::Server(s) => s.server_name(),
            rq::Connection::Client(_) => None,
        }
    }

    /// Client only: whether the server accepted 0-RTT data.
    pub fn is_early_data_accepted(&self) -> bool {
        match &self.conn {
            rq::Connection::Client(c) => c.is_early_data_accepted(),
            rq::Connection::Server(_) => false,
        }
    }

    /// Fills `output` with keying material exported from the session (RFC 5705, RFC 8446 §7.5),
    /// after the handshake.
    pub fn export_keying_material(
        &self,
        output: &mut [u8],
        label: &[u8],
        context: Option<&[u8]>,
    ) -> Result<(), TlsConfigError> {
        self.conn.export_keying_material(output, label, context)?;
        Ok(())
    }
}

impl fmt::Debug for TlsSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSession")
            .field("side", &self.side())
            .field("write_level", &self.write_level)
            .field("handshaking", &self.is_handshaking())
            .finish_non_exhaustive()
    }
}

fn encode(params: &TransportParameters) -> Vec<u8> {
    let mut buf = Vec::new();
    params.encode(&mut buf);
    buf
}
