//! STREAM frame header layout (RFC 9000 §19.8), shared by the codec and the stream layer so that
//! both agree on how much room a frame takes.

use bytes::BufMut;

use crate::coding::{put_varint, varint_size};
use crate::shared::StreamId;

/// The OFF bit of a STREAM frame type.
pub const STREAM_OFF_BIT: u8 = 0x04;
/// The LEN bit of a STREAM frame type.
pub const STREAM_LEN_BIT: u8 = 0x02;
/// The FIN bit of a STREAM frame type.
pub const STREAM_FIN_BIT: u8 = 0x01;
/// The base STREAM frame type (0x08..=0x0f).
pub const STREAM_BASE_TYPE: u8 = 0x08;

/// Bytes taken by a STREAM frame header for stream `id` at `offset`. With `Some(len)` the frame
/// carries an explicit Length field; with `None` it runs to the end of the packet.
pub fn stream_header_len(id: StreamId, offset: u64, len: Option<usize>) -> usize {
    1 + varint_size(id.0) + if offset == 0 { 0 } else { varint_size(offset) } + len.map_or(0, |l| varint_size(l as u64))
}

/// Writes a STREAM frame header; the caller appends exactly `len` bytes of data after it (or, with
/// `len == None`, fills the rest of the packet).
pub fn encode_stream_header<B: BufMut + ?Sized>(buf: &mut B, id: StreamId, offset: u64, len: Option<usize>, fin: bool) {
    let mut ty = STREAM_BASE_TYPE;
    if offset != 0 {
        ty |= STREAM_OFF_BIT;
    }
    if len.is_some() {
        ty |= STREAM_LEN_BIT;
    }
    if fin {
        ty |= STREAM_FIN_BIT;
    }
    buf.put_u8(ty);
    put_varint(buf, id.0);
    if offset != 0 {
        put_varint(buf, offset);
    }
    if let Some(len) = len {
        put_varint(buf, len as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_len_matches_encoding() {
        for (id, off, len) in [(0u64, 0u64, None), (4, 1 << 20, Some(1000usize)), (1 << 40, 63, Some(0))] {
            let mut buf = Vec::new();
            encode_stream_header(&mut buf, StreamId(id), off, len, true);
            assert_eq!(buf.len(), stream_header_len(StreamId(id), off, len));
        }
    }
}
