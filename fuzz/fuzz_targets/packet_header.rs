//! Packet header decoding (RFC 9000 §17), then the same bytes as a datagram to a server
//! endpoint: routing, version negotiation, the Initial checks and stateless resets.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(e) = mpquic_proto::fuzz::packet_header(data) {
        panic!("{e}");
    }
    mpquic_fuzz::datagram_to_server(data);
});
