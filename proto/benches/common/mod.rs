//! Shared setup of the proto benchmarks: real 1-RTT keys from an in-memory TLS 1.3 handshake
//! between two [`TlsSession`]s, and a builder for full-size protected 1-RTT packets.

#![allow(dead_code)]

use std::sync::Arc;

use mpquic_proto::crypto::{
    client_config_for_quic, quic_crypto_provider, server_config_for_quic, KeyChange, Keys, TlsSession,
};
use mpquic_proto::frame::encode_stream_header;
use mpquic_proto::packet::{encode_short_header, number};
use mpquic_proto::transport_parameters::TransportParameters;
use mpquic_proto::{ConnectionId, PathId, StreamId};
use rustls::crypto::ring::cipher_suite::{TLS13_AES_128_GCM_SHA256, TLS13_CHACHA20_POLY1305_SHA256};
use rustls::SupportedCipherSuite;

/// The Destination Connection ID of the benchmark packets (8 bytes, a common length).
pub const DCID: [u8; 8] = [0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08];

/// The two QUIC v1 suites benchmarked, with a label for the benchmark IDs.
pub fn suites() -> [(&'static str, SupportedCipherSuite); 2] {
    [("aes128gcm", TLS13_AES_128_GCM_SHA256), ("chacha20poly1305", TLS13_CHACHA20_POLY1305_SHA256)]
}

/// 1-RTT keys of both endpoints after a complete handshake.
pub struct OneRttKeys {
    /// The client's keys: `local` seals client-to-server packets.
    pub client: Keys,
    /// The server's keys: `remote` opens client-to-server packets.
    pub server: Keys,
}

/// Runs a TLS 1.3 handshake in memory between a client and a server [`TlsSession`] limited to
/// `suite`, with a fresh self-signed certificate, and returns both sides' 1-RTT keys.
pub fn one_rtt_keys(suite: SupportedCipherSuite) -> OneRttKeys {
    let mut provider = quic_crypto_provider();
    provider.cipher_suites.retain(|s| s.suite() == suite.suite());
    let provider = Arc::new(provider);
    let alpn = vec![b"mpquic-bench".to_vec()];

    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("certificate");
    let cert_der = rustls::pki_types::CertificateDer::from(cert.cert.der().to_vec());
    let key_der = rustls::pki_types::PrivateKeyDer::try_from(cert.signing_key.serialize_der()).expect("key");
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert_der.clone()).expect("root");
    let server_config =
        server_config_for_quic(provider.clone(), vec![cert_der], key_der, alpn.clone()).expect("server config");
    let client_config = client_config_for_quic(provider, roots, alpn).expect("client config");

    let params = TransportParameters::default();
    let mut client = TlsSession::client(Arc::new(client_config), "localhost", &params).expect("client session");
    let mut server = TlsSession::server(Arc::new(server_config), &params, false).expect("server session");

    let mut client_keys = None;
    let mut server_keys = None;
    // Ping-pong: each side writes everything it can (the bytes of one call belong to one
    // level, and the peer reads them in order), then the other side answers.
    for _ in 0..8 {
        pump(&mut client, &mut server, &mut client_keys);
        pump(&mut server, &mut client, &mut server_keys);
        if !client.is_handshaking() && !server.is_handshaking() && client_keys.is_some() && server_keys.is_some() {
            break;
        }
    }
    assert_eq!(client.negotiated_cipher_suite().map(|s| s.suite()), Some(suite.suite()));
    OneRttKeys { client: client_keys.expect("client 1-RTT keys"), server: server_keys.expect("server 1-RTT keys") }
}

/// Drains `from`'s handshake output into `to`, keeping `from`'s 1-RTT keys when they appear.
fn pump(from: &mut TlsSession, to: &mut TlsSession, one_rtt: &mut Option<Keys>) {
    loop {
        let mut buf = Vec::new();
        let change = from.write_handshake(&mut buf);
        if !buf.is_empty() {
            to.read_handshake(&buf).expect("handshake bytes accepted");
        }
        match change {
            Some(KeyChange::OneRtt { keys }) => *one_rtt = Some(keys),
            Some(KeyChange::Handshake { .. }) => {}
            None => break,
        }
    }
}

/// Builds a protected 1-RTT packet of exactly `size` bytes into `buf` (cleared first): short
/// header with packet number `pn`, one STREAM frame without a Length field filling the packet
/// with bytes from `data`, AEAD seal with `keys.packet.local`, then header protection with
/// `keys.header.local`. `largest_acked` sizes the packet number field (RFC 9000 §17.1).
pub fn build_packet(buf: &mut Vec<u8>, keys: &Keys, pn: u64, largest_acked: Option<u64>, size: usize, data: &[u8]) {
    let dcid = ConnectionId::new(&DCID).expect("cid");
    let tag_len = keys.packet.local.tag_len();
    buf.clear();
    let pn_len = number::encoded_len(pn, largest_acked);
    let layout = encode_short_header(buf, false, false, &dcid, pn, pn_len);
    let stream = StreamId(4);
    // As if each earlier packet had carried about 1 KiB of this stream.
    let offset = pn * 1024;
    encode_stream_header(buf, stream, offset, None, false);
    let room = size - buf.len() - tag_len;
    buf.extend_from_slice(&data[..room]);
    // Spare bytes for the AEAD tag.
    buf.resize(size, 0);
    keys.packet.local.encrypt_packet(PathId::ZERO, pn, buf, layout.header_len).expect("seal");
    keys.header.local.apply(buf, layout.pn_offset).expect("header protection");
}
