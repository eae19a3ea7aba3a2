//! Starting a space over: the Initial space after a Retry (RFC 9000 §17.2.5.3, RFC 9002 §6.3),
//! and 0-RTT packets the server will not acknowledge (RFC 9001 §4.6.2).

use super::space::SpaceId;
use super::PathRecovery;
use crate::Instant;

impl<F> PathRecovery<F> {
    /// Forgets every packet in flight in `space` without declaring it lost and without an RTT
    /// sample, keeping the packet-number sequence: after a Retry the client sends its first
    /// flight again, with higher packet numbers.
    pub fn restart_space(&mut self, now: Instant, space: SpaceId) {
        self.forget_space(now, space, drop);
    }
}

impl<F> PathRecovery<F> {
    /// Takes every packet in flight in `space` out of recovery, into `out`, without declaring
    /// it lost, without an RTT sample and without telling the congestion controller; the
    /// packet-number sequence continues. For 0-RTT packets the server will never acknowledge:
    /// 0-RTT rejected (RFC 9001 §4.6.2) or a Retry (RFC 9000 §17.2.5.3). The caller sends their
    /// frames again.
    pub fn take_sent_packets(&mut self, now: Instant, space: SpaceId, out: &mut Vec<super::SentPacket<F>>) {
        self.forget_space(now, space, |p| out.push(p));
    }

    /// Empties `space` through `f` (see `PacketSpace::forget_in_flight`) and re-arms the timers.
    fn forget_space(&mut self, now: Instant, space: SpaceId, f: impl FnMut(super::SentPacket<F>)) {
        let Some(s) = self.spaces[space.index()].as_mut() else { return };
        self.bytes_in_flight -= s.forget_in_flight(f);
        self.pto_count = 0;
        self.set_loss_detection_timer(now);
    }
}
