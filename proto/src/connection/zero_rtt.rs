//! 0-RTT (RFC 9001 §4.6, RFC 9000 §7.4.1): a client resuming a session sends stream data before
//! the handshake completes, under the limits it remembered with the session ticket; the server
//! accepts or rejects it in the handshake, and rejected data is sent again in 1-RTT packets.
//!
//! rustls keeps the server's transport parameters with each ticket and hands them back
//! ([`TlsSession::peer_transport_parameters`](crate::crypto::TlsSession) reports them until the
//! server's EncryptedExtensions arrive), decides acceptance on the server, and keeps tickets
//! single-use (RFC 8446 §8.1). What is left to the connection: the 0-RTT packet keys, which
//! frames go into 0-RTT packets, and what happens to them once the answer is known.

use super::Connection;
use crate::crypto::DirectionalKeys;
use crate::error::{TransportError, TransportErrorCode};
use crate::packet::SpaceId;
use crate::path::PathId;
use crate::stream::PeerLimits;
use crate::transport_parameters::TransportParameters;
use crate::Instant;

/// Where 0-RTT stands on a connection ([`Connection::zero_rtt`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZeroRttStatus {
    /// No 0-RTT: the client had no ticket allowing it or did not enable early data, or (on a
    /// server) the client did not send 0-RTT packets this server could open.
    NotAttempted,
    /// Client: 0-RTT keys exist and stream data may go out early; the server has not answered yet.
    Pending {
        /// Stream bytes sent in 0-RTT packets so far (retransmissions included).
        bytes: u64,
    },
    /// The server accepted 0-RTT.
    Accepted {
        /// Stream bytes sent (client) or received (server) in 0-RTT packets.
        bytes: u64,
    },
    /// The server rejected 0-RTT; the client sent the data again in 1-RTT packets.
    Rejected {
        /// Stream bytes sent (client) or received and dropped (server) in 0-RTT packets.
        bytes: u64,
    },
}

/// 0-RTT state of one connection.
#[derive(Debug, Default)]
pub(super) struct ZeroRtt {
    /// Client: the key sealing 0-RTT packets; server: the key opening them. Dropped once 1-RTT
    /// keys take over (RFC 9001 §4.9.3).
    pub(super) keys: Option<DirectionalKeys>,
    /// Client: the server's parameters remembered with the ticket (RFC 9000 §7.4.1).
    remembered: Option<TransportParameters>,
    /// Keys were set up (client: offered 0-RTT; server: accepted it).
    attempted: bool,
    /// The answer, once known: `Some(true)` accepted.
    accepted: Option<bool>,
    /// Stream bytes in 0-RTT packets (sent by a client, received by a server).
    pub(super) stream_bytes: u64,
}

impl ZeroRtt {
    fn status(&self) -> ZeroRttStatus {
        let bytes = self.stream_bytes;
        match (self.attempted, self.accepted) {
            (_, Some(true)) => ZeroRttStatus::Accepted { bytes },
            (_, Some(false)) => ZeroRttStatus::Rejected { bytes },
            (true, None) => ZeroRttStatus::Pending { bytes },
            (false, None) => ZeroRttStatus::NotAttempted,
        }
    }
}

/// The stream limits of a set of transport parameters.
pub(super) fn peer_limits(params: &TransportParameters) -> PeerLimits {
    PeerLimits {
        initial_max_data: params.initial_max_data.into_inner(),
        initial_max_stream_data_bidi_local: params.initial_max_stream_data_bidi_local.into_inner(),
        initial_max_stream_data_bidi_remote: params.initial_max_stream_data_bidi_remote.into_inner(),
        initial_max_stream_data_uni: params.initial_max_stream_data_uni.into_inner(),
        initial_max_streams_bidi: params.initial_max_streams_bidi.into_inner(),
        initial_max_streams_uni: params.initial_max_streams_uni.into_inner(),
    }
}

impl Connection {
    /// Where 0-RTT stands: not attempted, pending (client), accepted or rejected, with the stream
    /// bytes that went into 0-RTT packets.
    pub fn zero_rtt(&self) -> ZeroRttStatus {
        self.zero_rtt.status()
    }

    /// Client, right after the ClientHello: if TLS offered early data (a resumed session whose
    /// ticket allows it, and `enable_early_data` set: RFC 9001 §5.6 sends application data in
    /// 0-RTT only when the application asks), take the 0-RTT keys and the remembered limits.
    pub(super) fn start_client_0rtt(&mut self) {
        let Some(keys) = self.tls.zero_rtt_keys() else { return };
        // Remembered parameters that cannot be decoded: no 0-RTT rather than guessed limits.
        let Ok(Some(remembered)) = self.tls.peer_transport_parameters() else { return };
        // RFC 9000 §7.4.1: only the flow-control and stream limits matter to what we send in
        // 0-RTT; ack_delay_exponent, max_ack_delay, the connection IDs, preferred_address and
        // stateless_reset_token must not be taken from memory, and RFC 10069 forbids
        // remembering initial_max_path_id, so multipath waits for the handshake.
        self.streams.set_peer_limits(peer_limits(&remembered));
        self.zero_rtt.keys = Some(keys);
        self.zero_rtt.remembered = Some(remembered);
        self.zero_rtt.attempted = true;
    }

    /// Server, after each handshake step: the 0-RTT keys once TLS accepted early data.
    pub(super) fn poll_server_0rtt_keys(&mut self) {
        if self.zero_rtt.attempted || self.one_rtt_received {
            return;
        }
        if let Some(keys) = self.tls.zero_rtt_keys() {
            self.zero_rtt.keys = Some(keys);
            self.zero_rtt.attempted = true;
            self.zero_rtt.accepted = Some(true);
        }
    }

    /// Server: a 0-RTT packet arrived that no key opens after the ClientHello was processed:
    /// 0-RTT was rejected (or its keys are gone).
    pub(super) fn on_unopened_0rtt(&mut self) {
        if !self.zero_rtt.attempted && self.handshake_keys.is_some() {
            self.zero_rtt.accepted = Some(false);
        }
    }

    /// Client, when the handshake completes with the server's `params`: the server's answer to
    /// 0-RTT.
    pub(super) fn resolve_client_0rtt(
        &mut self,
        now: Instant,
        params: &TransportParameters,
    ) -> Result<(), TransportError> {
        // RFC 9001 §4.9.3: no more 0-RTT packets once 1-RTT keys are installed.
        self.zero_rtt.keys = None;
        let Some(remembered) = self.zero_rtt.remembered.take() else { return Ok(()) };
        if self.tls.is_early_data_accepted() {
            self.zero_rtt.accepted = Some(true);
            // RFC 9000 §7.4.1: a server that accepts 0-RTT must not lower any limit the client may
            // have used under it.
            let lowered = [
                (
                    "active_connection_id_limit",
                    remembered.active_connection_id_limit.into_inner(),
                    params.active_connection_id_limit.into_inner(),
                ),
                ("initial_max_data", remembered.initial_max_data.into_inner(), params.initial_max_data.into_inner()),
                (
                    "initial_max_stream_data_bidi_local",
                    remembered.initial_max_stream_data_bidi_local.into_inner(),
                    params.initial_max_stream_data_bidi_local.into_inner(),
                ),
                (
                    "initial_max_stream_data_bidi_remote",
                    remembered.initial_max_stream_data_bidi_remote.into_inner(),
                    params.initial_max_stream_data_bidi_remote.into_inner(),
                ),
                (
                    "initial_max_stream_data_uni",
                    remembered.initial_max_stream_data_uni.into_inner(),
                    params.initial_max_stream_data_uni.into_inner(),
                ),
                (
                    "initial_max_streams_bidi",
                    remembered.initial_max_streams_bidi.into_inner(),
                    params.initial_max_streams_bidi.into_inner(),
                ),
                (
                    "initial_max_streams_uni",
                    remembered.initial_max_streams_uni.into_inner(),
                    params.initial_max_streams_uni.into_inner(),
                ),
            ]
            .into_iter()
            .find(|&(_, old, new)| new < old);
            if let Some((name, old, new)) = lowered {
                return Err(TransportError::PROTOCOL_VIOLATION(format!(
                    "0-RTT accepted but {name} lowered from {old} to {new} (RFC 9000 §7.4.1)"
                )));
            }
            return Ok(());
        }
        self.zero_rtt.accepted = Some(false);
        // RFC 9001 §4.6.2: after rejection nothing the client assumed holds; the streams start
        // over under the new limits (RFC 9000 §7.4.1), and the data is sent again in 1-RTT.
        self.streams.restart_peer_limits(peer_limits(params)).map_err(|why| {
            TransportError::new(
                TransportErrorCode::INTERNAL_ERROR,
                format!("0-RTT rejected and cannot be sent again in 1-RTT: {why}"),
            )
        })?;
        self.resend_0rtt_packets(now);
        Ok(())
    }

    /// Takes the 0-RTT packets out of path 0's recovery (the server will never acknowledge
    /// them: RFC 9002 §6.4 drops the state of packets whose keys are gone) and queues their
    /// frames again.
    pub(super) fn resend_0rtt_packets(&mut self, now: Instant) {
        let mut packets = Vec::new();
        if let Some(path) = self.paths.table.get_mut(&PathId::ZERO) {
            path.recovery.take_sent_packets(now, SpaceId::Data, &mut packets);
        }
        for p in &packets {
            self.requeue_frames(SpaceId::Data, &p.frames);
        }
    }

    /// Client: whether path `path_id` has stream data to send in a 0-RTT packet now.
    pub(super) fn wants_to_send_0rtt(&mut self, now: Instant, path_id: PathId) -> bool {
        if self.zero_rtt.keys.is_none() || path_id != PathId::ZERO || !self.side.is_client() {
            return false;
        }
        let Some(path) = self.paths.table.get(&path_id) else { return false };
        let cc_open = path.recovery.can_send(u64::from(path.mtu())) && path.pacing_release.is_none_or(|t| now >= t);
        (cc_open || path.recovery.probes_pending() > 0) && self.streams.has_stream_data()
    }
}
