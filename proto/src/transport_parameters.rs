//! QUIC transport parameters (RFC 9000 §7.4, §18), as carried in the TLS
//! `quic_transport_parameters` extension.
//!
//! Covers every RFC 9000 parameter, `max_datagram_frame_size` (RFC 9221 §3),
//! `grease_quic_bit` (RFC 9287 §3) and `initial_max_path_id` (RFC 10069 §2,
//! code point 0x3e in `spec/multipath-draft.md`). Absent parameters take their RFC defaults, and
//! [`TransportParameters::encode`] omits parameters equal to their default, so
//! `decode(encode(p)) == p`. [`TransportParameters::decode`] validates everything RFC 9000 §7.4
//! and §18.2 ask of a receiver and reports violations as TRANSPORT_PARAMETER_ERROR; unknown and
//! reserved (31 * N + 27) parameters are skipped (RFC 9000 §7.4.2, §18.1).

use core::time::Duration;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};

use bytes::{Buf, BufMut};
use rand::RngCore;

use crate::coding::{get_varint, put_varint, varint_size, VarInt};
use crate::shared::{ResetToken, RESET_TOKEN_SIZE};
use crate::error::TransportError;
use crate::shared::{ConnectionId, Side, MAX_CID_SIZE};
use mpquic_core::PathId;

/// Transport parameter identifiers (RFC 9000 §18.2, RFC 9221 §3, RFC 9287 §3,
/// RFC 10069 §2).
pub mod id {
    /// RFC 9000 §18.2.
    pub const ORIGINAL_DESTINATION_CONNECTION_ID: u64 = 0x00;
    /// RFC 9000 §18.2.
    pub const MAX_IDLE_TIMEOUT: u64 = 0x01;
    /// RFC 9000 §18.2.
    pub const STATELESS_RESET_TOKEN: u64 = 0x02;
    /// RFC 9000 §18.2.
    pub const MAX_UDP_PAYLOAD_SIZE: u64 = 0x03;
    /// RFC 9000 §18.2.
    pub const INITIAL_MAX_DATA: u64 = 0x04;
    /// RFC 9000 §18.2.
    pub const INITIAL_MAX_STREAM_DATA_BIDI_LOCAL: u64 = 0x05;
    /// RFC 9000 §18.2.
    pub const INITIAL_MAX_STREAM_DATA_BIDI_REMOTE: u64 = 0x06;
    /// RFC 9000 §18.2.
    pub const INITIAL_MAX_STREAM_DATA_UNI: u64 = 0x07;
    /// RFC 9000 §18.2.
    pub const INITIAL_MAX_STREAMS_BIDI: u64 = 0x08;
    /// RFC 9000 §18.2.
    pub const INITIAL_MAX_STREAMS_UNI: u64 = 0x09;
    /// RFC 9000 §18.2.
    pub const ACK_DELAY_EXPONENT: u64 = 0x0a;
    /// RFC 9000 §18.2.
    pub const MAX_ACK_DELAY: u64 = 0x0b;
    /// RFC 9000 §18.2.
    pub const DISABLE_ACTIVE_MIGRATION: u64 = 0x0c;
    /// RFC 9000 §18.2.
    pub const PREFERRED_ADDRESS: u64 = 0x0d;
    /// RFC 9000 §18.2.
    pub const ACTIVE_CONNECTION_ID_LIMIT: u64 = 0x0e;
    /// RFC 9000 §18.2.
    pub const INITIAL_SOURCE_CONNECTION_ID: u64 = 0x0f;
    /// RFC 9000 §18.2.
    pub const RETRY_SOURCE_CONNECTION_ID: u64 = 0x10;
    /// RFC 9221 §3.
    pub const MAX_DATAGRAM_FRAME_SIZE: u64 = 0x20;
    /// RFC 9287 §3.
    pub const GREASE_QUIC_BIT: u64 = 0x2ab2;
    /// RFC 10069 §2 (final code point).
    pub const INITIAL_MAX_PATH_ID: u64 = 0x3e;
}

/// RFC 9000 §18.2: the default and largest meaningful max_udp_payload_size.
pub const DEFAULT_MAX_UDP_PAYLOAD_SIZE: u64 = 65527;
/// RFC 9000 §18.2: the default ack_delay_exponent.
pub const DEFAULT_ACK_DELAY_EXPONENT: u64 = 3;
/// RFC 9000 §18.2: the default max_ack_delay in milliseconds.
pub const DEFAULT_MAX_ACK_DELAY_MS: u64 = 25;
/// RFC 9000 §18.2: the default (and smallest allowed) active_connection_id_limit.
pub const DEFAULT_ACTIVE_CONNECTION_ID_LIMIT: u64 = 2;

/// The server's preferred address (RFC 9000 §9.6, §18.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreferredAddress {
    /// The IPv4 address and port, if offered (sent as all zeros when absent).
    pub address_v4: Option<SocketAddrV4>,
    /// The IPv6 address and port, if offered (sent as all zeros when absent). Flow info and
    /// scope ID are not carried and decode as zero.
    pub address_v6: Option<SocketAddrV6>,
    /// A connection ID for the preferred address, of sequence number 1 (never zero-length).
    /// With multipath it belongs to path 0 (RFC 10069 §2).
    pub connection_id: ConnectionId,
    /// The stateless reset token of `connection_id`.
    pub stateless_reset_token: ResetToken,
}

impl PreferredAddress {
    fn encoded_len(&self) -> usize {
        4 + 2 + 16 + 2 + 1 + self.connection_id.len() + RESET_TOKEN_SIZE
    }

    fn encode<B: BufMut>(&self, buf: &mut B) {
        let v4 = self.address_v4.unwrap_or(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0));
        buf.put_slice(&v4.ip().octets());
        buf.put_u16(v4.port());
        let v6 = self.address_v6.unwrap_or(SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, 0, 0, 0));
        buf.put_slice(&v6.ip().octets());
        buf.put_u16(v6.port());
        buf.put_u8(self.connection_id.len() as u8);
        buf.put_slice(&self.connection_id);
        buf.put_slice(&self.stateless_reset_token.0);
    }

    fn decode(mut value: &[u8]) -> Result<Self, TransportError> {
        let err = |why: &str| TransportError::TRANSPORT_PARAMETER_ERROR(format!("preferred_address: {why}"));
        if value.len() < 4 + 2 + 16 + 2 + 1 + RESET_TOKEN_SIZE {
            return Err(err("too short"));
        }
        let mut ip4 = [0u8; 4];
        value.copy_to_slice(&mut ip4);
        let port4 = value.get_u16();
        let mut ip6 = [0u8; 16];
        value.copy_to_slice(&mut ip6);
        let port6 = value.get_u16();
        let cid_len = usize::from(value.get_u8());
        // RFC 9000 §18.2: a zero-length connection ID here is a TRANSPORT_PARAMETER_ERROR.
        if cid_len == 0 {
            return Err(err("zero-length connection ID"));
        }
        if cid_len > MAX_CID_SIZE {
            return Err(err("connection ID longer than 20 bytes"));
        }
        if value.len() != cid_len + RESET_TOKEN_SIZE {
            return Err(err("length does not match its fields"));
        }
        let connection_id = ConnectionId::new(&value[..cid_len]).ok_or_else(|| err("bad connection ID"))?;
        let mut token = [0u8; RESET_TOKEN_SIZE];
        token.copy_from_slice(&value[cid_len..]);
        let address_v4 = (ip4 != [0; 4] || port4 != 0).then(|| SocketAddrV4::new(Ipv4Addr::from(ip4), port4));
        let address_v6 = (ip6 != [0; 16] || port6 != 0).then(|| SocketAddrV6::new(Ipv6Addr::from(ip6), port6, 0, 0));
        Ok(Self { address_v4, address_v6, connection_id, stateless_reset_token: ResetToken(token) })
    }
}

/// The transport parameters one endpoint declares (RFC 9000 §18.2). `Default` gives the values
/// RFC 9000 assigns to absent parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportParameters {
    /// 0x00, server only: the Destination Connection ID of the client's first Initial.
    pub original_destination_connection_id: Option<ConnectionId>,
    /// 0x01: idle timeout in milliseconds; 0 disables it (RFC 9000 §10.1).
    pub max_idle_timeout: VarInt,
    /// 0x02, server only: the stateless reset token of the handshake connection ID.
    pub stateless_reset_token: Option<ResetToken>,
    /// 0x03: the largest UDP payload this endpoint will receive; at least 1200.
    pub max_udp_payload_size: VarInt,
    /// 0x04: connection-level flow control limit in bytes.
    pub initial_max_data: VarInt,
    /// 0x05: stream flow control limit for bidirectional streams this endpoint opens.
    pub initial_max_stream_data_bidi_local: VarInt,
    /// 0x06: stream flow control limit for bidirectional streams the peer opens.
    pub initial_max_stream_data_bidi_remote: VarInt,
    /// 0x07: stream flow control limit for unidirectional streams the peer opens.
    pub initial_max_stream_data_uni: VarInt,
    /// 0x08: how many bidirectional streams the peer may open; at most 2^60.
    pub initial_max_streams_bidi: VarInt,
    /// 0x09: how many unidirectional streams the peer may open; at most 2^60.
    pub initial_max_streams_uni: VarInt,
    /// 0x0a: exponent for the ACK Delay field; at most 20.
    pub ack_delay_exponent: VarInt,
    /// 0x0b: the longest this endpoint delays acknowledgments, in milliseconds; below 2^14.
    pub max_ack_delay: VarInt,
    /// 0x0c: the endpoint does not support active migration to its handshake address.
    pub disable_active_migration: bool,
    /// 0x0d, server only: an address to migrate to after the handshake.
    pub preferred_address: Option<PreferredAddress>,
    /// 0x0e: how many connection IDs from the peer this endpoint stores (per path with
    /// multipath, RFC 10069 §2); at least 2.
    pub active_connection_id_limit: VarInt,
    /// 0x0f: the Source Connection ID of the endpoint's first Initial; required (RFC 9000 §7.3).
    pub initial_source_connection_id: Option<ConnectionId>,
    /// 0x10, server only: the Source Connection ID of the Retry the server sent, if any.
    pub retry_source_connection_id: Option<ConnectionId>,
    /// 0x20 (RFC 9221): the largest DATAGRAM frame accepted; `None` means no DATAGRAM support.
    pub max_datagram_frame_size: Option<VarInt>,
    /// 0x2ab2 (RFC 9287): the endpoint accepts packets with the QUIC bit cleared.
    pub grease_quic_bit: bool,
    /// 0x3e (RFC 10069 §2): multipath is offered, and this is the largest
    /// path ID the peer may use at first. `None` means no multipath.
    pub initial_max_path_id: Option<PathId>,
    /// Which draft's code point carries `initial_max_path_id` (not a parameter itself: it is how
    /// the parameter was, or will be, identified on the wire). Every multipath code point lives
    /// in one table per version in proto's `frame` module.
    pub multipath_version: crate::frame::MultipathVersion,
}

impl Default for TransportParameters {
    fn default() -> Self {
        Self {
            original_destination_connection_id: None,
            max_idle_timeout: VarInt::ZERO,
            stateless_reset_token: None,
            max_udp_payload_size: VarInt::from_u64_saturating(DEFAULT_MAX_UDP_PAYLOAD_SIZE),
            initial_max_data: VarInt::ZERO,
            initial_max_stream_data_bidi_local: VarInt::ZERO,
            initial_max_stream_data_bidi_remote: VarInt::ZERO,
            initial_max_stream_data_uni: VarInt::ZERO,
            initial_max_streams_bidi: VarInt::ZERO,
            initial_max_streams_uni: VarInt::ZERO,
            ack_delay_exponent: VarInt::from_u64_saturating(DEFAULT_ACK_DELAY_EXPONENT),
            max_ack_delay: VarInt::from_u64_saturating(DEFAULT_MAX_ACK_DELAY_MS),
            disable_active_migration: false,
            preferred_address: None,
            active_connection_id_limit: VarInt::from_u64_saturating(DEFAULT_ACTIVE_CONNECTION_ID_LIMIT),
            initial_source_connection_id: None,
            retry_source_connection_id: None,
            max_datagram_frame_size: None,
            grease_quic_bit: false,
            initial_max_path_id: None,
            multipath_version: crate::frame::MultipathVersion::default(),
        }
    }
}

/// initial_max_path_id as draft-ietf-quic-multipath-13 … -18 numbered it.
const DRAFT13_INITIAL_MAX_PATH_ID: u64 = 0x0f73_9bbc_1b66_6d0d;

/// Index of each known parameter in the duplicate-detection bit set.
fn known_index(id: u64) -> Option<u32> {
    Some(match id {
        0x00..=0x10 => id as u32,
        id::MAX_DATAGRAM_FRAME_SIZE => 17,
        id::GREASE_QUIC_BIT => 18,
        id::INITIAL_MAX_PATH_ID => 19,
        DRAFT13_INITIAL_MAX_PATH_ID => 20,
        _ => return None,
    })
}

/// RFC 9000 §18.1: identifiers of the form 31 * N + 27 are reserved to exercise the rule that
/// unknown parameters are ignored.
#[cfg(any(test, feature = "internals"))]
pub fn is_reserved_id(id: u64) -> bool {
    id % 31 == 27
}

fn tp_error(reason: impl Into<String>) -> TransportError {
    TransportError::TRANSPORT_PARAMETER_ERROR(reason)
}

impl TransportParameters {
    /// The idle timeout, or `None` if this endpoint does not time out (RFC 9000 §10.1).
    pub fn max_idle_timeout_duration(&self) -> Option<Duration> {
        match self.max_idle_timeout.into_inner() {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        }
    }

    /// max_ack_delay as a duration.
    pub fn max_ack_delay_duration(&self) -> Duration {
        Duration::from_millis(self.max_ack_delay.into_inner())
    }

    /// Writes the parameters (RFC 9000 §18: id, length, value for each), skipping those equal to
    /// their default. The caller is responsible for not setting server-only parameters on a
    /// client; [`Self::decode`] on the other end rejects them.
    pub fn encode<B: BufMut>(&self, buf: &mut B) {
        let d = Self::default();
        let var = |buf: &mut B, id: u64, value: VarInt, default: VarInt| {
            if value != default {
                put_varint(buf, id);
                put_varint(buf, value.size() as u64);
                value.encode(buf);
            }
        };
        let cid = |buf: &mut B, id: u64, cid: &Option<ConnectionId>| {
            if let Some(cid) = cid {
                put_varint(buf, id);
                put_varint(buf, cid.len() as u64);
                buf.put_slice(cid);
            }
        };
        let flag = |buf: &mut B, id: u64, on: bool| {
            if on {
                put_varint(buf, id);
                put_varint(buf, 0);
            }
        };

        cid(buf, id::ORIGINAL_DESTINATION_CONNECTION_ID, &self.original_destination_connection_id);
        var(buf, id::MAX_IDLE_TIMEOUT, self.max_idle_timeout, d.max_idle_timeout);
        if let Some(token) = &self.stateless_reset_token {
            put_varint(buf, id::STATELESS_RESET_TOKEN);
            put_varint(buf, RESET_TOKEN_SIZE as u64);
            buf.put_slice(&token.0);
        }
        var(buf, id::MAX_UDP_PAYLOAD_SIZE, self.max_udp_payload_size, d.max_udp_payload_size);
        var(buf, id::INITIAL_MAX_DATA, self.initial_max_data, d.initial_max_data);
        var(
            buf,
            id::INITIAL_MAX_STREAM_DATA_BIDI_LOCAL,
            self.initial_max_stream_data_bidi_local,
            d.initial_max_stream_data_bidi_local,
        );
        var(
            buf,
            id::INITIAL_MAX_STREAM_DATA_BIDI_REMOTE,
            self.initial_max_stream_data_bidi_remote,
            d.initial_max_stream_data_bidi_remote,
        );
        var(buf, id::INITIAL_MAX_STREAM_DATA_UNI, self.initial_max_stream_data_uni, d.initial_max_stream_data_uni);
        var(buf, id::INITIAL_MAX_STREAMS_BIDI, self.initial_max_streams_bidi, d.initial_max_streams_bidi);
        var(buf, id::INITIAL_MAX_STREAMS_UNI, self.initial_max_streams_uni, d.initial_max_streams_uni);
        var(buf, id::ACK_DELAY_EXPONENT, self.ack_delay_exponent, d.ack_delay_exponent);
        var(buf, id::MAX_ACK_DELAY, self.max_ack_delay, d.max_ack_delay);
        flag(buf, id::DISABLE_ACTIVE_MIGRATION, self.disable_active_migration);
        if let Some(pa) = &self.preferred_address {
            put_varint(buf, id::PREFERRED_ADDRESS);
            put_varint(buf, pa.encoded_len() as u64);
            pa.encode(buf);
        }
        var(buf, id::ACTIVE_CONNECTION_ID_LIMIT, self.active_connection_id_limit, d.active_connection_id_limit);
        cid(buf, id::INITIAL_SOURCE_CONNECTION_ID, &self.initial_source_connection_id);
        cid(buf, id::RETRY_SOURCE_CONNECTION_ID, &self.retry_source_connection_id);
        if let Some(size) = self.max_datagram_frame_size {
            put_varint(buf, id::MAX_DATAGRAM_FRAME_SIZE);
            put_varint(buf, size.size() as u64);
            size.encode(buf);
        }
        flag(buf, id::GREASE_QUIC_BIT, self.grease_quic_bit);
        if let Some(path) = self.initial_max_path_id {
            put_varint(buf, self.multipath_version.codes().initial_max_path_id_tp);
            put_varint(buf, varint_size(path.as_u64()) as u64);
            put_varint(buf, path.as_u64());
        }
    }

    /// [`Self::encode`], followed by one reserved parameter (RFC 9000 §18.1: id 31 * N + 27)
    /// with a random id and up to 16 random bytes, so that peers keep ignoring unknown
    /// parameters.
    pub fn encode_with_grease<B: BufMut>(&self, rng: &mut impl RngCore, buf: &mut B) {
        self.encode(buf);
        // N below 2^32 keeps the id well inside the varint range.
        let id = 31 * u64::from(rng.next_u32()) + 27;
        let len = (rng.next_u32() % 17) as usize;
        let mut value = [0u8; 16];
        rng.fill_bytes(&mut value[..len]);
        put_varint(buf, id);
        put_varint(buf, len as u64);
        buf.put_slice(&value[..len]);
    }

    /// The parameters in `bytes`, sent by the endpoint on side `sender`, fully validated
    /// (RFC 9000 §7.4, §18.2). Any violation is a TRANSPORT_PARAMETER_ERROR. Never panics.
    pub fn decode(sender: Side, mut bytes: &[u8]) -> Result<Self, TransportError> {
        let mut params = Self::default();
        let mut seen = 0u32;
        while !bytes.is_empty() {
            let id = get_varint(&mut bytes).map_err(|_| tp_error("truncated parameter id"))?;
            let len = get_varint(&mut bytes).map_err(|_| tp_error("truncated parameter length"))?;
            if len > bytes.len() as u64 {
                return Err(tp_error(format!("parameter {id:#x} longer than the remaining bytes")));
            }
            let (value, rest) = bytes.split_at(len as usize);
            bytes = rest;

            let Some(index) = known_index(id) else {
                // RFC 9000 §7.4.2: unknown (including reserved) parameters are ignored.
                continue;
            };
            // RFC 9000 §7.4: a parameter sent twice is a TRANSPORT_PARAMETER_ERROR.
            if seen & (1 << index) != 0 {
                return Err(tp_error(format!("parameter {id:#x} sent twice")));
            }
            seen |= 1 << index;

            // RFC 9000 §18.2: these may only be sent by a server.
            if sender == Side::Client
                && matches!(
                    id,
                    id::ORIGINAL_DESTINATION_CONNECTION_ID
                        | id::STATELESS_RESET_TOKEN
                        | id::PREFERRED_ADDRESS
                        | id::RETRY_SOURCE_CONNECTION_ID
                )
            {
                return Err(tp_error(format!("client sent server-only parameter {id:#x}")));
            }

            match id {
                id::ORIGINAL_DESTINATION_CONNECTION_ID => {
                    params.original_destination_connection_id = Some(decode_cid(id, value)?)
                }
                id::INITIAL_SOURCE_CONNECTION_ID => params.initial_source_connection_id = Some(decode_cid(id, value)?),
                id::RETRY_SOURCE_CONNECTION_ID => params.retry_source_connection_id = Some(decode_cid(id, value)?),
                id::STATELESS_RESET_TOKEN => {
                    let token: [u8; RESET_TOKEN_SIZE] =
                        value.try_into().map_err(|_| tp_error("stateless_reset_token is not 16 bytes"))?;
                    params.stateless_reset_token = Some(ResetToken(token));
                }
                id::DISABLE_ACTIVE_MIGRATION | id::GREASE_QUIC_BIT => {
                    if !value.is_empty() {
                        return Err(tp_error(format!("parameter {id:#x} must be empty")));
                    }
                    if id == id::DISABLE_ACTIVE_MIGRATION {
                        params.disable_active_migration = true;
                    } else {
                        params.grease_quic_bit = true;
                    }
                }
                id::PREFERRED_ADDRESS => params.preferred_address = Some(PreferredAddress::decode(value)?),
                _ => {
                    let v = decode_varint_value(id, value)?;
                    match id {
                        id::MAX_IDLE_TIMEOUT => params.max_idle_timeout = v,
                        id::MAX_UDP_PAYLOAD_SIZE => params.max_udp_payload_size = v,
                        id::INITIAL_MAX_DATA => params.initial_max_data = v,
                        id::INITIAL_MAX_STREAM_DATA_BIDI_LOCAL => params.initial_max_stream_data_bidi_local = v,
                        id::INITIAL_MAX_STREAM_DATA_BIDI_REMOTE => params.initial_max_stream_data_bidi_remote = v,
                        id::INITIAL_MAX_STREAM_DATA_UNI => params.initial_max_stream_data_uni = v,
                        id::INITIAL_MAX_STREAMS_BIDI => params.initial_max_streams_bidi = v,
                        id::INITIAL_MAX_STREAMS_UNI => params.initial_max_streams_uni = v,
                        id::ACK_DELAY_EXPONENT => params.ack_delay_exponent = v,
                        id::MAX_ACK_DELAY => params.max_ack_delay = v,
                        id::ACTIVE_CONNECTION_ID_LIMIT => params.active_connection_id_limit = v,
                        id::MAX_DATAGRAM_FRAME_SIZE => params.max_datagram_frame_size = Some(v),
                        id::INITIAL_MAX_PATH_ID | DRAFT13_INITIAL_MAX_PATH_ID => {
                            // RFC 10069 §2: above 2^32 - 1 is an error.
                            let path = u32::try_from(v.into_inner())
                                .map_err(|_| tp_error("initial_max_path_id above 2^32 - 1"))?;
                            // A peer offering both drafts gets the newest.
                            let draft21 = id == id::INITIAL_MAX_PATH_ID;
                            if draft21 || params.initial_max_path_id.is_none() {
                                params.initial_max_path_id = Some(PathId(path));
                                params.multipath_version = if draft21 {
                                    crate::frame::MultipathVersion::Draft21
                                } else {
                                    crate::frame::MultipathVersion::Draft13To18
                                };
                            }
                        }
                        // known_index lists exactly the ids handled above.
                        _ => {}
                    }
                }
            }
        }
        params.validate_values()?;
        Ok(params)
    }

    /// RFC 9000 §18.2 value limits.
    fn validate_values(&self) -> Result<(), TransportError> {
        if self.max_udp_payload_size.into_inner() < 1200 {
            return Err(tp_error("max_udp_payload_size below 1200"));
        }
        if self.ack_delay_exponent.into_inner() > 20 {
            return Err(tp_error("ack_delay_exponent above 20"));
        }
        if self.max_ack_delay.into_inner() >= 1 << 14 {
            return Err(tp_error("max_ack_delay of 2^14 ms or more"));
        }
        if self.active_connection_id_limit.into_inner() < 2 {
            return Err(tp_error("active_connection_id_limit below 2"));
        }
        // RFC 9000 §4.6: a stream count above 2^60 could not be encoded as a stream ID.
        if self.initial_max_streams_bidi.into_inner() > 1 << 60 {
            return Err(tp_error("initial_max_streams_bidi above 2^60"));
        }
        if self.initial_max_streams_uni.into_inner() > 1 << 60 {
            return Err(tp_error("initial_max_streams_uni above 2^60"));
        }
        Ok(())
    }

    /// RFC 9000 §7.3: authenticates the connection IDs used during the handshake against the
    /// parameters the peer on side `sender` declared. `initial_source` is the Source Connection
    /// ID of the peer's first Initial. When the server sent these, `original_destination` is the
    /// Destination Connection ID of the client's first Initial and `retry_source` the Source
    /// Connection ID of the Retry the client received, if any (both are ignored when `sender`
    /// is the client). Absence or mismatch is a TRANSPORT_PARAMETER_ERROR.
    pub fn authenticate_connection_ids(
        &self,
        sender: Side,
        initial_source: &ConnectionId,
        original_destination: &ConnectionId,
        retry_source: Option<&ConnectionId>,
    ) -> Result<(), TransportError> {
        if self.initial_source_connection_id.as_ref() != Some(initial_source) {
            return Err(tp_error("initial_source_connection_id absent or mismatched"));
        }
        if sender == Side::Server {
            if self.original_destination_connection_id.as_ref() != Some(original_destination) {
                return Err(tp_error("original_destination_connection_id absent or mismatched"));
            }
            if self.retry_source_connection_id.as_ref() != retry_source {
                return Err(tp_error("retry_source_connection_id absent, unexpected or mismatched"));
            }
        }
        Ok(())
    }
}

fn decode_cid(id: u64, value: &[u8]) -> Result<ConnectionId, TransportError> {
    ConnectionId::new(value).ok_or_else(|| tp_error(format!("connection ID in {id:#x} longer than 20 bytes")))
}

/// A varint that must fill the parameter's value exactly (RFC 9000 §18).
fn decode_varint_value(id: u64, mut value: &[u8]) -> Result<VarInt, TransportError> {
    let v = get_varint(&mut value).map_err(|_| tp_error(format!("parameter {id:#x} truncated")))?;
    if !value.is_empty() {
        return Err(tp_error(format!("parameter {id:#x} has trailing bytes")));
    }
    Ok(VarInt::from_u64_saturating(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::TransportErrorCode;
    use proptest::prelude::*;

    fn cid(b: &[u8]) -> ConnectionId {
        ConnectionId::new(b).unwrap()
    }

    fn full_server_params() -> TransportParameters {
        TransportParameters {
            original_destination_connection_id: Some(cid(&[1; 8])),
            max_idle_timeout: VarInt::from_u32(30_000),
            stateless_reset_token: Some(ResetToken([0xab; 16])),
            max_udp_payload_size: VarInt::from_u32(1472),
            initial_max_data: VarInt::from_u32(1 << 20),
            initial_max_stream_data_bidi_local: VarInt::from_u32(1 << 16),
            initial_max_stream_data_bidi_remote: VarInt::from_u32(1 << 17),
            initial_max_stream_data_uni: VarInt::from_u32(1 << 18),
            initial_max_streams_bidi: VarInt::from_u32(100),
            initial_max_streams_uni: VarInt::from_u32(3),
            ack_delay_exponent: VarInt::from_u32(10),
            max_ack_delay: VarInt::from_u32(100),
            disable_active_migration: true,
            preferred_address: Some(PreferredAddress {
                address_v4: Some("192.0.2.1:443".parse().unwrap()),
                address_v6: None,
                connection_id: cid(&[9, 9, 9, 9]),
                stateless_reset_token: ResetToken([0xcd; 16]),
            }),
            active_connection_id_limit: VarInt::from_u32(8),
            initial_source_connection_id: Some(cid(&[2; 8])),
            retry_source_connection_id: Some(cid(&[])),
            max_datagram_frame_size: Some(VarInt::from_u32(65535)),
            grease_quic_bit: true,
            initial_max_path_id: Some(PathId(u32::MAX)),
            multipath_version: crate::frame::MultipathVersion::Draft21,
        }
    }

    fn encode(p: &TransportParameters) -> Vec<u8> {
        let mut buf = Vec::new();
        p.encode(&mut buf);
        buf
    }

    /// One parameter: id, length, value.
    fn param(id: u64, value: &[u8]) -> Vec<u8> {
        let mut buf = Vec::new();
        put_varint(&mut buf, id);
        put_varint(&mut buf, value.len() as u64);
        buf.extend_from_slice(value);
        buf
    }

    fn varint(x: u64) -> Vec<u8> {
        let mut buf = Vec::new();
        put_varint(&mut buf, x);
        buf
    }

    fn assert_tp_error(sender: Side, bytes: &[u8]) {
        let err = TransportParameters::decode(sender, bytes).unwrap_err();
        assert_eq!(err.code, TransportErrorCode::TRANSPORT_PARAMETER_ERROR, "{err}");
    }

    #[test]
    fn defaults_match_rfc9000() {
        let d = TransportParameters::default();
        assert_eq!(d.max_udp_payload_size.into_inner(), 65527);
        assert_eq!(d.ack_delay_exponent.into_inner(), 3);
        assert_eq!(d.max_ack_delay_duration(), Duration::from_millis(25));
        assert_eq!(d.active_connection_id_limit.into_inner(), 2);
        assert_eq!(d.max_idle_timeout_duration(), None);
        assert_eq!(TransportParameters::decode(Side::Client, &[]).unwrap(), d);
        assert!(encode(&d).is_empty());
    }

    #[test]
    fn full_round_trip() {
        let p = full_server_params();
        assert_eq!(TransportParameters::decode(Side::Server, &encode(&p)).unwrap(), p);
    }

    #[test]
    fn unknown_and_reserved_parameters_are_skipped() {
        let mut bytes = param(27, &[1, 2, 3]);
        bytes.extend(param(31 * 1000 + 27, &[]));
        bytes.extend(param(0x1234, &[0; 40]));
        bytes.extend(param(id::INITIAL_MAX_DATA, &varint(99)));
        bytes.extend(param(27, &[])); // repeated unknown: ignored
        let p = TransportParameters::decode(Side::Client, &bytes).unwrap();
        assert_eq!(p.initial_max_data.into_inner(), 99);
        assert!(is_reserved_id(27) && is_reserved_id(58) && !is_reserved_id(28));

        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let p = full_server_params();
        let mut buf = Vec::new();
        p.encode_with_grease(&mut rng, &mut buf);
        assert!(buf.len() > encode(&p).len());
        assert_eq!(TransportParameters::decode(Side::Server, &buf).unwrap(), p);
    }

    #[test]
    fn duplicates_are_errors() {
        let mut bytes = param(id::INITIAL_MAX_DATA, &varint(1));
        bytes.extend(param(id::INITIAL_MAX_DATA, &varint(1)));
        assert_tp_error(Side::Client, &bytes);
        let mut bytes = param(id::DISABLE_ACTIVE_MIGRATION, &[]);
        bytes.extend(param(id::DISABLE_ACTIVE_MIGRATION, &[]));
        assert_tp_error(Side::Server, &bytes);
        let mut bytes = param(id::INITIAL_MAX_PATH_ID, &varint(1));
        bytes.extend(param(id::INITIAL_MAX_PATH_ID, &varint(2)));
        assert_tp_error(Side::Server, &bytes);
    }

    #[test]
    fn server_only_parameters_from_a_client_are_errors() {
        let p = full_server_params();
        for (id, value) in [
            (id::ORIGINAL_DESTINATION_CONNECTION_ID, vec![1, 2, 3, 4]),
            (id::STATELESS_RESET_TOKEN, vec![0; 16]),
            (id::RETRY_SOURCE_CONNECTION_ID, vec![5; 8]),
            (id::PREFERRED_ADDRESS, {
                let mut v = Vec::new();
                p.preferred_address.unwrap().encode(&mut v);
                v
            }),
        ] {
            let bytes = param(id, &value);
            assert_tp_error(Side::Client, &bytes);
            assert!(TransportParameters::decode(Side::Server, &bytes).is_ok(), "{id:#x}");
        }
    }

    #[test]
    fn value_limits() {
        let bad = [
            (id::ACK_DELAY_EXPONENT, 21),
            (id::MAX_ACK_DELAY, 1 << 14),
            (id::MAX_UDP_PAYLOAD_SIZE, 1199),
            (id::ACTIVE_CONNECTION_ID_LIMIT, 1),
            (id::ACTIVE_CONNECTION_ID_LIMIT, 0),
            (id::INITIAL_MAX_STREAMS_BIDI, (1 << 60) + 1),
            (id::INITIAL_MAX_STREAMS_UNI, (1 << 60) + 1),
            (id::INITIAL_MAX_PATH_ID, 1 << 32),
        ];
        for (id, value) in bad {
            assert_tp_error(Side::Client, &param(id, &varint(value)));
        }
        let good = [
            (id::ACK_DELAY_EXPONENT, 20),
            (id::MAX_ACK_DELAY, (1 << 14) - 1),
            (id::MAX_UDP_PAYLOAD_SIZE, 1200),
            (id::ACTIVE_CONNECTION_ID_LIMIT, 2),
            (id::INITIAL_MAX_STREAMS_BIDI, 1 << 60),
            (id::INITIAL_MAX_STREAMS_UNI, 1 << 60),
            (id::INITIAL_MAX_PATH_ID, u64::from(u32::MAX)),
        ];
        for (id, value) in good {
            assert!(TransportParameters::decode(Side::Client, &param(id, &varint(value))).is_ok(), "{id:#x}");
        }
    }

    #[test]
    fn malformed_lengths() {
        // Length runs past the end.
        assert_tp_error(Side::Client, &[id::INITIAL_MAX_DATA as u8, 4, 0x80]);
        // Truncated id and length.
        assert_tp_error(Side::Client, &[0x40]);
        assert_tp_error(Side::Client, &[0x04]);
        // Varint value shorter or longer than its length field.
        assert_tp_error(Side::Client, &param(id::INITIAL_MAX_DATA, &[0x80, 0]));
        assert_tp_error(Side::Client, &param(id::INITIAL_MAX_DATA, &[1, 2]));
        assert_tp_error(Side::Client, &param(id::INITIAL_MAX_DATA, &[]));
        // Flags carry no value.
        assert_tp_error(Side::Client, &param(id::DISABLE_ACTIVE_MIGRATION, &[0]));
        assert_tp_error(Side::Client, &param(id::GREASE_QUIC_BIT, &[0]));
        // Reset token of the wrong size, connection ID over 20 bytes.
        assert_tp_error(Side::Server, &param(id::STATELESS_RESET_TOKEN, &[0; 15]));
        assert_tp_error(Side::Server, &param(id::STATELESS_RESET_TOKEN, &[0; 17]));
        assert_tp_error(Side::Client, &param(id::INITIAL_SOURCE_CONNECTION_ID, &[0; 21]));
        // A non-minimal varint encoding is still valid.
        let p = TransportParameters::decode(Side::Client, &param(id::INITIAL_MAX_DATA, &[0x40, 5])).unwrap();
        assert_eq!(p.initial_max_data.into_inner(), 5);
    }

    #[test]
    fn preferred_address_checks() {
        let pa = full_server_params().preferred_address.unwrap();
        let mut v = Vec::new();
        pa.encode(&mut v);
        let ok = TransportParameters::decode(Side::Server, &param(id::PREFERRED_ADDRESS, &v)).unwrap();
        assert_eq!(ok.preferred_address, Some(pa));
        // Zero-length connection ID (RFC 9000 §18.2).
        let zero = PreferredAddress { connection_id: ConnectionId::EMPTY, ..pa };
        let mut z = Vec::new();
        zero.encode(&mut z);
        assert_tp_error(Side::Server, &param(id::PREFERRED_ADDRESS, &z));
        // Truncated and over-long.
        assert_tp_error(Side::Server, &param(id::PREFERRED_ADDRESS, &v[..v.len() - 1]));
        let mut long = v.clone();
        long.push(0);
        assert_tp_error(Side::Server, &param(id::PREFERRED_ADDRESS, &long));
        // CID length byte over 20.
        let mut big = v.clone();
        big[24] = 21;
        assert_tp_error(Side::Server, &param(id::PREFERRED_ADDRESS, &big));
    }

    #[test]
    fn connection_id_authentication() {
        let p = full_server_params();
        let (isc, odc) = (cid(&[2; 8]), cid(&[1; 8]));
        assert!(p.authenticate_connection_ids(Side::Server, &isc, &odc, Some(&cid(&[]))).is_ok());
        assert!(p.authenticate_connection_ids(Side::Server, &isc, &odc, None).is_err());
        assert!(p.authenticate_connection_ids(Side::Server, &odc, &odc, Some(&cid(&[]))).is_err());
        assert!(p.authenticate_connection_ids(Side::Server, &isc, &isc, Some(&cid(&[]))).is_err());
        let client = TransportParameters { initial_source_connection_id: Some(isc), ..Default::default() };
        assert!(client.authenticate_connection_ids(Side::Client, &isc, &odc, None).is_ok());
        let absent = TransportParameters::default();
        assert!(absent.authenticate_connection_ids(Side::Client, &isc, &odc, None).is_err());
    }

    fn arb_varint(max: u64) -> impl Strategy<Value = VarInt> {
        prop_oneof![0..64u64, 0..16384u64, 0..=max].prop_map(VarInt::from_u64_saturating)
    }

    fn arb_cid(min: usize) -> impl Strategy<Value = ConnectionId> {
        proptest::collection::vec(any::<u8>(), min..=20).prop_map(|b| ConnectionId::new(&b).unwrap())
    }

    prop_compose! {
        fn arb_preferred_address()(
            v4 in proptest::option::of((any::<[u8; 4]>(), 1..=u16::MAX)),
            v6 in proptest::option::of((any::<[u8; 16]>(), 1..=u16::MAX)),
            connection_id in arb_cid(1),
            token in any::<[u8; 16]>(),
        ) -> PreferredAddress {
            PreferredAddress {
                address_v4: v4.map(|(ip, port)| SocketAddrV4::new(ip.into(), port)),
                address_v6: v6.map(|(ip, port)| SocketAddrV6::new(ip.into(), port, 0, 0)),
                connection_id,
                stateless_reset_token: ResetToken(token),
            }
        }
    }

    prop_compose! {
        fn arb_params()(
            odcid in proptest::option::of(arb_cid(0)),
            idle in arb_varint(VarInt::MAX.into_inner()),
            token in proptest::option::of(any::<[u8; 16]>()),
            udp in 1200..=(1u64 << 62) - 1,
            limits in proptest::array::uniform4(arb_varint(VarInt::MAX.into_inner())),
            streams in proptest::array::uniform2(arb_varint(1 << 60)),
            ack_exp in 0..=20u64,
            ack_delay in 0..(1u64 << 14),
            disable in any::<bool>(),
            pa in proptest::option::of(arb_preferred_address()),
            cid_limit in 2..=(1u64 << 62) - 1,
            iscid in proptest::option::of(arb_cid(0)),
            rscid in proptest::option::of(arb_cid(0)),
            dgram in proptest::option::of(arb_varint(VarInt::MAX.into_inner())),
            grease in any::<bool>(),
            path in proptest::option::of(any::<u32>()),
        ) -> TransportParameters {
            TransportParameters {
                original_destination_connection_id: odcid,
                max_idle_timeout: idle,
                stateless_reset_token: token.map(ResetToken),
                max_udp_payload_size: VarInt::from_u64_saturating(udp),
                initial_max_data: limits[0],
                initial_max_stream_data_bidi_local: limits[1],
                initial_max_stream_data_bidi_remote: limits[2],
                initial_max_stream_data_uni: limits[3],
                initial_max_streams_bidi: streams[0],
                initial_max_streams_uni: streams[1],
                ack_delay_exponent: VarInt::from_u64_saturating(ack_exp),
                max_ack_delay: VarInt::from_u64_saturating(ack_delay),
                disable_active_migration: disable,
                preferred_address: pa,
                active_connection_id_limit: VarInt::from_u64_saturating(cid_limit),
                initial_source_connection_id: iscid,
                retry_source_connection_id: rscid,
                max_datagram_frame_size: dgram,
                grease_quic_bit: grease,
                initial_max_path_id: path.map(PathId),
                multipath_version: crate::frame::MultipathVersion::Draft21,
            }
        }
    }

    use rand::SeedableRng;

    proptest! {
        #[test]
        fn round_trip(p in arb_params(), seed in any::<u64>()) {
            let bytes = encode(&p);
            prop_assert_eq!(&TransportParameters::decode(Side::Server, &bytes).unwrap(), &p);
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let mut greased = Vec::new();
            p.encode_with_grease(&mut rng, &mut greased);
            prop_assert_eq!(&TransportParameters::decode(Side::Server, &greased).unwrap(), &p);
            // A client sending any server-only parameter is rejected; without them it is not.
            let has_server_only = p.original_destination_connection_id.is_some()
                || p.stateless_reset_token.is_some()
                || p.preferred_address.is_some()
                || p.retry_source_connection_id.is_some();
            prop_assert_eq!(TransportParameters::decode(Side::Client, &bytes).is_err(), has_server_only);
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = TransportParameters::decode(Side::Client, &bytes);
            let _ = TransportParameters::decode(Side::Server, &bytes);
        }

        #[test]
        fn decode_never_panics_on_mutations(p in arb_params(), flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4)) {
            let mut bytes = encode(&p);
            if !bytes.is_empty() {
                for (at, x) in flips {
                    let i = at % bytes.len();
                    bytes[i] ^= x;
                }
            }
            let _ = TransportParameters::decode(Side::Server, &bytes);
        }
    }
}
