//! Transport parameters (RFC 9000 §18, RFC 10069 §2): the first byte picks the sender's side;
//! what decodes must round-trip.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(e) = mpquic_proto::fuzz::transport_parameters(data) {
        panic!("{e}");
    }
});
