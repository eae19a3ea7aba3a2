//! qlog traces of connections: one JSON-SEQ file per connection and vantage point
//! (draft-ietf-quic-qlog-main-schema §"QlogFileSeq", RFC 7464), with the QUIC events of
//! draft-ietf-quic-qlog-quic-events, written from proto's typed trace events
//! ([`mpquic_proto::trace`]).
//!
//! Every path-scoped event names its multipath path: the standard `tuple` field holds the path
//! ID as a string (a `quic:tuple_assigned` event maps it to the path's addresses, again after a
//! migration, and once more without addresses when the path is abandoned), and the custom
//! `path_id` field holds it as a number. Multipath frames (PATH_ACK, PATH_ABANDON, ...) are
//! logged with `frame_type` names taken from RFC 10069 (`path_ack`,
//! `path_abandon`, ...) and their fields; the path life cycle (opened, validated, potentially
//! failed, recovered, abandoned, the peer's status) comes as `quic:path_updated`. Both are our
//! extension schema, listed in the header's `event_schemas`.
//!
//! Why not the `qlog` crate: its frame type is a closed enum without the multipath frames, so a
//! PATH_ACK (the acknowledgement of every multipath connection) could only be logged as an
//! unknown frame, and its events have no place for the path ID.
//!
//! Times are milliseconds since the epoch the factory was given (the simulator's virtual time
//! zero, or the endpoint's start), on a monotonic clock whose epoch is otherwise unknown; the
//! client and server traces of one simulated run share that epoch. Nothing here reads a clock,
//! so a deterministic run gives byte-identical traces.

mod background;
mod schema;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use mpquic_proto::trace::{
    ConnectionStateTrace, PathTrace, RecoveryMetrics, TraceEvent, TraceInfo, Tracer, TracerFactory,
};
use mpquic_proto::{Instant, PathEvent, PathId, PathStatus, Side};
use serde::Serialize;

pub use schema::{Hex, MULTIPATH_SCHEMA, QUIC_SCHEMA};

/// The file extension of JSON-SEQ qlog files.
pub const EXTENSION: &str = "sqlog";

/// Builds a [`QlogWriter`] per connection, each writing `DIR/PREFIX<odcid>_<side>.sqlog`.
///
/// A file that cannot be created or written is reported by [`QlogFactory::error`] (the
/// connection itself goes on untraced): a driver checks it before calling its outputs complete.
#[derive(Debug, Clone)]
pub struct QlogFactory {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    dir: PathBuf,
    prefix: String,
    title: String,
    /// `None`: each connection's creation.
    epoch: Option<Instant>,
    packets: bool,
    /// Each trace written on a thread of its own ([`QlogFactory::in_background`]).
    background: std::sync::atomic::AtomicBool,
    state: Mutex<FactoryState>,
}

#[derive(Debug, Default)]
struct FactoryState {
    files: Vec<PathBuf>,
    error: Option<String>,
    /// The thread writing the traces, once one was opened ([`QlogFactory::in_background`]).
    thread: Option<background::WriterThread>,
}

impl QlogFactory {
    /// Traces every packet into `dir` (created if needed), with times counted from each
    /// connection's creation.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self::with_options(dir, None, "", "mpquic", true)
    }

    /// Like [`QlogFactory::new`] with the epoch of the times (`None`: each connection's
    /// creation; a simulator gives its time zero, so that both sides share it), a file-name
    /// prefix, a trace title and whether to log packets with their frames (`false`: only state
    /// changes, metrics, losses and path events).
    pub fn with_options(
        dir: impl Into<PathBuf>,
        epoch: Option<Instant>,
        prefix: &str,
        title: &str,
        packets: bool,
    ) -> Self {
        Self {
            shared: Arc::new(Shared {
                dir: dir.into(),
                prefix: prefix.to_owned(),
                title: title.to_owned(),
                epoch,
                packets,
                background: std::sync::atomic::AtomicBool::new(false),
                state: Mutex::default(),
            }),
        }
    }

    /// Writes each trace on a thread of its own (see `background.rs`): the connections' thread
    /// only copies the events. Call [`QlogFactory::wait`] once the connections are gone, before
    /// reading [`QlogFactory::error`]. Meant right after construction: clones share the
    /// setting.
    pub fn in_background(self) -> Self {
        self.shared.background.store(true, std::sync::atomic::Ordering::Relaxed);
        self
    }

    /// Waits until every trace written in the background is complete: each ends when its
    /// connection's tracer is dropped, so this blocks while a traced connection still exists.
    pub fn wait(&self) {
        let thread = self.shared.lock().thread.take();
        if thread.is_some_and(|t| !t.finish()) {
            self.shared.record_error("the qlog writer thread panicked".to_owned());
        }
    }

    /// The files created so far.
    pub fn files(&self) -> Vec<PathBuf> {
        self.shared.lock().files.clone()
    }

    /// The first error creating or writing a trace, if any.
    pub fn error(&self) -> Option<String> {
        self.shared.lock().error.clone()
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, FactoryState> {
        // A writer that panicked mid-record leaves no state worth protecting.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn record_error(&self, e: String) {
        self.lock().error.get_or_insert(e);
    }
}

impl TracerFactory for QlogFactory {
    fn tracer(&self, info: &TraceInfo) -> Option<Box<dyn Tracer>> {
        let s = &self.shared;
        let name = format!("{}{}_{}.{EXTENSION}", s.prefix, Hex(&info.original_dst_cid), side_name(info.side));
        let path = s.dir.join(name);
        let file = std::fs::create_dir_all(&s.dir).and_then(|()| File::create(&path));
        let file = match file {
            Ok(f) => f,
            Err(e) => {
                s.record_error(format!("creating {}: {e}", path.display()));
                return None;
            }
        };
        let epoch = s.epoch.unwrap_or(info.created);
        match QlogWriter::new(BufWriter::new(file), info, epoch, &s.title, s.packets) {
            Ok(mut w) if s.background.load(std::sync::atomic::Ordering::Relaxed) => {
                w.report_to = Some((s.clone(), path.clone()));
                let mut state = s.lock();
                if state.thread.is_none() {
                    match background::WriterThread::spawn("qlog writer") {
                        Ok(t) => state.thread = Some(t),
                        Err(e) => {
                            state.error.get_or_insert(format!("starting the qlog writer thread: {e}"));
                            return None;
                        }
                    }
                }
                let reserved = state.thread.as_mut()?.reserve();
                state.files.push(path);
                drop(state);
                Some(Box::new(reserved.open(w)))
            }
            Ok(mut w) => {
                w.report_to = Some((s.clone(), path.clone()));
                s.lock().files.push(path);
                Some(Box::new(w))
            }
            Err(e) => {
                s.record_error(format!("writing {}: {e}", path.display()));
                None
            }
        }
    }
}

fn side_name(side: Side) -> &'static str {
    match side {
        Side::Client => "client",
        Side::Server => "server",
    }
}

/// Writes one connection's trace as JSON-SEQ records to `W`.
pub struct QlogWriter<W: Write> {
    out: W,
    epoch: Instant,
    side: Side,
    packets: bool,
    /// ack_delay_exponent of our packets and of the peer's (RFC 9000 §18.2), once known.
    ack_exponent: [u64; 2],
    /// What each path's last `recovery_metrics_updated` said.
    metrics: BTreeMap<PathId, RecoveryMetrics>,
    state: Option<&'static str>,
    error: Option<io::Error>,
    /// Where to report a write error: the factory and the file.
    report_to: Option<(Arc<Shared>, PathBuf)>,
}

impl<W: Write> std::fmt::Debug for QlogWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QlogWriter").field("side", &self.side).field("error", &self.error).finish_non_exhaustive()
    }
}

/// One JSON-SEQ event record.
#[derive(Serialize)]
struct Record<D> {
    time: f64,
    name: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    tuple: Option<schema::PathTuple>,
    #[serde(skip_serializing_if = "Option::is_none")]
    path_id: Option<u32>,
    data: D,
}

/// The first record: the file's header (QlogFileSeq with its TraceSeq).
#[derive(Serialize)]
struct FileHeader<'a> {
    file_schema: &'static str,
    serialization_format: &'static str,
    title: &'a str,
    trace: TraceHeader<'a>,
}

#[derive(Serialize)]
struct TraceHeader<'a> {
    title: &'a str,
    description: &'static str,
    common_fields: CommonFields<'a>,
    vantage_point: VantagePoint,
    event_schemas: [&'static str; 2],
}

#[derive(Serialize)]
struct CommonFields<'a> {
    group_id: Hex<'a>,
    time_format: &'static str,
    reference_time: ReferenceTime,
}

#[derive(Serialize)]
struct ReferenceTime {
    clock_type: &'static str,
    epoch: &'static str,
}

#[derive(Serialize)]
struct VantagePoint {
    name: &'static str,
    #[serde(rename = "type")]
    ty: &'static str,
}

impl<W: Write + Send> QlogWriter<W> {
    /// Starts a trace for the connection `info` describes: writes the file header. Times are
    /// milliseconds since `epoch`; `packets` says whether to log packets with their frames.
    pub fn new(mut out: W, info: &TraceInfo, epoch: Instant, title: &str, packets: bool) -> io::Result<Self> {
        let header = FileHeader {
            file_schema: "urn:ietf:params:qlog:file:sequential",
            serialization_format: "application/qlog+json-seq",
            title,
            trace: TraceHeader {
                title,
                description: "mpquic connection trace; times in ms since the driver's epoch (virtual time in the \
                              simulator); path-scoped events carry the multipath path ID in `tuple` and `path_id`",
                common_fields: CommonFields {
                    group_id: Hex(&info.original_dst_cid),
                    time_format: "relative_to_epoch",
                    reference_time: ReferenceTime { clock_type: "monotonic", epoch: "unknown" },
                },
                vantage_point: VantagePoint { name: "mpquic", ty: side_name(info.side) },
                event_schemas: [QUIC_SCHEMA, MULTIPATH_SCHEMA],
            },
        };
        out.write_all(b"\x1e")?;
        serde_json::to_writer(&mut out, &header)?;
        out.write_all(b"\n")?;
        Ok(Self {
            out,
            epoch,
            side: info.side,
            packets,
            ack_exponent: [3, 3],
            metrics: BTreeMap::new(),
            state: None,
            error: None,
            report_to: None,
        })
    }

    /// The first write error, if any (writing stops at the first one).
    pub fn error(&self) -> Option<&io::Error> {
        self.error.as_ref()
    }

    fn write<D: Serialize>(&mut self, now: Instant, name: &'static str, path: Option<PathId>, data: D) {
        if self.error.is_some() {
            return;
        }
        let time = now.saturating_duration_since(self.epoch).as_nanos() as f64 / 1e6;
        let record =
            Record { time, name, tuple: path.map(|p| schema::PathTuple(p.0)), path_id: path.map(|p| p.0), data };
        let result = self
            .out
            .write_all(b"\x1e")
            .and_then(|()| serde_json::to_writer(&mut self.out, &record).map_err(io::Error::from))
            .and_then(|()| self.out.write_all(b"\n"));
        if let Err(e) = result {
            self.fail(e);
        }
    }

    fn fail(&mut self, e: io::Error) {
        if let Some((shared, path)) = &self.report_to {
            shared.record_error(format!("writing {}: {e}", path.display()));
        }
        tracing::warn!(error = %e, "qlog trace stopped");
        self.error = Some(e);
    }

    fn connection_state(&mut self, now: Instant, new: &'static str) {
        let old = self.state.replace(new);
        self.write(now, "quic:connection_state_updated", None, schema::ConnectionStateUpdated { old, new });
    }

    fn metrics_updated(&mut self, now: Instant, path: PathId, m: &RecoveryMetrics) {
        let prev = self.metrics.insert(path, *m);
        let ms = |d: std::time::Duration| d.as_secs_f32() * 1e3;
        let mut u = schema::MetricsUpdate::default();
        let p = prev.as_ref();
        let differs = |a: &dyn Fn(&RecoveryMetrics) -> u128| p.is_none_or(|p| a(p) != a(m));
        if differs(&|x| x.min_rtt.as_nanos()) {
            u.min_rtt = Some(ms(m.min_rtt));
        }
        if differs(&|x| x.smoothed_rtt.as_nanos()) {
            u.smoothed_rtt = Some(ms(m.smoothed_rtt));
        }
        if differs(&|x| x.latest_rtt.as_nanos()) {
            u.latest_rtt = Some(ms(m.latest_rtt));
        }
        if differs(&|x| x.rtt_variance.as_nanos()) {
            u.rtt_variance = Some(ms(m.rtt_variance));
        }
        if differs(&|x| u128::from(x.pto_count)) {
            u.pto_count = Some(u16::try_from(m.pto_count).unwrap_or(u16::MAX));
        }
        if differs(&|x| u128::from(x.congestion_window)) {
            u.congestion_window = Some(m.congestion_window);
        }
        if differs(&|x| u128::from(x.bytes_in_flight)) {
            u.bytes_in_flight = Some(m.bytes_in_flight);
        }
        if differs(&|x| x.ssthresh.map_or(u128::MAX, u128::from)) {
            u.ssthresh = m.ssthresh;
        }
        if differs(&|x| x.pacing_rate.map_or(u128::MAX, u128::from)) {
            u.pacing_rate = m.pacing_rate.map(|r| r.saturating_mul(8));
        }
        if u != schema::MetricsUpdate::default() {
            u.path_id = Some(path.0);
            self.write(now, "quic:recovery_metrics_updated", Some(path), u);
        }
        let old = prev.map(|p| p.congestion_state).filter(|s| !s.is_empty());
        if !m.congestion_state.is_empty() && old != Some(m.congestion_state) {
            let update = schema::CongestionStateUpdated { old, new: m.congestion_state };
            self.write(now, "quic:congestion_state_updated", Some(path), update);
        }
    }

    fn path_event(&mut self, now: Instant, ev: &TraceEvent<'_>) {
        let TraceEvent::Path { path, what, local, remote } = ev else { return };
        let assigned = |gone: bool| schema::TupleAssigned {
            tuple_id: schema::PathTuple(path.0),
            tuple_remote: (!gone).then(|| schema::TupleEndpoint::new(Some(*remote), None)),
            tuple_local: (!gone).then(|| schema::TupleEndpoint::new(*local, None)),
        };
        let state = match what {
            PathTrace::Created => {
                self.write(now, "quic:tuple_assigned", Some(*path), assigned(false));
                "created"
            }
            PathTrace::Event(e) => match e {
                PathEvent::Opened(_) => "opened",
                PathEvent::Validated(_) => "validated",
                PathEvent::ValidationFailed(_) => "validation_failed",
                PathEvent::Migrated(_) => {
                    self.write(now, "quic:tuple_assigned", Some(*path), assigned(false));
                    "migrated"
                }
                PathEvent::Abandoned(_) => {
                    self.write(now, "quic:tuple_assigned", Some(*path), assigned(true));
                    "abandoned"
                }
                PathEvent::PotentiallyFailed(_) => "potentially_failed",
                PathEvent::Recovered(_) => "recovered",
            },
            PathTrace::PeerStatus(PathStatus::Backup) => "peer_status_backup",
            PathTrace::PeerStatus(PathStatus::Available) => "peer_status_available",
        };
        self.write(now, "quic:path_updated", Some(*path), schema::PathUpdated { path_id: path.0, state });
    }
}

impl<W: Write + Send> Tracer for QlogWriter<W> {
    fn wants_packets(&self) -> bool {
        self.packets && self.error.is_none()
    }

    fn event(&mut self, now: Instant, event: &TraceEvent<'_>) {
        if self.error.is_some() {
            return;
        }
        match event {
            TraceEvent::ConnectionStarted { local, remote, version, src_cid, dst_cid } => {
                let mut v = [0u8; 4];
                v.copy_from_slice(&version.to_be_bytes());
                let data = schema::ConnectionStarted {
                    local: schema::TupleEndpoint::new(*local, Some(src_cid)),
                    remote: schema::TupleEndpoint::new(Some(*remote), Some(dst_cid)),
                    version: Hex(&v),
                };
                self.write(now, "quic:connection_started", None, data);
                self.connection_state(now, "attempted");
            }
            TraceEvent::ParametersSet { local, params } => {
                self.ack_exponent[usize::from(!*local)] = params.ack_delay_exponent.into_inner();
                self.write(now, "quic:parameters_set", None, schema::ParametersSet::new(*local, params));
            }
            TraceEvent::ConnectionStateUpdated(s) => {
                let new = match s {
                    ConnectionStateTrace::HandshakeCompleted => "handshake_complete",
                    ConnectionStateTrace::HandshakeConfirmed => "handshake_confirmed",
                    ConnectionStateTrace::Closing => "closing",
                    ConnectionStateTrace::Draining => "draining",
                    ConnectionStateTrace::Closed => "closed",
                };
                self.connection_state(now, new);
                if *s == ConnectionStateTrace::Closed {
                    if let Err(e) = self.out.flush() {
                        self.fail(e);
                    }
                }
            }
            TraceEvent::ConnectionClosed { local, error } => {
                self.write(now, "quic:connection_closed", None, schema::ConnectionClosed::new(*local, error));
            }
            TraceEvent::PacketSent { path, header, frames } | TraceEvent::PacketReceived { path, header, frames } => {
                let sent = matches!(event, TraceEvent::PacketSent { .. });
                let one_rtt = header.packet_type == mpquic_proto::trace::PacketType::OneRtt;
                // The sender's exponent scales the ACK Delay field (RFC 9000 §19.3); 3 outside 1-RTT.
                let ack_delay_exponent = if !one_rtt { 3 } else { self.ack_exponent[usize::from(!sent)] };
                let probe = frames.len() <= 2
                    && frames.iter().any(|f| matches!(f, mpquic_proto::trace::Frame::Ping))
                    && frames.iter().any(|f| matches!(f, mpquic_proto::trace::Frame::Padding(_)))
                    && header.length > 1200;
                let data = schema::Packet {
                    header: schema::Header::new(header, *path),
                    raw: schema::Raw { length: Some(header.length), payload_length: None },
                    is_mtu_probe_packet: (sent && probe).then_some(true),
                    frames: schema::Frames { frames, ack_delay_exponent },
                };
                self.write(now, if sent { "quic:packet_sent" } else { "quic:packet_received" }, Some(*path), data);
            }
            TraceEvent::PacketDropped { path, length, reason } => {
                let data = schema::PacketDropped {
                    raw: schema::Raw { length: Some(*length), payload_length: None },
                    trigger: schema::drop_trigger(*reason),
                };
                self.write(now, "quic:packet_dropped", *path, data);
            }
            TraceEvent::PacketLost { path, packet_type, packet_number, length } => {
                let data = schema::PacketLost {
                    header: schema::LostHeader {
                        packet_type: schema::packet_type(*packet_type),
                        packet_number: *packet_number,
                    },
                    raw: schema::Raw { length: Some(*length), payload_length: None },
                };
                self.write(now, "quic:packet_lost", Some(*path), data);
            }
            TraceEvent::MetricsUpdated { path, metrics } => self.metrics_updated(now, *path, metrics),
            TraceEvent::KeyUpdated { local, generation } => {
                let trigger = if *local { "local_update" } else { "remote_update" };
                for key_type in ["client_1rtt_secret", "server_1rtt_secret"] {
                    self.write(
                        now,
                        "quic:key_updated",
                        None,
                        schema::KeyUpdated { key_type, key_phase: *generation, trigger },
                    );
                }
            }
            TraceEvent::MtuUpdated { path, old, new } => {
                self.write(now, "quic:mtu_updated", Some(*path), schema::MtuUpdated { old: *old, new: *new });
            }
            TraceEvent::Path { .. } => self.path_event(now, event),
        }
    }
}

impl<W: Write> Drop for QlogWriter<W> {
    fn drop(&mut self) {
        if self.error.is_none() {
            if let Err(e) = self.out.flush() {
                if let Some((shared, path)) = &self.report_to {
                    shared.record_error(format!("writing {}: {e}", path.display()));
                }
            }
        }
    }
}

/// Reads a JSON-SEQ qlog file back: the header and the events, in order. For tests and tools
/// that post-process traces; a record that is not JSON is an error naming its position.
pub fn read_json_seq(path: &Path) -> Result<Vec<serde_json::Value>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    parse_json_seq(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// Parses JSON-SEQ bytes (RFC 7464): records start with RS (0x1E) and end with a line feed.
pub fn parse_json_seq(bytes: &[u8]) -> Result<Vec<serde_json::Value>, String> {
    let mut records = Vec::new();
    for (i, chunk) in bytes.split(|&b| b == 0x1e).enumerate() {
        if i == 0 {
            if !chunk.iter().all(u8::is_ascii_whitespace) {
                return Err("data before the first record separator".to_owned());
            }
            continue;
        }
        let value = serde_json::from_slice(chunk).map_err(|e| format!("record {i}: {e}"))?;
        records.push(value);
    }
    Ok(records)
}
