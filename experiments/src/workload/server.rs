//! The server application: reads each request, answers with the bytes it asks for; sends the
//! datagram flow of a datagram workload.

use bytes::{BufMut, BytesMut};
use mpquic_proto::{Connection, Dir, StreamId};

use crate::scenario::Workload;
use crate::sim::{ms_to_nanos, Nanos};

#[derive(Debug)]
struct Request {
    stream: StreamId,
    header: BytesMut,
    /// Response bytes still to write, once the request header is complete.
    remaining: Option<u64>,
    /// Response bytes written (the stream offset of the next one).
    written: u64,
    done: bool,
}

/// The server side of a workload.
#[derive(Debug)]
pub struct ServerApp {
    requests: Vec<Request>,
    /// Datagram flow: (size, period, count) and the next sequence number.
    datagrams: Option<(u64, Nanos, u32)>,
    next_datagram: u32,
    base: Option<Nanos>,
}

impl ServerApp {
    /// A server for `workload`.
    pub fn new(workload: &Workload) -> Self {
        let datagrams = match *workload {
            Workload::Datagrams { bytes, interval_ms, count } => Some((bytes, ms_to_nanos(interval_ms), count)),
            _ => None,
        };
        Self { requests: Vec::new(), datagrams, next_datagram: 0, base: None }
    }

    /// Next time a datagram is due.
    pub fn next_wakeup(&self) -> Option<Nanos> {
        let (_, period, count) = self.datagrams?;
        if self.next_datagram >= count {
            return None;
        }
        Some(self.base? + period * u64::from(self.next_datagram))
    }

    /// When the last datagram of a datagram flow was sent (`None` before, or without a flow).
    pub fn datagrams_finished_at(&self) -> Option<Nanos> {
        let (_, period, count) = self.datagrams?;
        (self.next_datagram >= count).then(|| self.base.unwrap_or(0) + period * u64::from(count.saturating_sub(1)))
    }

    /// Accepts and reads requests, writes responses as flow control allows, sends due datagrams.
    pub fn drive(&mut self, now: Nanos, conn: &mut Connection) {
        if conn.is_handshaking() || conn.is_closed() {
            return;
        }
        let base = *self.base.get_or_insert(now);
        while let Some(stream) = conn.accept_stream(Dir::Bi) {
            self.requests.push(Request { stream, header: BytesMut::new(), remaining: None, written: 0, done: false });
        }
        for r in self.requests.iter_mut().filter(|r| !r.done) {
            if r.remaining.is_none() {
                loop {
                    match conn.read(r.stream, usize::MAX) {
                        Ok(Some(chunk)) => {
                            if r.header.len() < super::REQUEST_HEADER_BYTES {
                                let take = (super::REQUEST_HEADER_BYTES - r.header.len()).min(chunk.bytes.len());
                                r.header.put_slice(&chunk.bytes[..take]);
                            }
                        }
                        Ok(None) => {
                            match super::decode_request_header(&r.header) {
                                Some((_id, response_bytes)) => r.remaining = Some(response_bytes),
                                None => r.done = true, // malformed: ignore
                            }
                            break;
                        }
                        Err(mpquic_proto::ReadError::Blocked) => break,
                        Err(_) => {
                            r.done = true;
                            break;
                        }
                    }
                }
            }
            while let Some(left) = r.remaining {
                if left == 0 {
                    let _ = conn.finish(r.stream);
                    r.done = true;
                    break;
                }
                match conn.write_bytes(r.stream, super::pattern_chunk(r.written, left)) {
                    Ok(0) | Err(_) => break,
                    Ok(w) => {
                        r.remaining = Some(left - w as u64);
                        r.written += w as u64;
                    }
                }
            }
        }
        self.requests.retain(|r| !r.done);
        if let Some((size, period, count)) = self.datagrams {
            while self.next_datagram < count && base + period * u64::from(self.next_datagram) <= now {
                let mut d = BytesMut::with_capacity(size as usize);
                d.put_u64(u64::from(self.next_datagram));
                d.put_u64(now);
                d.resize(size as usize, 0);
                let _ = conn.send_datagram(d.freeze());
                self.next_datagram += 1;
            }
        }
    }
}
