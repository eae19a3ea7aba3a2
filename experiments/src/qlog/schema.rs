//! The JSON shapes of the qlog records we write: borrowed views of proto's trace events, frames
//! and parameters, serialised without building intermediate JSON values.
//!
//! Field names and values follow draft-ietf-quic-qlog-quic-events (the editor's copy after -13,
//! "quic-13" below). The multipath additions (RFC 10069 frames, the path ID of
//! each event, the `quic:path_updated` event) form our extension schema [`MULTIPATH_SCHEMA`].

use std::fmt;
use std::net::SocketAddr;

use mpquic_proto::trace::PacketType;
use mpquic_proto::trace::TransportParameters;
use mpquic_proto::trace::{Ack, Frame};
use mpquic_proto::trace::{DropReason, PacketHeaderInfo};
use mpquic_proto::{ConnectionError, Dir, PathId, TransportErrorCode};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

/// The QUIC event schema we write (draft-ietf-quic-qlog-quic-events: drafts append "-NN").
pub const QUIC_SCHEMA: &str = "urn:ietf:params:qlog:events:quic-13";
/// Our extension of the `quic` namespace: multipath frames (RFC 10069), the
/// `path_id` field of path-scoped events, and `quic:path_updated`. A private schema URI with a
/// month-date, as the main schema asks of non-IETF schemas.
pub const MULTIPATH_SCHEMA: &str = "https://example.invalid/mpquic/122026/qlog.html#rfc10069";

/// Bytes as a lowercase hex string (qlog `hexstring`).
#[derive(Debug, Clone, Copy)]
pub struct Hex<'a>(pub &'a [u8]);

impl Serialize for Hex<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Every packet record carries a connection ID: encoded on the stack (a CID is at most
        // 20 bytes, RFC 9000 §17.2) rather than through `fmt`, two digits at a time.
        let mut buf = [0u8; 64];
        match buf.get_mut(..2 * self.0.len()) {
            Some(out) => {
                hex::encode_to_slice(self.0, out).map_err(serde::ser::Error::custom)?;
                s.serialize_str(std::str::from_utf8(out).map_err(serde::ser::Error::custom)?)
            }
            None => s.serialize_str(&hex::encode(self.0)),
        }
    }
}

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// A value written as its `Display` string (path IDs as TupleIDs, QUIC versions).
pub struct Text<T>(pub T);

impl<T: fmt::Display> Serialize for Text<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

/// A path's qlog tuple ID, `p{path_id}` as noq writes it: the `tuple` of every path-bound event
/// and the `tuple_id` of `quic:tuple_assigned`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathTuple(pub u32);

impl Serialize for PathTuple {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // In every path-scoped record: built on the stack rather than through `fmt`.
        let mut digits = itoa::Buffer::new();
        let digits = digits.format(self.0);
        let mut buf = [b'p'; 11];
        let out = &mut buf[..1 + digits.len()];
        out[1..].copy_from_slice(digits.as_bytes());
        s.serialize_str(std::str::from_utf8(out).map_err(serde::ser::Error::custom)?)
    }
}

/// qlog `TupleEndpointInfo`: one half of a four-tuple.
#[derive(Serialize)]
pub struct TupleEndpoint<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    ip_v4: Option<Text<std::net::Ipv4Addr>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    port_v4: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ip_v6: Option<Text<std::net::Ipv6Addr>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    port_v6: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    connection_ids: Option<[Hex<'a>; 1]>,
}

impl<'a> TupleEndpoint<'a> {
    pub fn new(addr: Option<SocketAddr>, cid: Option<&'a [u8]>) -> Self {
        let (mut ip_v4, mut port_v4, mut ip_v6, mut port_v6) = (None, None, None, None);
        match addr {
            Some(SocketAddr::V4(a)) => (ip_v4, port_v4) = (Some(Text(*a.ip())), Some(a.port())),
            Some(SocketAddr::V6(a)) => (ip_v6, port_v6) = (Some(Text(*a.ip())), Some(a.port())),
            None => {}
        }
        Self { ip_v4, port_v4, ip_v6, port_v6, connection_ids: cid.map(|c| [Hex(c)]) }
    }
}

/// `quic:connection_started`.
#[derive(Serialize)]
pub struct ConnectionStarted<'a> {
    pub local: TupleEndpoint<'a>,
    pub remote: TupleEndpoint<'a>,
    /// Not in the draft's definition (custom fields are allowed): the version in use.
    pub version: Hex<'a>,
}

/// `quic:parameters_set` for transport parameters.
#[derive(Serialize)]
pub struct ParametersSet<'a> {
    pub initiator: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    original_destination_connection_id: Option<Hex<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    initial_source_connection_id: Option<Hex<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_source_connection_id: Option<Hex<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stateless_reset_token: Option<Hex<'a>>,
    disable_active_migration: bool,
    max_idle_timeout: u64,
    max_udp_payload_size: u64,
    ack_delay_exponent: u64,
    max_ack_delay: u64,
    active_connection_id_limit: u64,
    initial_max_data: u64,
    initial_max_stream_data_bidi_local: u64,
    initial_max_stream_data_bidi_remote: u64,
    initial_max_stream_data_uni: u64,
    initial_max_streams_bidi: u64,
    initial_max_streams_uni: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    preferred_address: Option<PreferredAddress<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_datagram_frame_size: Option<u64>,
    grease_quic_bit: bool,
    /// RFC 10069 §2 (our extension); absent without multipath.
    #[serde(skip_serializing_if = "Option::is_none")]
    initial_max_path_id: Option<u32>,
}

#[derive(Serialize)]
struct PreferredAddress<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    ip_v4: Option<Text<std::net::Ipv4Addr>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    port_v4: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ip_v6: Option<Text<std::net::Ipv6Addr>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    port_v6: Option<u16>,
    connection_id: Hex<'a>,
    stateless_reset_token: Hex<'a>,
}

impl<'a> ParametersSet<'a> {
    pub fn new(local: bool, p: &'a TransportParameters) -> Self {
        Self {
            initiator: if local { "local" } else { "remote" },
            original_destination_connection_id: p.original_destination_connection_id.as_ref().map(|c| Hex(c)),
            initial_source_connection_id: p.initial_source_connection_id.as_ref().map(|c| Hex(c)),
            retry_source_connection_id: p.retry_source_connection_id.as_ref().map(|c| Hex(c)),
            stateless_reset_token: p.stateless_reset_token.as_ref().map(|t| Hex(&t.0)),
            disable_active_migration: p.disable_active_migration,
            max_idle_timeout: p.max_idle_timeout.into_inner(),
            max_udp_payload_size: p.max_udp_payload_size.into_inner(),
            ack_delay_exponent: p.ack_delay_exponent.into_inner(),
            max_ack_delay: p.max_ack_delay.into_inner(),
            active_connection_id_limit: p.active_connection_id_limit.into_inner(),
            initial_max_data: p.initial_max_data.into_inner(),
            initial_max_stream_data_bidi_local: p.initial_max_stream_data_bidi_local.into_inner(),
            initial_max_stream_data_bidi_remote: p.initial_max_stream_data_bidi_remote.into_inner(),
            initial_max_stream_data_uni: p.initial_max_stream_data_uni.into_inner(),
            initial_max_streams_bidi: p.initial_max_streams_bidi.into_inner(),
            initial_max_streams_uni: p.initial_max_streams_uni.into_inner(),
            preferred_address: p.preferred_address.as_ref().map(|a| PreferredAddress {
                ip_v4: a.address_v4.map(|v| Text(*v.ip())),
                port_v4: a.address_v4.map(|v| v.port()),
                ip_v6: a.address_v6.map(|v| Text(*v.ip())),
                port_v6: a.address_v6.map(|v| v.port()),
                connection_id: Hex(&a.connection_id),
                stateless_reset_token: Hex(&a.stateless_reset_token.0),
            }),
            max_datagram_frame_size: p.max_datagram_frame_size.map(|v| v.into_inner()),
            grease_quic_bit: p.grease_quic_bit,
            initial_max_path_id: p.initial_max_path_id.map(|p| p.0),
        }
    }
}

/// `quic:connection_closed`.
#[derive(Serialize, Default)]
pub struct ConnectionClosed {
    pub initiator: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    connection_error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    application_error: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_code: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    trigger: &'static str,
}

impl ConnectionClosed {
    pub fn new(local: bool, error: &ConnectionError) -> Self {
        let initiator = if local { "local" } else { "remote" };
        let transport = |code: TransportErrorCode, reason: String| {
            let name = transport_error(code);
            let error_code = (name == "unknown").then_some(code.0);
            let reason = (!reason.is_empty()).then_some(reason);
            (Some(name), error_code, reason)
        };
        let mut c = Self { initiator, ..Self::default() };
        match error {
            ConnectionError::TransportError(e) => {
                (c.connection_error, c.error_code, c.reason) = transport(e.code, e.reason.clone());
                c.trigger = "error";
            }
            ConnectionError::ConnectionClosed { code, reason } => {
                (c.connection_error, c.error_code, c.reason) = transport(*code, reason.clone());
                c.trigger = "error";
            }
            ConnectionError::ApplicationClosed { code, reason } => {
                c.application_error = Some("unknown");
                c.error_code = Some(*code);
                c.reason = (!reason.is_empty()).then(|| reason.clone());
                c.trigger = "application";
            }
            ConnectionError::LocallyClosed => c.trigger = "application",
            ConnectionError::TimedOut => c.trigger = "idle_timeout",
            ConnectionError::Reset => c.trigger = "stateless_reset",
            ConnectionError::VersionMismatch => c.trigger = "version_mismatch",
        }
        c
    }
}

/// The qlog `$TransportError` string of a code ("unknown" for the multipath and unknown codes,
/// whose number goes in `error_code`).
pub fn transport_error(code: TransportErrorCode) -> String {
    match code.0 {
        0x100..=0x1ff => format!("crypto_error_{:#x}", code.0),
        0..=0x10 => code.name().map_or_else(|| "unknown".to_owned(), str::to_ascii_lowercase),
        _ => "unknown".to_owned(),
    }
}

/// qlog `PacketType`.
pub fn packet_type(t: PacketType) -> &'static str {
    match t {
        PacketType::Initial => "initial",
        PacketType::ZeroRtt => "0RTT",
        PacketType::Handshake => "handshake",
        PacketType::OneRtt => "1RTT",
    }
}

/// qlog `PacketHeader`.
#[derive(Serialize)]
pub struct Header<'a> {
    packet_type: &'static str,
    packet_number: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_phase_bit: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scid: Option<Hex<'a>>,
    dcid: Hex<'a>,
    /// The path whose packet-number space the packet belongs to (RFC 10069 §2; our extension).
    path_id: u32,
}

impl<'a> Header<'a> {
    pub fn new(h: &'a PacketHeaderInfo, path: PathId) -> Self {
        Self {
            path_id: path.0,
            packet_type: packet_type(h.packet_type),
            packet_number: h.packet_number,
            key_phase_bit: h.key_phase,
            scid: h.src_cid.as_ref().map(|c| Hex(c)),
            dcid: Hex(&h.dst_cid),
        }
    }
}

/// `raw` of a packet or frame: its lengths.
#[derive(Serialize, Default)]
pub struct Raw {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub length: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload_length: Option<u64>,
}

/// `quic:packet_sent` / `quic:packet_received`.
#[derive(Serialize)]
pub struct Packet<'a> {
    pub header: Header<'a>,
    pub raw: Raw,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_mtu_probe_packet: Option<bool>,
    pub frames: Frames<'a>,
}

/// `quic:packet_dropped`.
#[derive(Serialize)]
pub struct PacketDropped {
    pub raw: Raw,
    pub trigger: &'static str,
}

/// The qlog trigger of a drop.
pub fn drop_trigger(r: DropReason) -> &'static str {
    match r {
        DropReason::HeaderParseError => "invalid",
        DropReason::UnknownConnectionId => "connection_unknown",
        DropReason::KeyUnavailable => "key_unavailable",
        DropReason::DecryptionFailure => "decryption_failure",
        DropReason::Duplicate => "duplicate",
        DropReason::Unsupported => "unsupported",
    }
}

/// `quic:packet_lost`.
#[derive(Serialize)]
pub struct PacketLost {
    pub header: LostHeader,
    pub raw: Raw,
}

/// The header facts a lost packet still has.
#[derive(Serialize)]
pub struct LostHeader {
    pub packet_type: &'static str,
    pub packet_number: u64,
}

/// `quic:recovery_metrics_updated`: only the fields that changed since the last one of the path.
#[derive(Serialize, Default, PartialEq)]
pub struct MetricsUpdate {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_rtt: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smoothed_rtt: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latest_rtt: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtt_variance: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pto_count: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub congestion_window: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_in_flight: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssthresh: Option<u64>,
    /// Bits per second.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pacing_rate: Option<u64>,
    /// The path these metrics are of (our extension; set on every event written).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path_id: Option<u32>,
}

/// `quic:congestion_state_updated`.
#[derive(Serialize)]
pub struct CongestionStateUpdated<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<&'a str>,
    pub new: &'a str,
}

/// `quic:connection_state_updated`.
#[derive(Serialize)]
pub struct ConnectionStateUpdated {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<&'static str>,
    pub new: &'static str,
}

/// `quic:key_updated`.
#[derive(Serialize)]
pub struct KeyUpdated {
    pub key_type: &'static str,
    pub key_phase: u64,
    pub trigger: &'static str,
}

/// `quic:mtu_updated`.
#[derive(Serialize)]
pub struct MtuUpdated {
    pub old: u16,
    pub new: u16,
}

/// `quic:tuple_assigned`: a path's tuple (both halves omitted when the path is gone).
#[derive(Serialize)]
pub struct TupleAssigned<'a> {
    pub tuple_id: PathTuple,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tuple_remote: Option<TupleEndpoint<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tuple_local: Option<TupleEndpoint<'a>>,
}

/// `quic:path_updated` (our extension): a multipath path's life cycle.
#[derive(Serialize)]
pub struct PathUpdated {
    pub path_id: u32,
    pub state: &'static str,
}

/// The frames of a packet, serialised as the qlog `frames` array.
pub struct Frames<'a> {
    pub frames: &'a [Frame],
    /// ACK Delay exponent of the packet's sender (RFC 9000 §18.2; 3 outside 1-RTT).
    pub ack_delay_exponent: u64,
}

impl Serialize for Frames<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.frames.len()))?;
        for f in self.frames {
            seq.serialize_element(&FrameView { frame: f, ack_delay_exponent: self.ack_delay_exponent })?;
        }
        seq.end()
    }
}

struct FrameView<'a> {
    frame: &'a Frame,
    ack_delay_exponent: u64,
}

/// ACK ranges as `[[from, to], [single], ...]`, largest first (qlog allows any order).
struct AckRanges<'a>(&'a Ack);

impl Serialize for AckRanges<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(None)?;
        for r in self.0.iter() {
            let last = r.end.saturating_sub(1);
            if r.start == last {
                seq.serialize_element(&[r.start])?;
            } else {
                seq.serialize_element(&[r.start, last])?;
            }
        }
        seq.end()
    }
}

fn stream_type(dir: Dir) -> &'static str {
    match dir {
        Dir::Bi => "bidirectional",
        Dir::Uni => "unidirectional",
    }
}

impl Serialize for FrameView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        let payload = |len: usize| Raw { payload_length: Some(len as u64), length: None };
        match self.frame {
            Frame::Padding(n) => {
                m.serialize_entry("frame_type", "padding")?;
                m.serialize_entry("raw", &payload(*n))?;
            }
            Frame::Ping => m.serialize_entry("frame_type", "ping")?,
            Frame::Ack(a) | Frame::PathAck(a) => {
                let path_ack = matches!(self.frame, Frame::PathAck(_));
                m.serialize_entry("frame_type", if path_ack { "path_ack" } else { "ack" })?;
                if path_ack {
                    m.serialize_entry("path_id", &a.path_id.0)?;
                }
                let micros = a.delay.checked_shl(self.ack_delay_exponent as u32).unwrap_or(u64::MAX);
                m.serialize_entry("ack_delay", &(micros as f32 / 1000.0))?;
                m.serialize_entry("acked_ranges", &AckRanges(a))?;
                if let Some(e) = &a.ecn {
                    m.serialize_entry("ect1", &e.ect1)?;
                    m.serialize_entry("ect0", &e.ect0)?;
                    m.serialize_entry("ce", &e.ce)?;
                }
            }
            Frame::ResetStream { id, error_code, final_size } => {
                m.serialize_entry("frame_type", "reset_stream")?;
                m.serialize_entry("stream_id", &id.0)?;
                m.serialize_entry("error", "unknown")?;
                m.serialize_entry("error_code", error_code)?;
                m.serialize_entry("final_size", final_size)?;
            }
            Frame::StopSending { id, error_code } => {
                m.serialize_entry("frame_type", "stop_sending")?;
                m.serialize_entry("stream_id", &id.0)?;
                m.serialize_entry("error", "unknown")?;
                m.serialize_entry("error_code", error_code)?;
            }
            Frame::Crypto(c) => {
                m.serialize_entry("frame_type", "crypto")?;
                m.serialize_entry("offset", &c.offset)?;
                m.serialize_entry("raw", &payload(c.data.len()))?;
            }
            Frame::NewToken(t) => {
                m.serialize_entry("frame_type", "new_token")?;
                m.serialize_entry("token", &TokenView(t.token.len()))?;
            }
            Frame::Stream(st) => {
                m.serialize_entry("frame_type", "stream")?;
                m.serialize_entry("stream_id", &st.id.0)?;
                m.serialize_entry("offset", &st.offset)?;
                if st.fin {
                    m.serialize_entry("fin", &true)?;
                }
                m.serialize_entry("raw", &payload(st.data.len()))?;
            }
            Frame::MaxData(max) => {
                m.serialize_entry("frame_type", "max_data")?;
                m.serialize_entry("maximum", max)?;
            }
            Frame::MaxStreamData { id, max } => {
                m.serialize_entry("frame_type", "max_stream_data")?;
                m.serialize_entry("stream_id", &id.0)?;
                m.serialize_entry("maximum", max)?;
            }
            Frame::MaxStreams { dir, count } => {
                m.serialize_entry("frame_type", "max_streams")?;
                m.serialize_entry("stream_type", stream_type(*dir))?;
                m.serialize_entry("maximum", count)?;
            }
            Frame::DataBlocked(limit) => {
                m.serialize_entry("frame_type", "data_blocked")?;
                m.serialize_entry("limit", limit)?;
            }
            Frame::StreamDataBlocked { id, limit } => {
                m.serialize_entry("frame_type", "stream_data_blocked")?;
                m.serialize_entry("stream_id", &id.0)?;
                m.serialize_entry("limit", limit)?;
            }
            Frame::StreamsBlocked { dir, limit } => {
                m.serialize_entry("frame_type", "streams_blocked")?;
                m.serialize_entry("stream_type", stream_type(*dir))?;
                m.serialize_entry("limit", limit)?;
            }
            Frame::NewConnectionId(n) | Frame::PathNewConnectionId(n) => {
                let on_path = matches!(self.frame, Frame::PathNewConnectionId(_));
                m.serialize_entry("frame_type", if on_path { "path_new_connection_id" } else { "new_connection_id" })?;
                if on_path {
                    m.serialize_entry("path_id", &n.path_id.0)?;
                }
                m.serialize_entry("sequence_number", &n.sequence)?;
                m.serialize_entry("retire_prior_to", &n.retire_prior_to)?;
                m.serialize_entry("connection_id_length", &n.id.len())?;
                m.serialize_entry("connection_id", &Hex(&n.id))?;
                m.serialize_entry("stateless_reset_token", &Hex(&n.reset_token))?;
            }
            Frame::RetireConnectionId(r) | Frame::PathRetireConnectionId(r) => {
                let on_path = matches!(self.frame, Frame::PathRetireConnectionId(_));
                m.serialize_entry(
                    "frame_type",
                    if on_path { "path_retire_connection_id" } else { "retire_connection_id" },
                )?;
                if on_path {
                    m.serialize_entry("path_id", &r.path_id.0)?;
                }
                m.serialize_entry("sequence_number", &r.sequence)?;
            }
            Frame::PathChallenge(d) | Frame::PathResponse(d) => {
                let challenge = matches!(self.frame, Frame::PathChallenge(_));
                m.serialize_entry("frame_type", if challenge { "path_challenge" } else { "path_response" })?;
                m.serialize_entry("data", &Hex(d))?;
            }
            Frame::ConnectionClose(c) => {
                m.serialize_entry("frame_type", "connection_close")?;
                m.serialize_entry("error_space", "transport")?;
                let name = transport_error(c.error_code);
                if name == "unknown" {
                    m.serialize_entry("error_code", &c.error_code.0)?;
                }
                m.serialize_entry("error", &name)?;
                serialize_reason(&mut m, &c.reason)?;
                m.serialize_entry("trigger_frame_type", &c.frame_type.0)?;
            }
            Frame::ApplicationClose(c) => {
                m.serialize_entry("frame_type", "connection_close")?;
                m.serialize_entry("error_space", "application")?;
                m.serialize_entry("error", "unknown")?;
                m.serialize_entry("error_code", &c.error_code)?;
                serialize_reason(&mut m, &c.reason)?;
            }
            Frame::HandshakeDone => m.serialize_entry("frame_type", "handshake_done")?,
            Frame::Datagram(d) => {
                m.serialize_entry("frame_type", "datagram")?;
                m.serialize_entry("raw", &payload(d.data.len()))?;
            }
            Frame::PathAbandon(a) => {
                m.serialize_entry("frame_type", "path_abandon")?;
                m.serialize_entry("path_id", &a.path_id.0)?;
                m.serialize_entry("error_code", &a.error_code)?;
            }
            Frame::PathStatusBackup(p) | Frame::PathStatusAvailable(p) => {
                let backup = matches!(self.frame, Frame::PathStatusBackup(_));
                m.serialize_entry("frame_type", if backup { "path_status_backup" } else { "path_status_available" })?;
                m.serialize_entry("path_id", &p.path_id.0)?;
                m.serialize_entry("path_status_sequence_number", &p.sequence)?;
            }
            Frame::MaxPathId(max) => {
                m.serialize_entry("frame_type", "max_path_id")?;
                m.serialize_entry("maximum_path_id", &max.0)?;
            }
            Frame::PathsBlocked(max) => {
                m.serialize_entry("frame_type", "paths_blocked")?;
                m.serialize_entry("maximum_path_id", &max.0)?;
            }
            Frame::PathCidsBlocked(b) => {
                m.serialize_entry("frame_type", "path_cids_blocked")?;
                m.serialize_entry("path_id", &b.path_id.0)?;
                m.serialize_entry("next_sequence_number", &b.next_sequence)?;
            }
        }
        m.end()
    }
}

/// A NEW_TOKEN token: its length only (the contents are the server's secret).
struct TokenView(usize);

impl Serialize for TokenView {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(1))?;
        m.serialize_entry("raw", &Raw { length: Some(self.0 as u64), payload_length: None })?;
        m.end()
    }
}

/// A reason phrase: as text when it is UTF-8, as hex bytes otherwise.
fn serialize_reason<M: SerializeMap>(m: &mut M, reason: &[u8]) -> Result<(), M::Error> {
    if reason.is_empty() {
        return Ok(());
    }
    match std::str::from_utf8(reason) {
        Ok(text) => m.serialize_entry("reason", text),
        Err(_) => m.serialize_entry("reason_bytes", &Hex(reason)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_and_tuple_ids_serialise_as_their_display_strings() {
        let bytes: Vec<u8> = (0..=255u8).collect();
        // Empty, a CID's sizes, the stack buffer's limit, and longer (the heap fallback).
        for n in [0, 1, 8, 20, 31, 32, 33, 256] {
            let hex = Hex(&bytes[..n]);
            let want: String = bytes[..n].iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(hex.to_string(), want);
            assert_eq!(serde_json::to_string(&hex).unwrap(), format!("\"{want}\""), "{n} bytes");
        }
        for id in [0, 7, 10, 12_345, u32::MAX] {
            assert_eq!(serde_json::to_string(&PathTuple(id)).unwrap(), format!("\"p{id}\""));
        }
    }
}
