//! Handshakes between a client and a server endpoint over the in-memory network.

mod common;

use common::Pair;
use mpquic_proto::TransportConfig;

#[test]
fn handshake_completes() {
    let mut pair = Pair::new(1, TransportConfig::default());
    let (c, s) = pair.connect_default();
    let client = pair.client.connection(c).unwrap();
    assert_eq!(client.alpn_protocol(), Some(common::ALPN));
    assert!(!client.is_handshaking());
    let server = pair.server.connection(s).unwrap();
    assert!(!server.is_handshaking());
}
