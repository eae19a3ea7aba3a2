//! Files read and written on threads of their own, so that the single-threaded runtime that
//! drives the connections never waits for a disk, and no chunk takes a trip through tokio's
//! blocking pool (`tokio::fs` sends every call there: at a few GB/s of 1.4 kB stream chunks that
//! alone made the client 7x slower than the stack).

use std::fs::File;
use std::io::{self, IoSlice, Read as _, Write as _};
use std::path::{Path, PathBuf};

use bytes::Bytes;
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
            // Read into spare capacity: File reads into uninitialised memory, so no chunk is
            // zeroed first (1 GiB of memset on the server's core, otherwise).
            let mut buf = Vec::with_capacity(CHUNK_BYTES);
            match (&mut file).take(CHUNK_BYTES as u64).read_to_end(&mut buf) {
                Ok(0) => return,
                Ok(_) => {}
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            }
            // The task dropped the reader (stream reset, connection lost): stop reading.
            if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
    }

    /// Files of every size around the chunk boundary come back whole, in chunks of at most
    /// [`CHUNK_BYTES`], and a written file holds exactly the chunks written.
    #[test]
    fn files_round_trip_in_chunks() {
        let dir = std::env::temp_dir().join(format!("mpquic-file-io-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for len in [0, 1, CHUNK_BYTES - 1, CHUNK_BYTES, CHUNK_BYTES + 1, 3 * CHUNK_BYTES + 17] {
            let data: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let src = dir.join(format!("src-{len}"));
            std::fs::write(&src, &data).unwrap();
            let dst = dir.join(format!("dst-{len}"));
            runtime().block_on(async {
                let mut reader = FileReader::open(&src).unwrap();
                let mut writer = FileWriter::create(&dst).unwrap();
                let mut chunks = 0;
                while let Some(chunk) = reader.next().await {
                    let chunk = chunk.unwrap();
                    assert!(!chunk.is_empty() && chunk.len() <= CHUNK_BYTES, "{len}: chunk of {}", chunk.len());
                    chunks += 1;
                    writer.write(chunk).await.unwrap();
                }
                writer.finish().await.unwrap();
                assert_eq!(chunks, len.div_ceil(CHUNK_BYTES), "{len} bytes");
            });
            assert!(std::fs::read(&dst).unwrap() == data, "{len} bytes changed on the way");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A missing file is an error at open, not a panic on the thread.
    #[test]
    fn missing_file_is_an_error() {
        let err = FileReader::open(Path::new("/nonexistent/mpquic/file")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }
}
