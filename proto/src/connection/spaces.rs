//! Encryption levels and 1-RTT key phases (RFC 9001 §4, §6).

use crate::crypto::{EncryptionLevel, HeaderKeys, Keys, PacketKey, PacketKeys, TlsSession};
use crate::error::TransportError;
use crate::packet::SpaceId;
use crate::path::PathId;
use crate::Instant;

/// The packet-number space an encryption level's CRYPTO data travels in (RFC 9001 §4.1.3:
/// 0-RTT and 1-RTT share the application data space; CRYPTO is not allowed in 0-RTT).
pub fn level_space(level: EncryptionLevel) -> SpaceId {
    match level {
        EncryptionLevel::Initial => SpaceId::Initial,
        EncryptionLevel::Handshake => SpaceId::Handshake,
        EncryptionLevel::OneRtt => SpaceId::Data,
    }
}

/// 1-RTT keys with key-phase handling (RFC 9001 §6).
///
/// `current` seals what we send and opens packets whose Key Phase bit equals `key_phase`.
/// `next` is the following generation, ready for the peer's update or ours. After an update,
/// `previous` opens reordered packets of the old phase until it is discarded (§6.5).
#[derive(Debug)]
pub struct OneRttKeys {
    /// Header protection keys; never updated (RFC 9001 §6).
    pub header: HeaderKeys,
    current: PacketKeys,
    next: PacketKeys,
    previous: Option<PreviousKeys>,
    key_phase: bool,
    /// The first packet (path, number) we sent with the current keys; an ACK of it or later allows
    /// the next update (RFC 9001 §6.1).
    first_sent_in_phase: Option<(PathId, u64)>,
    current_phase_acked: bool,
    /// Packets sent with the current keys, for the confidentiality limit (§6.6).
    sent_in_phase: u64,
    /// Updates completed.
    pub updates: u64,
    /// The packet (path, number) with which the peer started its last key update, until we
    /// send an acknowledgement of it under the new keys (RFC 9001 §6.2).
    peer_update_unacknowledged: Option<(PathId, u64)>,
}

#[derive(Debug)]
struct PreviousKeys {
    remote: PacketKey,
    /// Packets at or above this number (per path 0 ordering) use the new keys; set on the first
    /// packet received with the new phase.
    end_pn: Option<u64>,
    /// Drop the old keys at this time (§6.5: three times the PTO after the update).
    discard_at: Option<Instant>,
}

impl OneRttKeys {
    /// Keys of phase 0 from the handshake.
    pub fn new(keys: Keys, tls: &mut TlsSession) -> Self {
        let next = tls.next_1rtt_keys().expect("1-RTT keys imply next-generation secrets");
        Self {
            header: keys.header,
            current: keys.packet,
            next,
            previous: None,
            key_phase: false,
            first_sent_in_phase: None,
            current_phase_acked: false,
            sent_in_phase: 0,
            updates: 0,
            peer_update_unacknowledged: None,
        }
    }

    /// The Key Phase bit to send.
    pub fn key_phase(&self) -> bool {
        self.key_phase
    }

    /// The key sealing what we send.
    pub fn local(&self) -> &PacketKey {
        &self.current.local
    }

    /// The key opening a packet with Key Phase `phase` and packet number `pn`, and whether
    /// succeeding with it means the peer started a key update.
    pub fn remote_for(&self, phase: bool, pn: u64) -> (&PacketKey, bool) {
        if phase == self.key_phase {
            return (&self.current.remote, false);
        }
        if let Some(prev) = &self.previous {
            if prev.end_pn.is_none_or(|end| pn < end) {
                return (&prev.remote, false);
            }
        }
        (&self.next.remote, true)
    }

    /// A packet of the current phase was authenticated: the old keys' era ends at `pn`.
    pub fn on_current_phase_packet(&mut self, now: Instant, pn: u64, pto: core::time::Duration) {
        if let Some(prev) = &mut self.previous {
            if prev.end_pn.is_none() {
                prev.end_pn = Some(pn);
                prev.discard_at = Some(now + 3 * pto);
            }
        }
    }

    /// The peer updated keys and packet `pn` on `path` opened with `next`: switch both
    /// directions. RFC 9001 §6.2: an update detected before we sent, under the new keys, an
    /// acknowledgement of the packet that started the previous one means the peer updated twice
    /// without waiting for confirmation; that is a KEY_UPDATE_ERROR.
    pub fn on_peer_update(
        &mut self,
        tls: &mut TlsSession,
        now: Instant,
        path: PathId,
        pn: u64,
        pto: core::time::Duration,
    ) -> Result<(), TransportError> {
        if let Some((first_path, first_pn)) = self.peer_update_unacknowledged {
            return Err(TransportError::KEY_UPDATE_ERROR(format!(
                "key update on path {path} packet {pn} before the previous one (path {first_path} packet \
                 {first_pn}) was acknowledged"
            )));
        }
        self.rotate(tls);
        self.peer_update_unacknowledged = Some((path, pn));
        if let Some(prev) = &mut self.previous {
            prev.end_pn = Some(pn);
            prev.discard_at = Some(now + 3 * pto);
        }
        Ok(())
    }

    /// We sent, under the current keys, an ACK (or PATH_ACK) for `path` acknowledging packets up
    /// to `largest`: if that covers the packet that started the peer's update, the update is
    /// complete (RFC 9001 §6.2).
    pub fn on_ack_sent(&mut self, path: PathId, largest: u64) {
        if self.peer_update_unacknowledged.is_some_and(|(p, pn)| p == path && largest >= pn) {
            self.peer_update_unacknowledged = None;
        }
    }

    /// Whether we may start an update now (§6.1: not before the current phase's packets are
    /// acknowledged, and not while old keys are still kept).
    pub fn can_initiate_update(&self) -> bool {
        self.previous.is_none() && self.current_phase_acked
    }

    /// Starts an update. Returns whether it started.
    pub fn initiate_update(&mut self, tls: &mut TlsSession) -> bool {
        if !self.can_initiate_update() {
            return false;
        }
        self.rotate(tls);
        true
    }

    /// Starts an update even when RFC 9001 §6.1 forbids it (conformance tests that play a peer
    /// updating twice without waiting).
    pub fn initiate_update_unchecked(&mut self, tls: &mut TlsSession) {
        self.rotate(tls);
    }

    fn rotate(&mut self, tls: &mut TlsSession) {
        let Some(newer) = tls.next_1rtt_keys() else { return };
        let next = core::mem::replace(&mut self.next, newer);
        let old = core::mem::replace(&mut self.current, next);
        self.previous = Some(PreviousKeys { remote: old.remote, end_pn: None, discard_at: None });
        self.key_phase = !self.key_phase;
        self.first_sent_in_phase = None;
        self.current_phase_acked = false;
        self.sent_in_phase = 0;
        self.updates += 1;
    }

    /// A packet was sealed with the current keys.
    pub fn on_packet_sent(&mut self, path: PathId, pn: u64) {
        self.sent_in_phase += 1;
        if self.first_sent_in_phase.is_none() {
            self.first_sent_in_phase = Some((path, pn));
        }
    }

    /// An ACK on `path` acknowledged packets up to `largest_acked`.
    pub fn on_ack(&mut self, path: PathId, largest_acked: u64) {
        if let Some((p, first)) = self.first_sent_in_phase {
            if p == path && largest_acked >= first {
                self.current_phase_acked = true;
            }
        }
    }

    /// Whether an update is due: `interval` packets passed, or half of `confidentiality_limit`
    /// (RFC 9001 §6.6: an endpoint MUST initiate a key update before the limit is reached;
    /// starting at half leaves the other half for the update to become possible, §6.1).
    pub fn update_due(&self, interval: u64, confidentiality_limit: u64) -> bool {
        self.sent_in_phase >= interval.min(confidentiality_limit / 2)
    }

    /// Packets sealed with the current keys (RFC 9001 §6.6 counts them per key).
    pub fn sent_in_phase(&self) -> u64 {
        self.sent_in_phase
    }

    /// When the previous keys are to be dropped.
    pub fn discard_deadline(&self) -> Option<Instant> {
        self.previous.as_ref().and_then(|p| p.discard_at)
    }

    /// Drops the previous keys when their time has come.
    pub fn on_timeout(&mut self, now: Instant) {
        if self.previous.as_ref().and_then(|p| p.discard_at).is_some_and(|t| now >= t) {
            self.previous = None;
        }
    }
}
