//! Files read and written on threads of their own, so that the single-threaded runtime that
//! drives the connections never waits for a disk, and no chunk takes a trip through tokio's
//! blocking pool (`tokio::fs` sends every call there: at a few GB/s of 1.4 kB stream chunks that
//! alone made the client 7x slower than the stack).

use std::fs::File;
use std::io::{self, IoSlice, Read as _, Write as _};
use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use tokio::sync::mpsc;

/// Bytes a reader reads at once, and that a writer gathers before one `writev`.
pub(crate) const CHUNK_BYTES: usize = 1 << 20;
/// Chunks in flight between a file thread and its task.
const QUEUE: usize = 4;

/// A file read on its own thread, chunk by chunk.
#[derive(Debug)]
pub(crate) struct FileReader {
    rx: mpsc::Receiver<io::Result<Bytes>>,
}

impl FileReader {
    /// Opens `path` (errors come back here) and starts reading it.
    pub(crate) fn open(path: &Path) -> io::Result<Self> {
        let mut file = File::open(path)?;
        let (tx, rx) = mpsc::channel(QUEUE);
        std::thread::Builder::new().name("hq-read".into()).spawn(move || loop {
            let mut buf = BytesMut::zeroed(CHUNK_BYTES);
            let n = match file.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            };
            buf.truncate(n);
            // The task dropped the reader (stream reset, connection lost): stop reading.
            if tx.blocking_send(Ok(buf.freeze())).is_err() {
                return;
            }
        })?;
        Ok(Self { rx })
    }

    /// The next chunk; `None` at the end of the file.
    pub(crate) async fn next(&mut self) -> Option<io::Result<Bytes>> {
        self.rx.recv().await
    }
}

/// A file written on its own thread: chunks are gathered up to [`CHUNK_BYTES`] and written
/// with one `writev`, never copied.
#[derive(Debug)]
pub(crate) struct FileWriter {
    tx: Option<mpsc::Sender<Vec<Bytes>>>,
    pending: Vec<Bytes>,
    pending_bytes: usize,
    thread: Option<std::thread::JoinHandle<io::Result<()>>>,
    path: PathBuf,
}

impl FileWriter {
    /// Creates (or truncates) `path`.
    pub(crate) fn create(path: &Path) -> io::Result<Self> {
        let mut file = File::create(path)?;
        let (tx, mut rx) = mpsc::channel::<Vec<Bytes>>(QUEUE);
        let thread = std::thread::Builder::new().name("hq-write".into()).spawn(move || {
            while let Some(chunks) = rx.blocking_recv() {
                write_all_vectored(&mut file, &chunks)?;
            }
            file.flush()
        })?;
        Ok(Self { tx: Some(tx), pending: Vec::new(), pending_bytes: 0, thread: Some(thread), path: path.into() })
    }

    /// Queues `chunk`; hands a batch to the thread when one is full.
    pub(crate) async fn write(&mut self, chunk: Bytes) -> io::Result<()> {
        self.pending_bytes += chunk.len();
        self.pending.push(chunk);
        if self.pending_bytes >= CHUNK_BYTES {
            self.hand_over().await?;
        }
        Ok(())
    }

    async fn hand_over(&mut self) -> io::Result<()> {
        let batch = std::mem::take(&mut self.pending);
        self.pending_bytes = 0;
        let sent = match &self.tx {
            Some(tx) => tx.send(batch).await.is_ok(),
            None => false,
        };
        if !sent {
            // The thread ended early, so a write failed: report why.
            self.join().await?;
            return Err(io::Error::other(format!("writing {} stopped", self.path.display())));
        }
        Ok(())
    }

    /// Writes what is left and waits until the file is complete.
    pub(crate) async fn finish(mut self) -> io::Result<()> {
        if !self.pending.is_empty() {
            self.hand_over().await?;
        }
        self.join().await
    }

    /// Closes the queue and waits for the thread's result.
    async fn join(&mut self) -> io::Result<()> {
        self.tx = None;
        let Some(thread) = self.thread.take() else { return Ok(()) };
        let path = self.path.display().to_string();
        match tokio::task::spawn_blocking(move || thread.join()).await {
            Ok(Ok(result)) => result,
            _ => Err(io::Error::other(format!("the thread writing {path} panicked"))),
        }
    }
}

/// `writev` until every byte of `chunks` is written.
fn write_all_vectored(file: &mut File, chunks: &[Bytes]) -> io::Result<()> {
    let mut slices: Vec<IoSlice<'_>> = chunks.iter().map(|c| IoSlice::new(c)).collect();
    let mut rest = &mut slices[..];
    while !rest.is_empty() {
        match file.write_vectored(rest) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut rest, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
