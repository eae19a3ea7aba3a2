//! [`SendStream`] and [`RecvStream`]: the two halves of QUIC streams, as tokio `AsyncWrite` /
//! `AsyncRead` and as chunk-oriented async methods.
//!
//! Backpressure: a write takes only what flow control and the send buffer allow; when proto
//! says `Blocked` the write is pending until the stream's `StreamWritable` event. A read is
//! pending until `StreamReadable`. Every future here is cancellation-safe: data is taken from
//! or handed to the caller only in the poll that returns `Ready`.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use mpquic_proto as proto;
use proto::{ConnectionError, StreamId, VarInt};
use proto::{ReadError as ProtoReadError, WriteError as ProtoWriteError};
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::connection::ConnRef;

/// Why a write failed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum WriteError {
    /// The peer asked us to stop sending (STOP_SENDING) with this code.
    #[error("stopped by the peer with code {0}")]
    Stopped(u64),
    /// The connection ended.
    #[error("connection lost: {0}")]
    ConnectionLost(#[from] ConnectionError),
    /// The stream was finished or reset already.
    #[error("stream closed")]
    ClosedStream,
}

/// Why a read failed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// The peer reset the stream with this code.
    #[error("reset by the peer with code {0}")]
    Reset(u64),
    /// The connection ended.
    #[error("connection lost: {0}")]
    ConnectionLost(#[from] ConnectionError),
    /// The stream was stopped or read to its end already.
    #[error("stream closed")]
    ClosedStream,
}

/// Why [`RecvStream::read_to_end`] failed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ReadToEndError {
    /// Reading failed.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The stream carried more than the limit.
    #[error("stream longer than the {0}-byte limit")]
    TooLong(usize),
}

impl From<WriteError> for io::Error {
    fn from(e: WriteError) -> Self {
        let kind = match e {
            WriteError::Stopped(_) => io::ErrorKind::ConnectionReset,
            WriteError::ConnectionLost(_) => io::ErrorKind::ConnectionAborted,
            WriteError::ClosedStream => io::ErrorKind::NotConnected,
        };
        io::Error::new(kind, e)
    }
}

impl From<ReadError> for io::Error {
    fn from(e: ReadError) -> Self {
        let kind = match e {
            ReadError::Reset(_) => io::ErrorKind::ConnectionReset,
            ReadError::ConnectionLost(_) => io::ErrorKind::ConnectionAborted,
            ReadError::ClosedStream => io::ErrorKind::NotConnected,
        };
        io::Error::new(kind, e)
    }
}

/// The sending half of a stream. Dropping it finishes the stream (FIN) unless it was reset.
#[derive(Debug)]
pub struct SendStream {
    conn: ConnRef,
    id: StreamId,
    /// Finished or reset by us.
    done: bool,
}

impl SendStream {
    pub(crate) fn new(conn: ConnRef, id: StreamId) -> Self {
        Self { conn, id, done: false }
    }

    /// The stream's ID.
    pub fn id(&self) -> StreamId {
        self.id
    }

    /// Takes as much of `data` as the stream accepts now (at least one byte), waiting if none.
    pub fn poll_write_bytes(&mut self, cx: &mut Context<'_>, data: &mut Bytes) -> Poll<Result<usize, WriteError>> {
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let id = self.id;
        let chunk = data.clone();
        let r = self.write_with(cx, |c| c.write_bytes(id, chunk));
        if let Poll::Ready(Ok(n)) = r {
            let _ = data.split_to(n);
        }
        r
    }

    fn poll_write_slice(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<Result<usize, WriteError>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let id = self.id;
        self.write_with(cx, |c| match c.write(id, buf) {
            // proto's copying `write` reports a full buffer as Ok(0) without arming the
            // Writable event; a one-byte write_bytes either fits or does both.
            Ok(0) => c.write_bytes(id, Bytes::copy_from_slice(&buf[..1])),
            r => r,
        })
    }

    fn write_with(
        &mut self,
        cx: &mut Context<'_>,
        f: impl FnOnce(&mut proto::Connection) -> Result<usize, ProtoWriteError>,
    ) -> Poll<Result<usize, WriteError>> {
        let mut st = self.conn.shared.lock();
        match st.with_conn(self.conn.id, f) {
            Err(e) => Poll::Ready(Err(e.into())),
            Ok(Ok(n)) => Poll::Ready(Ok(n)),
            Ok(Err(ProtoWriteError::Blocked)) => {
                if let Some(c) = st.conns.get_mut(&self.conn.id) {
                    c.writers.insert(self.id, cx.waker().clone());
                }
                Poll::Pending
            }
            Ok(Err(ProtoWriteError::Stopped(code))) => Poll::Ready(Err(WriteError::Stopped(code))),
            Ok(Err(ProtoWriteError::ClosedStream)) => {
                Poll::Ready(Err(st.conn_error(self.conn.id).map_or(WriteError::ClosedStream, WriteError::from)))
            }
        }
    }

    /// Writes some of `buf`, waiting for room; returns how much was taken.
    pub async fn write(&mut self, buf: &[u8]) -> Result<usize, WriteError> {
        poll_fn(|cx| self.poll_write_slice(cx, buf)).await
    }

    /// Writes all of `buf`.
    pub async fn write_all(&mut self, mut buf: &[u8]) -> Result<(), WriteError> {
        while !buf.is_empty() {
            let n = self.write(buf).await?;
            buf = &buf[n..];
        }
        Ok(())
    }

    /// Writes all of `data` without copying it.
    pub async fn write_chunk(&mut self, mut data: Bytes) -> Result<(), WriteError> {
        while !data.is_empty() {
            poll_fn(|cx| self.poll_write_bytes(cx, &mut data)).await?;
        }
        Ok(())
    }

    /// Ends the stream after the data written so far (FIN).
    pub fn finish(&mut self) -> Result<(), WriteError> {
        let id = self.id;
        let r = self.conn.shared.lock().with_conn(self.conn.id, |c| c.finish(id))?;
        self.done = true;
        r.map_err(|e| match e {
            ProtoWriteError::Stopped(code) => WriteError::Stopped(code),
            _ => WriteError::ClosedStream,
        })
    }

    /// Abandons the stream (RESET_STREAM with `code`).
    pub fn reset(&mut self, code: VarInt) -> Result<(), WriteError> {
        let id = self.id;
        let r = self.conn.shared.lock().with_conn(self.conn.id, |c| c.reset(id, code))?;
        self.done = true;
        r.map_err(|_| WriteError::ClosedStream)
    }

    /// Waits until everything written and the FIN were acknowledged (`Ok(None)`), or the peer
    /// stopped the stream (`Ok(Some(code))`).
    pub async fn stopped(&mut self) -> Result<Option<u64>, ConnectionError> {
        let id = self.id;
        poll_fn(|cx| {
            let mut st = self.conn.shared.lock();
            let err = st.conn_error(self.conn.id);
            let Some(c) = st.conns.get_mut(&self.conn.id) else {
                return Poll::Ready(Err(ConnectionError::LocallyClosed));
            };
            if let Some(code) = c.stopped.get(&id) {
                return Poll::Ready(Ok(Some(*code)));
            }
            if c.finished.contains(&id) {
                return Poll::Ready(Ok(None));
            }
            if let Some(e) = err {
                return Poll::Ready(Err(e));
            }
            c.writers.insert(id, cx.waker().clone());
            Poll::Pending
        })
        .await
    }
}

impl Drop for SendStream {
    fn drop(&mut self) {
        let mut st = self.conn.shared.lock();
        if let Some(c) = st.conns.get_mut(&self.conn.id) {
            c.writers.remove(&self.id);
            c.finished.remove(&self.id);
            c.stopped.remove(&self.id);
        }
        if !self.done {
            let id = self.id;
            let _ = st.with_conn(self.conn.id, |c| c.finish(id));
        }
    }
}

impl AsyncWrite for SendStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.get_mut().poll_write_slice(cx, buf).map_err(io::Error::from)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Written data is in the connection's send buffer; the driver sends it as congestion
        // control allows. There is nothing to flush from here.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(Ok(()));
        }
        Poll::Ready(this.finish().map_err(io::Error::from))
    }
}

/// The receiving half of a stream. Dropping it before the end asks the peer to stop sending
/// (STOP_SENDING with code 0).
#[derive(Debug)]
pub struct RecvStream {
    conn: ConnRef,
    id: StreamId,
    /// Read to the end, reset seen, or stopped by us.
    done: bool,
    /// Part of a chunk that did not fit the caller's buffer.
    pending: Bytes,
}

impl RecvStream {
    pub(crate) fn new(conn: ConnRef, id: StreamId) -> Self {
        Self { conn, id, done: false, pending: Bytes::new() }
    }

    /// The stream's ID.
    pub fn id(&self) -> StreamId {
        self.id
    }

    /// The next chunk of at most `max_len` bytes in order; `None` at the end of the stream.
    pub fn poll_read_chunk(&mut self, cx: &mut Context<'_>, max_len: usize) -> Poll<Result<Option<Bytes>, ReadError>> {
        if !self.pending.is_empty() {
            let n = self.pending.len().min(max_len);
            return Poll::Ready(Ok(Some(self.pending.split_to(n))));
        }
        if self.done {
            return Poll::Ready(Ok(None));
        }
        let id = self.id;
        let mut st = self.conn.shared.lock();
        match st.with_conn(self.conn.id, |c| c.read(id, max_len)) {
            Err(e) => Poll::Ready(Err(e.into())),
            Ok(Ok(Some(chunk))) => Poll::Ready(Ok(Some(chunk.bytes))),
            Ok(Ok(None)) => {
                self.done = true;
                Poll::Ready(Ok(None))
            }
            Ok(Err(ProtoReadError::Blocked)) => {
                if let Some(e) = st.conn_error(self.conn.id) {
                    return Poll::Ready(Err(e.into()));
                }
                if let Some(c) = st.conns.get_mut(&self.conn.id) {
                    c.readers.insert(id, cx.waker().clone());
                }
                Poll::Pending
            }
            Ok(Err(ProtoReadError::Reset(code))) => {
                self.done = true;
                Poll::Ready(Err(ReadError::Reset(code)))
            }
            Ok(Err(ProtoReadError::ClosedStream)) => {
                Poll::Ready(Err(st.conn_error(self.conn.id).map_or(ReadError::ClosedStream, ReadError::from)))
            }
        }
    }

    /// The next chunk of at most `max_len` bytes in order, without copying; `None` at the end.
    pub async fn read_chunk(&mut self, max_len: usize) -> Result<Option<Bytes>, ReadError> {
        poll_fn(|cx| self.poll_read_chunk(cx, max_len)).await
    }

    /// Reads into `buf`; `None` at the end of the stream.
    pub async fn read(&mut self, buf: &mut [u8]) -> Result<Option<usize>, ReadError> {
        let chunk = self.read_chunk(buf.len()).await?;
        Ok(chunk.map(|c| {
            buf[..c.len()].copy_from_slice(&c);
            c.len()
        }))
    }

    /// Reads the whole stream, failing if it is longer than `limit` bytes.
    pub async fn read_to_end(&mut self, limit: usize) -> Result<Vec<u8>, ReadToEndError> {
        let mut out = Vec::new();
        while let Some(chunk) = self.read_chunk(usize::MAX).await? {
            if out.len() + chunk.len() > limit {
                let _ = self.stop(VarInt::from_u32(0));
                return Err(ReadToEndError::TooLong(limit));
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }

    /// Discards the rest of the stream and asks the peer to stop sending (STOP_SENDING).
    pub fn stop(&mut self, code: VarInt) -> Result<(), ReadError> {
        let id = self.id;
        self.done = true;
        self.pending = Bytes::new();
        let r = self.conn.shared.lock().with_conn(self.conn.id, |c| c.stop_sending(id, code))?;
        r.map_err(|_| ReadError::ClosedStream)
    }
}

impl Drop for RecvStream {
    fn drop(&mut self) {
        let mut st = self.conn.shared.lock();
        if let Some(c) = st.conns.get_mut(&self.conn.id) {
            c.readers.remove(&self.id);
        }
        if !self.done {
            let id = self.id;
            let _ = st.with_conn(self.conn.id, |c| c.stop_sending(id, VarInt::from_u32(0)));
        }
    }
}

impl AsyncRead for RecvStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        match this.poll_read_chunk(cx, buf.remaining()) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(None)) => Poll::Ready(Ok(())),
            Poll::Ready(Ok(Some(chunk))) => {
                buf.put_slice(&chunk);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e.into())),
        }
    }
}
