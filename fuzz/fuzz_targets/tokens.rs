//! Retry and NEW_TOKEN token validation (RFC 9000 §8.1) and the Retry integrity tag
//! (RFC 9001 §5.8).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(e) = mpquic_proto::fuzz::tokens(data) {
        panic!("{e}");
    }
});
