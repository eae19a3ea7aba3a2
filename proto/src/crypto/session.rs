//! The TLS 1.3 handshake of a QUIC connection (RFC 9001 §4), over rustls's QUIC API.
//!
//! QUIC carries TLS handshake messages in CRYPTO frames, one byte stream per encryption level,
//! and takes its packet protection keys from TLS as the handshake progresses. [`TlsSession`]
//! is that exchange seen from the connection: bytes in per level, bytes out at the current
//! write level, and a [`KeyChange`] whenever the write level advances.

use core::fmt;
use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::quic as rq;

use super::config::{check_client_config, check_server_config, TlsConfigError};
use super::keys::{DirectionalKeys, Keys, PacketKeys};
use crate::error::{TransportError, TransportErrorCode};
use crate::shared::Side;
use crate::transport_parameters::TransportParameters;

/// The encryption levels of QUIC that carry CRYPTO data (RFC 9001 §4.1.3). 0-RTT is not one
/// of them (CRYPTO frames are not allowed in 0-RTT, RFC 9000 §12.4): its keys come from
/// [`TlsSession::zero_rtt_keys`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EncryptionLevel {
    /// Initial packets: keys from the client's Destination Connection ID.
    Initial,
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
/// [`KeyChange`] applies to what is written afterwards. That holds when output is drained (until
/// `write_handshake` returns `None`) after every `read_handshake` that may have produced new
/// keys, which a connection does naturally: it cannot decrypt the next level's CRYPTO data
/// before it has taken that level's keys from `write_handshake`.
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
    ///
    /// 0-RTT is accepted when `accept_0rtt` is set and the configuration allows it: a
    /// max_early_data_size of 0xffffffff (RFC 9001 §4.6.1) and rustls's stateful session cache.
    /// rustls offers early data only with that cache, whose tickets are single-use (the cache
    /// removes a ticket when a ClientHello uses it), which is the replay protection RFC 8446
    /// §8.1 describes; a stateless ticketer never gets 0-RTT.
    pub fn server(
        config: Arc<rustls::ServerConfig>,
        params: &TransportParameters,
        accept_0rtt: bool,
    ) -> Result<Self, TlsConfigError> {
        check_server_config(&config)?;
        let mut conn = rq::ServerConnection::new(config, rq::Version::V1, encode(params))?;
        if !accept_0rtt {
            // RFC 9001 §4.6.2: the server rejects 0-RTT by omitting early_data from
            // EncryptedExtensions; rustls does so from the start of the handshake.
            conn.reject_early_data();
        }
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

    /// How the handshake went: full, full after a HelloRetryRequest, or resuming an earlier
    /// session (RFC 8446 §2.2); `None` until known.
    pub fn handshake_kind(&self) -> Option<rustls::HandshakeKind> {
        match &self.conn {
            rq::Connection::Client(c) => c.handshake_kind(),
            rq::Connection::Server(s) => s.handshake_kind(),
        }
    }

    /// True until the TLS handshake is complete (RFC 9001 §4.1.1).
    pub fn is_handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    /// The certificate chain the peer presented, end-entity first.
    #[cfg(any(test, feature = "internals"))]
    pub fn peer_certificates(&self) -> Option<&[rustls::pki_types::CertificateDer<'static>]> {
        self.conn.peer_certificates()
    }

    /// The negotiated cipher suite, once known.
    #[cfg(any(test, feature = "internals"))]
    pub fn negotiated_cipher_suite(&self) -> Option<rustls::SupportedCipherSuite> {
        self.conn.negotiated_cipher_suite()
    }

    /// Server only: the server name the client asked for (SNI), once known.
    #[cfg(any(test, feature = "internals"))]
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
    #[cfg(any(test, feature = "internals"))]
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::config::{client_config_for_quic, quic_crypto_provider, server_config_for_quic};
    use crate::crypto::keys::{PacketKey, PacketKeys};
    use crate::shared::ConnectionId;
    use crate::VarInt;
    use mpquic_core::PathId;
    use rustls::crypto::ring::cipher_suite;
    use rustls::crypto::CryptoProvider;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    use rustls::{RootCertStore, SupportedCipherSuite};

    const ALPN: &[u8] = b"hq-interop";

    struct Pki {
        cert: CertificateDer<'static>,
        key: PrivateKeyDer<'static>,
    }

    fn pki() -> Pki {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        Pki {
            cert: certified.cert.der().clone(),
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certified.signing_key.serialize_der())),
        }
    }

    fn configs(
        pki: &Pki,
        suite: SupportedCipherSuite,
        server_alpn: &[u8],
    ) -> (Arc<rustls::ClientConfig>, Arc<rustls::ServerConfig>) {
        let provider = Arc::new(CryptoProvider { cipher_suites: vec![suite], ..quic_crypto_provider() });
        let server = server_config_for_quic(
            provider.clone(),
            vec![pki.cert.clone()],
            pki.key.clone_key(),
            vec![server_alpn.to_vec()],
        )
        .unwrap();
        let mut roots = RootCertStore::empty();
        roots.add(pki.cert.clone()).unwrap();
        let client = client_config_for_quic(provider, roots, vec![ALPN.to_vec()]).unwrap();
        (Arc::new(client), Arc::new(server))
    }

    fn client_params() -> TransportParameters {
        TransportParameters {
            initial_source_connection_id: ConnectionId::new(&[1; 8]),
            initial_max_data: VarInt::from_u32(1 << 20),
            initial_max_path_id: Some(PathId(4)),
            ..Default::default()
        }
    }

    fn server_params() -> TransportParameters {
        TransportParameters {
            original_destination_connection_id: ConnectionId::new(&[3; 8]),
            initial_source_connection_id: ConnectionId::new(&[2; 8]),
            initial_max_streams_bidi: VarInt::from_u32(100),
            initial_max_path_id: Some(PathId(7)),
            ..Default::default()
        }
    }

    #[derive(Default)]
    struct Installed {
        handshake: Option<Keys>,
        one_rtt: Option<Keys>,
    }

    /// Drains `session`'s handshake output, as a connection does after every read: bytes are
    /// tagged with the level they were written at, and new keys are recorded.
    fn drain(session: &mut TlsSession, keys: &mut Installed, out: &mut Vec<(EncryptionLevel, Vec<u8>)>) {
        loop {
            let level = session.write_level();
            let mut bytes = Vec::new();
            let change = session.write_handshake(&mut bytes);
            if !bytes.is_empty() {
                out.push((level, bytes));
            }
            match change {
                Some(KeyChange::Handshake { keys: k }) => keys.handshake = Some(k),
                Some(KeyChange::OneRtt { keys: k }) => keys.one_rtt = Some(k),
                None => return,
            }
        }
    }

    /// Passes handshake bytes between the two sessions until both are quiet; `on_client_hello`
    /// sees the client right after its first flight. Returns both sides' keys and the
    /// (writer, level) of every chunk in delivery order.
    #[allow(clippy::type_complexity)]
    fn exchange(
        client: &mut TlsSession,
        server: &mut TlsSession,
        on_client_hello: impl FnOnce(&TlsSession),
    ) -> Result<(Installed, Installed, Vec<(Side, EncryptionLevel)>), TransportError> {
        let (mut ck, mut sk) = (Installed::default(), Installed::default());
        let (mut to_server, mut to_client) = (Vec::new(), Vec::new());
        drain(client, &mut ck, &mut to_server);
        on_client_hello(client);
        let mut levels = Vec::new();
        for _ in 0..20 {
            if to_server.is_empty() && to_client.is_empty() {
                break;
            }
            for (level, bytes) in core::mem::take(&mut to_server) {
                levels.push((Side::Client, level));
                server.read_handshake(&bytes)?;
                drain(server, &mut sk, &mut to_client);
            }
            for (level, bytes) in core::mem::take(&mut to_client) {
                levels.push((Side::Server, level));
                client.read_handshake(&bytes)?;
                drain(client, &mut ck, &mut to_server);
            }
        }
        Ok((ck, sk, levels))
    }

    /// Runs a full handshake, delivering one flight chunk at a time and draining the receiver
    /// after each (the receiver could not decrypt the next level before taking its keys).
    /// Returns both sessions and their installed keys.
    fn handshake(
        suite: SupportedCipherSuite,
        server_alpn: &[u8],
    ) -> Result<(TlsSession, TlsSession, Installed, Installed), TransportError> {
        let pki = pki();
        let (client_config, server_config) = configs(&pki, suite, server_alpn);
        let mut client = TlsSession::client(client_config, "localhost", &client_params()).unwrap();
        let mut server = TlsSession::server(server_config, &server_params(), true).unwrap();
        let (ck, sk, levels) = exchange(&mut client, &mut server, |_| {})?;
        // RFC 9001 §4.1.4 / Figure 5: ClientHello and ServerHello at Initial; the rest of the
        // server's flight and the client's Finished at Handshake; session tickets at 1-RTT.
        assert_eq!(
            levels,
            [
                (Side::Client, EncryptionLevel::Initial),
                (Side::Server, EncryptionLevel::Initial),
                (Side::Server, EncryptionLevel::Handshake),
                (Side::Client, EncryptionLevel::Handshake),
                (Side::Server, EncryptionLevel::OneRtt),
            ]
        );
        Ok((client, server, ck, sk))
    }

    fn assert_round_trip(sender: &PacketKey, receiver: &PacketKey, path: PathId, pn: u64) {
        let header = [0x40, 1, 2, 3, 4];
        let payload = b"stream data on some path";
        let mut packet = header.to_vec();
        packet.extend_from_slice(payload);
        packet.resize(packet.len() + sender.tag_len(), 0);
        sender.encrypt_packet(path, pn, &mut packet, header.len()).unwrap();
        assert_ne!(&packet[5..5 + payload.len()], payload);
        let mut wrong_path = packet.clone();
        let other = PathId(path.0 + 1);
        assert_eq!(
            receiver.decrypt_packet(other, pn, &mut wrong_path, 5),
            Err(super::super::CryptoError::DecryptFailed)
        );
        let len = receiver.decrypt_packet(path, pn, &mut packet, header.len()).unwrap();
        assert_eq!(&packet[5..5 + len], payload);
    }

    fn assert_keys_match(a: &PacketKeys, b: &PacketKeys) {
        for path in [PathId::ZERO, PathId(7)] {
            assert_round_trip(&a.local, &b.remote, path, 42);
            assert_round_trip(&b.local, &a.remote, path, 1 << 40);
        }
    }

    fn full_handshake(suite: SupportedCipherSuite) {
        let (mut client, mut server, ck, sk) = handshake(suite, ALPN).unwrap();
        assert!(!client.is_handshaking() && !server.is_handshaking());
        assert_eq!(client.alpn_protocol(), Some(ALPN));
        assert_eq!(server.alpn_protocol(), Some(ALPN));
        assert_eq!(client.negotiated_cipher_suite(), Some(suite));
        assert_eq!(server.server_name(), Some("localhost"));
        assert_eq!(client.peer_certificates().map(|c| c.len()), Some(1));
        assert_eq!(client.write_level(), EncryptionLevel::OneRtt);
        assert_eq!(server.write_level(), EncryptionLevel::OneRtt);

        // Transport parameters arrive intact, and were decoded as sent by the peer's side.
        assert_eq!(server.peer_transport_parameters().unwrap(), Some(client_params()));
        assert_eq!(client.peer_transport_parameters().unwrap(), Some(server_params()));

        // Handshake and 1-RTT keys agree in both directions, for path 0 and path 7.
        let (ch, sh) = (ck.handshake.unwrap(), sk.handshake.unwrap());
        assert_keys_match(&ch.packet, &sh.packet);
        let (c1, s1) = (ck.one_rtt.unwrap(), sk.one_rtt.unwrap());
        assert_keys_match(&c1.packet, &s1.packet);
        let mut packet = vec![0x41u8, 9, 9, 9, 9, 0, 0, 0];
        packet.resize(40, 0xaa);
        c1.header.local.apply(&mut packet, 1).unwrap();
        assert_eq!(s1.header.remote.remove(&mut packet, 1).unwrap(), 2);
        assert_eq!(&packet[..3], &[0x41, 9, 9]);

        // Key update (RFC 9001 §6): both sides derive the same next generation, which differs
        // from the current one; a second update works too.
        for _ in 0..2 {
            let (cn, sn) = (client.next_1rtt_keys().unwrap(), server.next_1rtt_keys().unwrap());
            assert_keys_match(&cn, &sn);
            let mut packet = vec![0x40u8, 1, 2, 3, 4];
            packet.extend_from_slice(b"after key update");
            packet.resize(packet.len() + 16, 0);
            cn.local.encrypt_packet(PathId::ZERO, 5, &mut packet, 5).unwrap();
            assert!(s1.packet.remote.decrypt_packet(PathId::ZERO, 5, &mut packet, 5).is_err());
        }

        let mut a = [0u8; 32];
        let mut b = [0u8; 32];
        client.export_keying_material(&mut a, b"EXPERIMENTAL test", None).unwrap();
        server.export_keying_material(&mut b, b"EXPERIMENTAL test", None).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn handshake_aes_128_gcm() {
        full_handshake(cipher_suite::TLS13_AES_128_GCM_SHA256);
    }

    #[test]
    fn handshake_aes_256_gcm() {
        full_handshake(cipher_suite::TLS13_AES_256_GCM_SHA384);
    }

    #[test]
    fn handshake_chacha20_poly1305() {
        full_handshake(cipher_suite::TLS13_CHACHA20_POLY1305_SHA256);
    }

    #[test]
    fn alpn_mismatch_is_crypto_error_0x178() {
        let err = match handshake(cipher_suite::TLS13_AES_128_GCM_SHA256, b"h3") {
            Err(e) => e,
            Ok(_) => panic!("handshake must fail"),
        };
        // RFC 9001 §8.1: no_application_protocol (120) as CRYPTO_ERROR 0x178.
        assert_eq!(err.code, TransportErrorCode(0x178));
    }

    #[test]
    fn garbage_handshake_bytes_are_crypto_errors() {
        let pki = pki();
        let (_, server_config) = configs(&pki, cipher_suite::TLS13_AES_128_GCM_SHA256, ALPN);
        let mut server = TlsSession::server(server_config, &server_params(), true).unwrap();
        // A handshake message of an unexpected type (ServerHello sent to a server).
        let err = server.read_handshake(&[2, 0, 0, 4, 3, 3, 0, 0]).unwrap_err();
        assert!((0x100..=0x1ff).contains(&err.code.0), "{err}");
        assert_eq!(server.peer_transport_parameters().unwrap(), None);
        assert!(server.next_1rtt_keys().is_none());
    }

    #[test]
    fn bad_configs_are_refused() {
        let pki = pki();
        let (client_config, server_config) = configs(&pki, cipher_suite::TLS13_AES_128_GCM_SHA256, ALPN);
        let mut early = (*server_config).clone();
        early.max_early_data_size = 5;
        assert!(matches!(
            TlsSession::server(Arc::new(early), &server_params(), true),
            Err(TlsConfigError::EarlyDataSize(5))
        ));
        let mut early = (*server_config).clone();
        early.max_early_data_size = u32::MAX;
        assert!(TlsSession::server(Arc::new(early), &server_params(), true).is_ok());
        let mut no_alpn = (*client_config).clone();
        no_alpn.alpn_protocols.clear();
        assert!(matches!(
            TlsSession::client(Arc::new(no_alpn), "localhost", &client_params()),
            Err(TlsConfigError::NoAlpn)
        ));
        assert!(matches!(
            TlsSession::client(client_config, "not a name!", &client_params()),
            Err(TlsConfigError::InvalidServerName(_))
        ));
    }

    #[test]
    fn zero_rtt_after_resumption() {
        let pki = pki();
        let (client_config, server_config) = configs(&pki, cipher_suite::TLS13_AES_128_GCM_SHA256, ALPN);
        let mut client_config = (*client_config).clone();
        client_config.enable_early_data = true;
        let mut server_config = (*server_config).clone();
        server_config.max_early_data_size = u32::MAX;
        let (client_config, server_config) = (Arc::new(client_config), Arc::new(server_config));

        // First connection: the client receives a session ticket at 1-RTT.
        let mut client = TlsSession::client(client_config.clone(), "localhost", &client_params()).unwrap();
        let mut server = TlsSession::server(server_config.clone(), &server_params(), true).unwrap();
        assert!(client.zero_rtt_keys().is_none());
        exchange(&mut client, &mut server, |_| {}).unwrap();

        // Second connection resumes and offers 0-RTT.
        let mut client = TlsSession::client(client_config, "localhost", &client_params()).unwrap();
        let mut server = TlsSession::server(server_config, &server_params(), true).unwrap();
        let mut client_0rtt = None;
        exchange(&mut client, &mut server, |c| client_0rtt = c.zero_rtt_keys()).unwrap();
        let client_0rtt = client_0rtt.expect("client has 0-RTT keys after a resumable ClientHello");
        let server_0rtt = server.zero_rtt_keys().expect("server accepted 0-RTT");
        assert!(client.is_early_data_accepted());
        // 0-RTT uses path 0's packet number space (RFC 10069 §4).
        assert_round_trip(&client_0rtt.packet, &server_0rtt.packet, PathId::ZERO, 0);
        let mut packet = vec![0xd1u8; 40];
        client_0rtt.header.apply(&mut packet, 10).unwrap();
        assert_eq!(server_0rtt.header.remove(&mut packet, 10).unwrap(), 2);
        assert_eq!(packet[0], 0xd1);
    }
}
