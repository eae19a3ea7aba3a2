//! Stream reassembly (RFC 9000 §2.2, §4.5): STREAM and RESET_STREAM frames in any order into a
//! receive stream; what is read must be the stream's bytes in order.
#![no_main]

use mpquic_proto::fuzz::StreamOp;

libfuzzer_sys::fuzz_target!(|ops: Vec<StreamOp>| {
    if let Err(e) = mpquic_proto::fuzz::stream_reassembly(&ops) {
        panic!("{e}");
    }
});
