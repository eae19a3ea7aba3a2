//! Starting congestion control and RTT estimation over on a new network path (RFC 9000 §9.4).

use core::time::Duration;

use mpquic_cc::Controller;

use super::{unpaced, EcnValidator, PathRecovery, RttEstimator};
use crate::Instant;

impl<F> PathRecovery<F> {
    /// The path's addresses changed: forget the RTT estimates, the congestion controller's
    /// state, pacing and ECN validation (RFC 9000 §9.4), but keep the packet-number space and the
    /// packets in flight (the packet number may never repeat: it is part of the nonce).
    pub fn reset_for_new_path(&mut self, now: Instant, initial_rtt: Duration, controller: Box<dyn Controller>) {
        self.rtt = RttEstimator::new(initial_rtt);
        self.controller = controller;
        self.pacer = unpaced(self.max_datagram_size);
        self.ecn = EcnValidator::new(self.config.ecn);
        self.pto_count = 0;
        self.set_loss_detection_timer(now);
    }
}
