//! ACK ranges into recovery (RFC 9002 Appendix A): sends, skipped packet numbers, ACK frames
//! from the fuzzer, timeouts and handshake milestones on one path's recovery.
#![no_main]

use mpquic_proto::fuzz::RecoveryOp;

libfuzzer_sys::fuzz_target!(|ops: Vec<RecoveryOp>| {
    if let Err(e) = mpquic_proto::fuzz::ack_ranges_into_recovery(&ops) {
        panic!("{e}");
    }
});
