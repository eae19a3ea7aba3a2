//! QUIC frames (RFC 9000 §12.4, §19; RFC 9221; draft-ietf-quic-multipath-21 §4).

mod stream;
mod types;

pub use stream::{
    encode_stream_header, stream_header_len, STREAM_BASE_TYPE, STREAM_FIN_BIT, STREAM_LEN_BIT, STREAM_OFF_BIT,
};
pub use types::FrameType;
