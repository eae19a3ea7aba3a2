//! qlog written on a thread of its own: the connection's tracer copies each event into a batch
//! (frames are reference-counted `Bytes`, and a batch's frames share one vector, so a packet
//! costs no allocation) and hands the batch over; the thread serialises and writes with the same
//! [`QlogWriter`], so the file is byte-for-byte what a writer on the connection's thread would
//! have written. Written batches go back to the connection's thread to be freed or reused.
//!
//! Why: with every packet traced (`mpquic run`'s default), turning events into JSON and writing
//! them cost as much as simulating the packets (speed_2path: 0.14 s of simulation, 0.13 s of
//! tracing, 42 MB of qlog). On a second core the two overlap: 22.7x -> 32x real time
//! (README.md, Benchmarks), for about 6% more CPU in all. The queue between them is short and
//! bounded: a writer that falls behind (one core, a slow disk) slows the connection down
//! instead of buffering the trace in memory, and the events the writer reads are still in the
//! cache (16 batches of 1024 were slower, with drops to 27x).

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

use mpquic_proto::trace::{Frame, PacketHeaderInfo, TraceEvent, Tracer, TransportParameters};
use mpquic_proto::{ConnectionError, ConnectionId, Instant, PathId};

use super::QlogWriter;

/// Events handed to the thread at once: one channel operation per batch, not per event.
/// (Measured against 128, 256 and 1024 with `mpquic bench --qlog packets`.)
const BATCH: usize = 512;
/// Batches in flight before the connection's thread waits for the writer.
const QUEUED_BATCHES: usize = 2;

/// A [`TraceEvent`] that owns what the original borrows.
#[derive(Debug)]
enum OwnedEvent {
    Started {
        local: Option<std::net::SocketAddr>,
        remote: std::net::SocketAddr,
        version: u32,
        src_cid: ConnectionId,
        dst_cid: ConnectionId,
    },
    Parameters {
        local: bool,
        params: Box<TransportParameters>,
    },
    Closed {
        local: bool,
        error: ConnectionError,
    },
    /// A packet, its frames at `frames` in the batch's [`Batch::frames`].
    Packet {
        sent: bool,
        path: PathId,
        header: PacketHeaderInfo,
        frames: std::ops::Range<usize>,
    },
    /// The events that borrow nothing.
    Plain(TraceEvent<'static>),
}

impl OwnedEvent {
    /// A copy of `event`; a packet's frames go to the end of `frames`.
    fn new(event: &TraceEvent<'_>, frames: &mut Vec<Frame>) -> Self {
        let mut keep = |f: &[Frame]| {
            let start = frames.len();
            frames.extend_from_slice(f);
            start..frames.len()
        };
        match event {
            TraceEvent::ConnectionStarted { local, remote, version, src_cid, dst_cid } => Self::Started {
                local: *local,
                remote: *remote,
                version: *version,
                src_cid: **src_cid,
                dst_cid: **dst_cid,
            },
            TraceEvent::ParametersSet { local, params } => {
                Self::Parameters { local: *local, params: Box::new((*params).clone()) }
            }
            TraceEvent::ConnectionClosed { local, error } => Self::Closed { local: *local, error: (*error).clone() },
            TraceEvent::PacketSent { path, header, frames } => {
                Self::Packet { sent: true, path: *path, header: *header, frames: keep(frames) }
            }
            TraceEvent::PacketReceived { path, header, frames } => {
                Self::Packet { sent: false, path: *path, header: *header, frames: keep(frames) }
            }
            TraceEvent::ConnectionStateUpdated(s) => Self::Plain(TraceEvent::ConnectionStateUpdated(*s)),
            TraceEvent::PacketDropped { path, length, reason } => {
                Self::Plain(TraceEvent::PacketDropped { path: *path, length: *length, reason: *reason })
            }
            TraceEvent::PacketLost { path, packet_type, packet_number, length } => {
                Self::Plain(TraceEvent::PacketLost {
                    path: *path,
                    packet_type: *packet_type,
                    packet_number: *packet_number,
                    length: *length,
                })
            }
            TraceEvent::MetricsUpdated { path, metrics } => {
                Self::Plain(TraceEvent::MetricsUpdated { path: *path, metrics: *metrics })
            }
            TraceEvent::KeyUpdated { local, generation } => {
                Self::Plain(TraceEvent::KeyUpdated { local: *local, generation: *generation })
            }
            TraceEvent::MtuUpdated { path, old, new } => {
                Self::Plain(TraceEvent::MtuUpdated { path: *path, old: *old, new: *new })
            }
            TraceEvent::Path { path, what, local, remote } => {
                Self::Plain(TraceEvent::Path { path: *path, what: what.clone(), local: *local, remote: *remote })
            }
        }
    }

    /// The event again; `frames` are the batch's.
    fn as_event<'a>(&'a self, frames: &'a [Frame]) -> TraceEvent<'a> {
        match self {
            Self::Started { local, remote, version, src_cid, dst_cid } => {
                TraceEvent::ConnectionStarted { local: *local, remote: *remote, version: *version, src_cid, dst_cid }
            }
            Self::Parameters { local, params } => TraceEvent::ParametersSet { local: *local, params },
            Self::Closed { local, error } => TraceEvent::ConnectionClosed { local: *local, error },
            Self::Packet { sent: true, path, header, frames: range } => {
                TraceEvent::PacketSent { path: *path, header: *header, frames: &frames[range.clone()] }
            }
            Self::Packet { sent: false, path, header, frames: range } => {
                TraceEvent::PacketReceived { path: *path, header: *header, frames: &frames[range.clone()] }
            }
            Self::Plain(e) => e.clone(),
        }
    }
}

/// Events handed over at once. The frames of all its packets share one vector: a vector per
/// packet was an allocation per packet on the connection's thread.
#[derive(Debug, Default)]
struct Batch {
    events: Vec<(Instant, OwnedEvent)>,
    frames: Vec<Frame>,
}

impl Batch {
    fn new() -> Self {
        Self { events: Vec::with_capacity(BATCH), frames: Vec::with_capacity(2 * BATCH) }
    }

    fn clear(&mut self) {
        self.events.clear();
        self.frames.clear();
    }
}

/// What a tracer sends the thread.
enum Message {
    /// A new trace, its number first: its writer, where to say that writing it failed, and
    /// where to return the batches once written.
    Open(usize, Box<dyn WriteEvents>, Arc<AtomicBool>, SyncSender<Batch>),
    /// Events of trace `n`.
    Events(usize, Batch),
    /// Trace `n` is complete: its writer is dropped, which flushes the file.
    Close(usize),
}

/// A [`QlogWriter`] whatever it writes to.
trait WriteEvents: Send {
    fn write_event(&mut self, now: Instant, event: &TraceEvent<'_>);
    fn failed(&self) -> bool;
}

impl<W: Write + Send> WriteEvents for QlogWriter<W> {
    fn write_event(&mut self, now: Instant, event: &TraceEvent<'_>) {
        self.event(now, event);
    }

    fn failed(&self) -> bool {
        self.error().is_some()
    }
}

/// The thread that writes every trace of one factory (the two sides of a simulated run, or
/// the connections of one process). One thread, not one per trace: with two traces and the
/// simulator, three busy threads on a 2-core machine were slower than one.
#[derive(Debug)]
pub(super) struct WriterThread {
    to_writer: SyncSender<Message>,
    opened: usize,
    thread: JoinHandle<()>,
}

impl WriterThread {
    /// Starts the thread, named `name`.
    pub(super) fn spawn(name: &str) -> std::io::Result<Self> {
        let (to_writer, from_tracers) = sync_channel(QUEUED_BATCHES);
        let thread = std::thread::Builder::new().name(name.to_owned()).spawn(move || write_all(&from_tracers))?;
        Ok(Self { to_writer, opened: 0, thread })
    }

    /// A number and a way to the thread for the next trace. Opening it can wait for the
    /// thread (the queue is bounded), so a caller holding a lock the thread may take (the
    /// factory's, to report an error) reserves under it and opens after releasing it.
    pub(super) fn reserve(&mut self) -> Reserved {
        let id = self.opened;
        self.opened += 1;
        Reserved { id, to_writer: self.to_writer.clone() }
    }

    /// Waits until the thread has written everything: every tracer it fed must be gone.
    /// `false` if it panicked.
    pub(super) fn finish(self) -> bool {
        drop(self.to_writer);
        self.thread.join().is_ok()
    }
}

/// A trace the thread writes: its writer, its failure flag, and the way back for batches.
type Trace = (Box<dyn WriteEvents>, Arc<AtomicBool>, SyncSender<Batch>);

/// A trace the thread is expecting ([`WriterThread::reserve`]).
#[derive(Debug)]
pub(super) struct Reserved {
    id: usize,
    to_writer: SyncSender<Message>,
}

impl Reserved {
    /// Hands `writer` to the thread; returns the tracer that feeds it.
    pub(super) fn open<W: Write + Send + 'static>(self, writer: QlogWriter<W>) -> Forwarder {
        let packets = writer.packets;
        let failed = Arc::new(AtomicBool::new(false));
        let (give_back, written) = sync_channel(QUEUED_BATCHES + 1);
        let message = Message::Open(self.id, Box::new(writer), failed.clone(), give_back);
        let to_writer = self.to_writer.send(message).is_ok().then_some(self.to_writer);
        Forwarder { id: self.id, batch: Batch::new(), to_writer, written, packets, failed }
    }
}

fn write_all(from_tracers: &Receiver<Message>) {
    let mut writers: Vec<Option<Trace>> = Vec::new();
    while let Ok(message) = from_tracers.recv() {
        match message {
            Message::Open(id, w, failed, give_back) => {
                if writers.len() <= id {
                    writers.resize_with(id + 1, || None);
                }
                writers[id] = Some((w, failed, give_back));
            }
            Message::Events(id, batch) => {
                if let Some((w, failed, give_back)) = writers.get_mut(id).and_then(Option::as_mut) {
                    for (now, event) in &batch.events {
                        w.write_event(*now, &event.as_event(&batch.frames));
                    }
                    if w.failed() {
                        failed.store(true, Ordering::Relaxed);
                    }
                    // Freed where it was allocated: glibc's allocator serialises frees of
                    // another thread's memory on that thread's arena lock, and per-packet
                    // frees here made both threads wait on it (slower than one thread).
                    let _ = give_back.try_send(batch);
                }
            }
            // Dropping the writer flushes the file and reports a failure to the factory.
            Message::Close(id) => drop(writers.get_mut(id).and_then(Option::take)),
        }
    }
}

/// The connection's side: a [`Tracer`] that queues copies of the events for the thread.
pub(super) struct Forwarder {
    id: usize,
    batch: Batch,
    to_writer: Option<SyncSender<Message>>,
    /// Batches the thread has written, to be dropped (or reused) here.
    written: Receiver<Batch>,
    packets: bool,
    /// Set once writing failed or the thread is gone: packet events are then not worth
    /// building.
    failed: Arc<AtomicBool>,
}

impl std::fmt::Debug for Forwarder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forwarder")
            .field("trace", &self.id)
            .field("queued", &self.batch.events.len())
            .finish_non_exhaustive()
    }
}

impl Forwarder {
    fn send(&mut self, message: Message) {
        // A thread that is gone (it panicked) takes no more: the trace ends there, and the
        // factory, which joins it, reports the panic.
        if self.to_writer.as_ref().is_some_and(|tx| tx.send(message).is_err()) {
            self.to_writer = None;
            self.failed.store(true, Ordering::Relaxed);
        }
    }

    fn send_batch(&mut self) {
        // The next batch reuses a written one: its events are dropped on this thread.
        let mut next = None;
        while let Ok(mut written) = self.written.try_recv() {
            written.clear();
            next = Some(written);
        }
        let next = next.unwrap_or_else(Batch::new);
        let batch = std::mem::replace(&mut self.batch, next);
        self.send(Message::Events(self.id, batch));
    }
}

impl Tracer for Forwarder {
    fn wants_packets(&self) -> bool {
        self.packets && self.to_writer.is_some() && !self.failed.load(Ordering::Relaxed)
    }

    fn event(&mut self, now: Instant, event: &TraceEvent<'_>) {
        if self.to_writer.is_none() {
            return;
        }
        let event = OwnedEvent::new(event, &mut self.batch.frames);
        self.batch.events.push((now, event));
        if self.batch.events.len() >= BATCH {
            self.send_batch();
        }
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        if !self.batch.events.is_empty() {
            self.send_batch();
        }
        self.send(Message::Close(self.id));
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::sync::Mutex;
    use std::time::Duration;

    use bytes::Bytes;
    use mpquic_proto::trace::{ConnectionStateTrace, PacketType, PathTrace, Stream, TraceInfo};
    use mpquic_proto::{PathEvent, Side, StreamId};

    use super::*;

    /// A file stand-in both threads can reach.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Feeds a connection's worth of events (several batches of packets with frames, metrics,
    /// path events, the end) to `tracer`.
    fn feed(tracer: &mut dyn Tracer, epoch: Instant) {
        let cid = ConnectionId::new(&[7; 8]).unwrap();
        let remote: SocketAddr = "10.9.0.1:4433".parse().unwrap();
        let at = |ms: u64| epoch.checked_add(Duration::from_millis(ms)).unwrap();
        tracer.event(
            at(0),
            &TraceEvent::ConnectionStarted { local: None, remote, version: 1, src_cid: &cid, dst_cid: &cid },
        );
        tracer.event(at(0), &TraceEvent::Path { path: PathId::ZERO, what: PathTrace::Created, local: None, remote });
        let data = Bytes::from(vec![0xab; 1000]);
        for pn in 0..3 * BATCH as u64 + 17 {
            let header = PacketHeaderInfo {
                packet_type: PacketType::OneRtt,
                packet_number: pn,
                length: 1052,
                dst_cid: cid,
                src_cid: None,
                key_phase: Some(false),
            };
            let stream = Stream { id: StreamId(0), offset: pn * 1000, fin: false, data: data.clone() };
            let frames = [Frame::MaxData(pn * 7), Frame::Stream(stream), Frame::Padding(3)];
            let path = PathId(u32::try_from(pn % 2).unwrap());
            let event = if pn % 3 == 0 {
                TraceEvent::PacketReceived { path, header, frames: &frames }
            } else {
                TraceEvent::PacketSent { path, header, frames: &frames }
            };
            tracer.event(at(pn), &event);
            if pn % 50 == 0 {
                tracer.event(
                    at(pn),
                    &TraceEvent::Path { path, what: PathTrace::Event(PathEvent::Validated(path)), local: None, remote },
                );
            }
        }
        tracer.event(at(9_999), &TraceEvent::ConnectionStateUpdated(ConnectionStateTrace::Closed));
    }

    fn writer(out: Shared, epoch: Instant) -> QlogWriter<Shared> {
        let info =
            TraceInfo { side: Side::Client, original_dst_cid: ConnectionId::new(&[7; 8]).unwrap(), created: epoch };
        QlogWriter::new(out, &info, epoch, "test", true).unwrap()
    }

    #[test]
    fn the_thread_writes_what_the_writer_writes_in_place() {
        let epoch = Instant::from_nanos(1_000_000_000);
        let direct = Shared::default();
        let mut w = writer(direct.clone(), epoch);
        feed(&mut w, epoch);
        drop(w);

        // Two traces on one thread, fed in turn, as a simulator's client and server are.
        let (a, b) = (Shared::default(), Shared::default());
        let mut thread = WriterThread::spawn("qlog test").unwrap();
        // Reserved in one order, opened in the other.
        let (ra, rb) = (thread.reserve(), thread.reserve());
        let mut tb = rb.open(writer(b.clone(), epoch));
        let mut ta = ra.open(writer(a.clone(), epoch));
        assert!(ta.wants_packets() && tb.wants_packets());
        feed(&mut ta, epoch);
        feed(&mut tb, epoch);
        drop((ta, tb));
        assert!(thread.finish(), "the thread ran to its end");

        let direct = direct.0.lock().unwrap().clone();
        assert!(direct.len() > 3 * BATCH * 200, "{} bytes", direct.len());
        assert_eq!(*a.0.lock().unwrap(), direct, "first trace");
        assert_eq!(*b.0.lock().unwrap(), direct, "second trace");
    }

    #[test]
    fn a_failed_write_stops_packet_events() {
        /// A file that takes nothing.
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("disk full"))
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let epoch = Instant::from_nanos(1_000_000_000);
        let info =
            TraceInfo { side: Side::Server, original_dst_cid: ConnectionId::new(&[1; 8]).unwrap(), created: epoch };
        // The header goes to the buffer; the failure shows once the buffer is written out.
        let mut w = QlogWriter::new(std::io::BufWriter::with_capacity(4096, Full), &info, epoch, "t", true).unwrap();
        let factory = super::super::QlogFactory::new("unused").in_background();
        w.report_to = Some((factory.shared.clone(), "full.sqlog".into()));
        let mut thread = WriterThread::spawn("qlog test").unwrap();
        let mut t = thread.reserve().open(w);
        assert!(t.wants_packets());
        // Three full batches reach the thread; the first already overflows the buffer.
        feed(&mut t, epoch);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while t.wants_packets() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(!t.wants_packets(), "a trace that cannot be written asks for no packets");
        drop(t);
        assert!(thread.finish());
        let error = factory.error().expect("the thread reported the failure to the factory");
        assert!(error.contains("full.sqlog") && error.contains("disk full"), "{error}");
    }
}
