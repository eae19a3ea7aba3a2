//! Every frame decoder, the multipath frames included (RFC 9000 §19, RFC 9221, RFC 10069 §4):
//! the first byte picks the code points (none, RFC 10069, draft-13…-18), the rest is a packet
//! payload; every decoded frame must re-encode to itself.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(e) = mpquic_proto::fuzz::frames(data) {
        panic!("{e}");
    }
});
