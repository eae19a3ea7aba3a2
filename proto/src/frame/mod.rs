//! QUIC frames (RFC 9000 §12.4, §19; RFC 9221; draft-ietf-quic-multipath-21 §4).
//!
//! Placeholder: the codec lands in the next commit.

mod types;

pub use types::FrameType;
