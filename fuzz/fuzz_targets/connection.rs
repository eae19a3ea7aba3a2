//! A structure-aware connection target: after a real handshake and a second path, a sequence
//! of valid and invalid frames, raw payloads, time steps and application calls goes into the
//! server's connection.
#![no_main]

use mpquic_fuzz::ConnectionOp;

libfuzzer_sys::fuzz_target!(|ops: Vec<ConnectionOp>| {
    mpquic_fuzz::run_connection(&ops);
});
