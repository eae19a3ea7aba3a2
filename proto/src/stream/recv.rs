//! The receiving part of one stream (RFC 9000 §3.2): reassembly, stream-level flow control,
//! final-size rules (§4.5), RESET_STREAM, our STOP_SENDING, and the receive-side state machine.
//!
//! Connection-level credit is the caller's: every input reports how many new bytes of the
//! peer's connection credit the frame used (`new_bytes`) and how many bytes may be given back
//! to the connection window at once because they were discarded (`released`).

use core::time::Duration;

use bytes::Bytes;
use thiserror::Error;

use super::assembler::Assembler;
use super::flow_control::ReceiveWindow;
use crate::coding::VarInt;
use crate::error::TransportError;
use crate::Instant;

/// Receive-side stream states (RFC 9000 §3.2, Figure 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecvState {
    /// Receiving; the final size is unknown.
    Recv,
    /// The FIN arrived; the final size is known, some data is missing.
    SizeKnown,
    /// All data up to the final size arrived.
    DataRecvd,
    /// RESET_STREAM arrived.
    ResetRecvd,
    /// The application read all data (terminal).
    DataRead,
    /// The application learned of the reset (terminal).
    ResetRead,
}

/// Why [`Connection::read`](crate::Connection::read) returned no data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ReadError {
    /// No data is available yet; a `Readable` event follows when some is.
    #[error("no data available yet")]
    Blocked,
    /// The peer reset the stream with this application error code.
    #[error("stream reset by the peer with code {0}")]
    Reset(u64),
    /// The stream does not exist, has no receive side, was fully read, or we stopped it.
    #[error("stream closed or unknown")]
    ClosedStream,
}

/// What a frame did to the stream, for the connection-level bookkeeping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Received {
    /// Connection credit the frame used: the growth of the highest offset (RFC 9000 §4.1).
    pub new_bytes: u64,
    /// Bytes that were discarded and may be credited back to the connection window now.
    pub released: u64,
    /// Whether the application should be told the stream is readable.
    pub readable: bool,
}

/// The receiving part of one stream.
#[derive(Debug)]
pub struct RecvStream {
    state: RecvState,
    assembler: Assembler,
    /// Stream-level credit; `received()` is the highest offset seen.
    pub(super) window: ReceiveWindow,
    final_size: Option<u64>,
    reset_code: Option<u64>,
    /// Error code of the STOP_SENDING we sent; data arriving afterwards is discarded.
    stop_code: Option<u64>,
    /// Connection credit given back so far (read or discarded).
    released: u64,
}

impl RecvStream {
    /// A stream with a receive window of `window` bytes, growing up to `max_window`.
    pub fn new(window: u64, max_window: u64) -> Self {
        Self {
            state: RecvState::Recv,
            assembler: Assembler::new(),
            window: ReceiveWindow::new(window, max_window),
            final_size: None,
            reset_code: None,
            stop_code: None,
            released: 0,
        }
    }

    /// The current state.
    #[cfg(any(test, feature = "internals"))]
    pub fn state(&self) -> RecvState {
        self.state
    }

    /// The final size, once known.
    pub fn final_size(&self) -> Option<u64> {
        self.final_size
    }

    /// Whether the receive side can be forgotten: the application saw the end or the reset, or
    /// it stopped the stream and the final size is known (so connection credit is settled).
    pub fn is_done(&self) -> bool {
        matches!(self.state, RecvState::DataRead | RecvState::ResetRead)
            || (self.stop_code.is_some() && self.final_size.is_some())
    }

    /// Whether our STOP_SENDING still matters (a lost one must be sent again).
    pub fn wants_stop_sending(&self) -> Option<u64> {
        self.stop_code.filter(|_| self.final_size.is_none())
    }

    /// Whether a MAX_STREAM_DATA is useful: RFC 9000 §19.10, not once the final size is known.
    pub fn wants_max_stream_data(&self) -> bool {
        self.final_size.is_none() && self.stop_code.is_none() && self.window.should_update()
    }

    /// The limit for a MAX_STREAM_DATA frame sent at `now` (auto-tunes the window).
    pub fn poll_max_stream_data(&mut self, now: Instant, rtt: Duration) -> u64 {
        let unread = self.unread();
        self.window.poll_max_data(now, rtt, unread)
    }

    /// Data that is readable in order and that the application has not read yet.
    pub fn unread(&self) -> u64 {
        if self.stop_code.is_some() {
            return 0;
        }
        self.assembler.readable_bytes()
    }

    /// Gives back everything received and not yet released.
    fn discard(&mut self) -> u64 {
        self.assembler.clear();
        let target = self.final_size.unwrap_or(self.window.received());
        let released = target.saturating_sub(self.released);
        self.released = target.max(self.released);
        released
    }

    /// A STREAM frame: `data` at `offset`, with the FIN bit `fin`. `connection_available` is the
    /// connection credit left. Nothing changes when an error is returned.
    pub fn on_stream_frame(
        &mut self,
        offset: u64,
        data: Bytes,
        fin: bool,
        connection_available: u64,
    ) -> Result<Received, TransportError> {
        let end = offset
            .checked_add(data.len() as u64)
            .filter(|&e| e <= VarInt::MAX.into_inner())
            // RFC 9000 §19.8: offset + length above 2^62-1 is FRAME_ENCODING_ERROR or
            // FLOW_CONTROL_ERROR; it is certainly beyond any window.
            .ok_or_else(|| TransportError::FLOW_CONTROL_ERROR("stream offset beyond 2^62-1"))?;
        let highest = self.window.received();
        // RFC 9000 §4.5: data past a known final size, a different final size, or a final size
        // below data already received are FINAL_SIZE_ERRORs.
        if let Some(final_size) = self.final_size {
            if end > final_size || (fin && end != final_size) {
                return Err(TransportError::FINAL_SIZE_ERROR("STREAM frame inconsistent with the final size"));
            }
        }
        if fin && end < highest {
            return Err(TransportError::FINAL_SIZE_ERROR("FIN below data already received"));
        }
        let new_bytes = end.saturating_sub(highest);
        // RFC 9000 §4.1: a receiver MUST close with FLOW_CONTROL_ERROR when the sender exceeds
        // its limits.
        if !self.window.can_receive(new_bytes) {
            return Err(TransportError::FLOW_CONTROL_ERROR("stream data beyond MAX_STREAM_DATA"));
        }
        if new_bytes > connection_available {
            return Err(TransportError::FLOW_CONTROL_ERROR("stream data beyond MAX_DATA"));
        }
        self.window.on_received(new_bytes);
        if fin && self.final_size.is_none() {
            self.final_size = Some(end);
            if self.state == RecvState::Recv {
                self.state = RecvState::SizeKnown;
            }
        }
        let mut out = Received { new_bytes, ..Received::default() };
        match self.state {
            RecvState::Recv | RecvState::SizeKnown if self.stop_code.is_some() => out.released = self.discard(),
            RecvState::Recv | RecvState::SizeKnown => {
                let was_readable = self.assembler.is_readable();
                self.assembler.insert(offset, data);
                if self.final_size.is_some_and(|f| self.assembler.is_complete_up_to(f)) {
                    self.state = RecvState::DataRecvd;
                    out.readable = true;
                }
                out.readable |= !was_readable && self.assembler.is_readable();
            }
            // Duplicates after everything arrived, or after a reset: nothing to keep.
            _ => {}
        }
        Ok(out)
    }

    /// A RESET_STREAM frame (RFC 9000 §19.4). Nothing changes when an error is returned.
    pub fn on_reset(
        &mut self,
        error_code: u64,
        final_size: u64,
        connection_available: u64,
    ) -> Result<Received, TransportError> {
        let highest = self.window.received();
        // RFC 9000 §4.5.
        if self.final_size.is_some_and(|f| f != final_size) {
            return Err(TransportError::FINAL_SIZE_ERROR("RESET_STREAM changes the final size"));
        }
        if final_size < highest {
            return Err(TransportError::FINAL_SIZE_ERROR("RESET_STREAM final size below data received"));
        }
        let new_bytes = final_size - highest;
        if !self.window.can_receive(new_bytes) {
            return Err(TransportError::FLOW_CONTROL_ERROR("RESET_STREAM final size beyond MAX_STREAM_DATA"));
        }
        if new_bytes > connection_available {
            return Err(TransportError::FLOW_CONTROL_ERROR("RESET_STREAM final size beyond MAX_DATA"));
        }
        self.window.on_received(new_bytes);
        self.final_size = Some(final_size);
        let mut out = Received { new_bytes, ..Received::default() };
        match self.state {
            RecvState::Recv | RecvState::SizeKnown => {
                self.reset_code = Some(error_code);
                self.state = RecvState::ResetRecvd;
                out.released = self.discard();
                out.readable = self.stop_code.is_none();
                if self.stop_code.is_some() {
                    // The application already gave up on the stream: nobody will read the reset.
                    self.state = RecvState::ResetRead;
                }
            }
            // RFC 9000 §3.2: in Data Recvd all data is here; we keep delivering it.
            _ => {}
        }
        Ok(out)
    }

    /// Reads up to `max_len` bytes in order. `Ok(None)` means the stream ended (FIN) and all
    /// data was read. Returns the connection credit released alongside.
    pub fn read(&mut self, max_len: usize) -> Result<Option<(u64, Bytes)>, ReadError> {
        if self.stop_code.is_some() {
            return Err(ReadError::ClosedStream);
        }
        match self.state {
            RecvState::ResetRecvd => {
                self.state = RecvState::ResetRead;
                return Err(ReadError::Reset(self.reset_code.unwrap_or(0)));
            }
            RecvState::ResetRead | RecvState::DataRead => return Err(ReadError::ClosedStream),
            _ => {}
        }
        if let Some((offset, data)) = self.assembler.read(max_len) {
            let n = data.len() as u64;
            self.released += n;
            self.window.on_consumed(n);
            return Ok(Some((offset, data)));
        }
        if self.state == RecvState::DataRecvd && self.final_size == Some(self.assembler.bytes_read()) {
            self.state = RecvState::DataRead;
            return Ok(None);
        }
        Err(ReadError::Blocked)
    }

    /// The application no longer wants the data (RFC 9000 §3.5). Returns
    /// `(send STOP_SENDING, bytes released)`.
    pub fn stop(&mut self, error_code: u64) -> (bool, u64) {
        if self.stop_code.is_some() || matches!(self.state, RecvState::DataRead | RecvState::ResetRead) {
            return (false, 0);
        }
        self.stop_code = Some(error_code);
        let released = self.discard();
        let send_frame = matches!(self.state, RecvState::Recv | RecvState::SizeKnown);
        if !send_frame {
            self.state = if self.state == RecvState::DataRecvd { RecvState::DataRead } else { RecvState::ResetRead };
        }
        (send_frame, released)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TransportErrorCode;

    fn b(s: &'static str) -> Bytes {
        Bytes::from_static(s.as_bytes())
    }

    #[test]
    fn states_to_data_read() {
        let mut r = RecvStream::new(100, 100);
        assert_eq!(r.read(10), Err(ReadError::Blocked));
        let o = r.on_stream_frame(3, b("def"), true, 1000).unwrap();
        assert_eq!(o, Received { new_bytes: 6, released: 0, readable: false });
        assert_eq!(r.state(), RecvState::SizeKnown);
        let o = r.on_stream_frame(0, b("abc"), false, 1000).unwrap();
        assert_eq!(o, Received { new_bytes: 0, released: 0, readable: true });
        assert_eq!(r.state(), RecvState::DataRecvd);
        // Pieces are delivered as they arrived, never merged (no copy).
        assert_eq!(r.read(4), Ok(Some((0, b("abc")))));
        assert_eq!(r.read(2), Ok(Some((3, b("de")))));
        assert_eq!(r.read(4), Ok(Some((5, b("f")))));
        assert!(!r.is_done());
        assert_eq!(r.read(4), Ok(None));
        assert_eq!(r.state(), RecvState::DataRead);
        assert!(r.is_done());
        assert_eq!(r.read(4), Err(ReadError::ClosedStream));
    }

    #[test]
    fn final_size_errors() {
        let code = |r: Result<Received, TransportError>| r.unwrap_err().code;
        let mut r = RecvStream::new(100, 100);
        r.on_stream_frame(0, b("abcdef"), false, 1000).unwrap();
        // FIN below data received.
        assert_eq!(code(r.on_stream_frame(0, b("abc"), true, 1000)), TransportErrorCode::FINAL_SIZE_ERROR);
        r.on_stream_frame(6, b("g"), true, 1000).unwrap();
        // Data past the final size, a different final size.
        assert_eq!(code(r.on_stream_frame(7, b("h"), false, 1000)), TransportErrorCode::FINAL_SIZE_ERROR);
        assert_eq!(code(r.on_stream_frame(0, b("ab"), true, 1000)), TransportErrorCode::FINAL_SIZE_ERROR);
        assert_eq!(code(r.on_reset(0, 8, 1000)), TransportErrorCode::FINAL_SIZE_ERROR);
        // The same final size again is fine.
        assert!(r.on_stream_frame(0, b("abcdefg"), true, 1000).is_ok());
        assert!(r.on_reset(0, 7, 1000).is_ok());
        // Reset below the highest offset received.
        let mut r = RecvStream::new(100, 100);
        r.on_stream_frame(0, b("abcdef"), false, 1000).unwrap();
        assert_eq!(code(r.on_reset(1, 3, 1000)), TransportErrorCode::FINAL_SIZE_ERROR);
    }

    #[test]
    fn flow_control_errors() {
        let code = |r: Result<Received, TransportError>| r.unwrap_err().code;
        let mut r = RecvStream::new(4, 4);
        assert_eq!(code(r.on_stream_frame(0, b("abcde"), false, 1000)), TransportErrorCode::FLOW_CONTROL_ERROR);
        assert_eq!(code(r.on_stream_frame(0, b("abc"), false, 2)), TransportErrorCode::FLOW_CONTROL_ERROR);
        assert_eq!(code(r.on_reset(0, 5, 1000)), TransportErrorCode::FLOW_CONTROL_ERROR);
        assert_eq!(
            code(r.on_stream_frame(u64::MAX - 1, b("abc"), false, 1000)),
            TransportErrorCode::FLOW_CONTROL_ERROR
        );
        // Nothing changed on error.
        assert_eq!(r.on_stream_frame(0, b("abcd"), false, 4).unwrap().new_bytes, 4);
    }

    #[test]
    fn reset_then_read() {
        let mut r = RecvStream::new(100, 100);
        r.on_stream_frame(0, b("abc"), false, 1000).unwrap();
        let o = r.on_reset(9, 10, 1000).unwrap();
        // 7 new bytes of credit used; all 10 given back.
        assert_eq!(o, Received { new_bytes: 7, released: 10, readable: true });
        assert_eq!(r.state(), RecvState::ResetRecvd);
        assert_eq!(r.read(10), Err(ReadError::Reset(9)));
        assert_eq!(r.state(), RecvState::ResetRead);
        assert!(r.is_done());
        // Late data is ignored.
        assert_eq!(r.on_stream_frame(3, b("d"), false, 1000).unwrap().new_bytes, 0);
    }

    #[test]
    fn reset_in_data_recvd_is_ignored() {
        let mut r = RecvStream::new(100, 100);
        r.on_stream_frame(0, b("abc"), true, 1000).unwrap();
        r.on_reset(1, 3, 1000).unwrap();
        assert_eq!(r.state(), RecvState::DataRecvd);
        assert_eq!(r.read(10), Ok(Some((0, b("abc")))));
    }

    #[test]
    fn stop_sending_discards() {
        let mut r = RecvStream::new(100, 100);
        r.on_stream_frame(0, b("abc"), false, 1000).unwrap();
        assert_eq!(r.stop(5), (true, 3));
        assert_eq!(r.wants_stop_sending(), Some(5));
        assert_eq!(r.read(10), Err(ReadError::ClosedStream));
        let o = r.on_stream_frame(3, b("de"), false, 1000).unwrap();
        assert_eq!((o.new_bytes, o.released), (2, 2));
        assert!(!r.is_done());
        let o = r.on_reset(5, 8, 1000).unwrap();
        assert_eq!((o.new_bytes, o.released, o.readable), (3, 3, false));
        assert!(r.is_done());
        assert_eq!(r.wants_stop_sending(), None);
    }
}
