//! ECN validation of one path (RFC 9000 §13.4.2 and Appendix A.4).
//!
//! A path starts in *testing*: the first [`TESTING_PACKETS`] packets are sent with ECT(0). It
//! then waits, unmarked, in *unknown* until an acknowledgement validates the peer's counts
//! (*capable*: mark every packet) or something proves the path or peer broken (*failed*: never
//! mark again on this path). Only validated counts feed congestion control (RFC 9002 §7.1).

use crate::{EcnCodepoint, EcnCounts};

/// RFC 9000 Appendix A.4: number of ECT(0) packets sent while testing.
pub const TESTING_PACKETS: u64 = 10;

/// The validation state of a path (RFC 9000 Appendix A.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EcnState {
    /// Sending the first packets with ECT(0).
    Testing,
    /// Testing is over; not marking until an ACK validates the counts.
    Unknown,
    /// Validated: every packet is sent with ECT(0).
    Capable,
    /// Validation failed or ECN is disabled: packets are not marked.
    Failed,
}

/// Why validation failed (for logs and qlog `ecn_state_updated`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EcnFailure {
    /// An ACK newly acknowledged ECT-marked packets without ECN counts (RFC 9000 §13.4.2.1).
    MissingCounts,
    /// A count decreased (RFC 9000 §13.4.2.1).
    CountDecreased,
    /// The increase of ECT(0) + CE (or ECT(1) + CE) is smaller than the number of newly
    /// acknowledged packets sent with that codepoint (RFC 9000 §13.4.2.1).
    TooFewMarks,
    /// A count exceeds the number of packets sent with that codepoint (RFC 9000 §13.4.2.1).
    TooManyMarks,
    /// Every packet sent during testing was lost (RFC 9000 §13.4.2.1).
    AllTestPacketsLost,
}

/// What one ACK frame said about ECN, as the validator saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EcnAckResult {
    /// Nothing to act on (counts absent and nothing to validate, or ECN is disabled).
    Nothing,
    /// Counts validated; `ce_increase` new CE marks were reported (a congestion event when > 0,
    /// RFC 9002 §7.1).
    Valid {
        /// Increase of the ECN-CE count since the previous ACK of this space.
        ce_increase: u64,
    },
    /// Validation failed now.
    Failed(EcnFailure),
}

/// ECN validation state machine for one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcnValidator {
    state: EcnState,
    /// ECT(0) packets sent while testing.
    testing_sent: u64,
    /// Of those, how many are still neither acknowledged nor lost.
    testing_outstanding: u64,
    /// Of those, how many were acknowledged.
    testing_acked: u64,
    failure: Option<EcnFailure>,
}

impl Default for EcnValidator {
    fn default() -> Self {
        Self::new(true)
    }
}

impl EcnValidator {
    /// A validator in *testing*, or already *failed* when `enabled` is false (ECN off by
    /// configuration, or the socket cannot set codepoints).
    pub fn new(enabled: bool) -> Self {
        Self {
            state: if enabled { EcnState::Testing } else { EcnState::Failed },
            testing_sent: 0,
            testing_outstanding: 0,
            testing_acked: 0,
            failure: None,
        }
    }

    /// Starts validation again, e.g. after the path's addresses changed (RFC 9000 §13.4.2:
    /// validation is per path).
    #[cfg(any(test, feature = "internals"))]
    pub fn reset(&mut self) {
        *self = Self::new(self.state != EcnState::Failed || self.failure.is_some());
    }

    /// The current state.
    #[cfg(any(test, feature = "internals"))]
    pub fn state(&self) -> EcnState {
        self.state
    }

    /// Why validation failed, if it did.
    #[cfg(any(test, feature = "internals"))]
    pub fn failure(&self) -> Option<EcnFailure> {
        self.failure
    }

    /// The codepoint to set on the next packet of this path, or `None` for not-ECT.
    pub fn codepoint_for_next_packet(&self) -> Option<EcnCodepoint> {
        match self.state {
            EcnState::Testing | EcnState::Capable => Some(EcnCodepoint::Ect0),
            EcnState::Unknown | EcnState::Failed => None,
        }
    }

    /// A packet was sent with `codepoint` (as returned by [`Self::codepoint_for_next_packet`]).
    pub fn on_packet_sent(&mut self, codepoint: Option<EcnCodepoint>) {
        if self.state == EcnState::Testing && codepoint.is_some() {
            self.testing_sent += 1;
            self.testing_outstanding += 1;
            if self.testing_sent >= TESTING_PACKETS {
                self.state = EcnState::Unknown;
            }
        }
    }

    /// An ECT-marked packet sent before validation was declared lost.
    pub fn on_marked_packet_lost(&mut self) {
        if matches!(self.state, EcnState::Testing | EcnState::Unknown) && self.testing_outstanding > 0 {
            self.testing_outstanding -= 1;
            // RFC 9000 §13.4.2.1: all packets sent with ECT lost: the path probably drops them.
            if self.state == EcnState::Unknown && self.testing_outstanding == 0 && self.testing_acked == 0 {
                self.fail(EcnFailure::AllTestPacketsLost);
            }
        }
    }

    fn fail(&mut self, why: EcnFailure) {
        self.state = EcnState::Failed;
        self.failure = Some(why);
    }

    /// Validates the ECN counts of an ACK frame that increased the largest acknowledged packet
    /// number of its space (RFC 9000 §13.4.2.1: ACKs that do not are not validated, they may be
    /// reordered).
    ///
    /// `newly_acked` counts the newly acknowledged packets by the codepoint they were sent with,
    /// `previous` are the counts of the last validated ACK of this space, `sent` the packets ever
    /// sent in the space with each codepoint, and `counts` what the ACK reported.
    pub fn on_ack(
        &mut self,
        newly_acked: EcnCounts,
        previous: EcnCounts,
        sent: EcnCounts,
        counts: Option<EcnCounts>,
    ) -> EcnAckResult {
        let marked = newly_acked.ect0 + newly_acked.ect1 + newly_acked.ce;
        if matches!(self.state, EcnState::Testing | EcnState::Unknown) {
            let acked = marked.min(self.testing_outstanding);
            self.testing_outstanding -= acked;
            self.testing_acked += acked;
        }
        if self.state == EcnState::Failed {
            return EcnAckResult::Nothing;
        }
        let Some(counts) = counts else {
            if marked > 0 {
                self.fail(EcnFailure::MissingCounts);
                return EcnAckResult::Failed(EcnFailure::MissingCounts);
            }
            return EcnAckResult::Nothing;
        };
        if let Err(why) = Self::check(newly_acked, previous, sent, counts) {
            self.fail(why);
            return EcnAckResult::Failed(why);
        }
        if marked > 0 {
            // RFC 9000 Appendix A.4: successful validation of marked packets.
            self.state = EcnState::Capable;
        }
        EcnAckResult::Valid { ce_increase: counts.ce - previous.ce }
    }

    fn check(
        newly_acked: EcnCounts,
        previous: EcnCounts,
        sent: EcnCounts,
        counts: EcnCounts,
    ) -> Result<(), EcnFailure> {
        if counts.ect0 < previous.ect0 || counts.ect1 < previous.ect1 || counts.ce < previous.ce {
            return Err(EcnFailure::CountDecreased);
        }
        let ect0_increase = counts.ect0 - previous.ect0;
        let ect1_increase = counts.ect1 - previous.ect1;
        let ce_increase = counts.ce - previous.ce;
        // RFC 9000 §13.4.2.1: each newly acknowledged ECT(0) packet must be counted as ECT(0)
        // or CE (a router may have remarked it); same for ECT(1). CE is shared, so check the sum.
        if ect0_increase + ce_increase < newly_acked.ect0
            || ect1_increase + ce_increase < newly_acked.ect1
            || ect0_increase + ect1_increase + ce_increase < newly_acked.ect0 + newly_acked.ect1 + newly_acked.ce
        {
            return Err(EcnFailure::TooFewMarks);
        }
        // RFC 9000 §13.4.2.1: counts beyond what was sent mean the peer or path invents marks.
        // CE can come from either ECT codepoint, so compare totals where remarking is possible.
        if counts.ect0 > sent.ect0
            || counts.ect1 > sent.ect1
            || counts.ect0 + counts.ect1 + counts.ce > sent.ect0 + sent.ect1 + sent.ce
        {
            return Err(EcnFailure::TooManyMarks);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(ect0: u64, ect1: u64, ce: u64) -> EcnCounts {
        EcnCounts { ect0, ect1, ce }
    }

    fn send(v: &mut EcnValidator, n: u64) {
        for _ in 0..n {
            let cp = v.codepoint_for_next_packet();
            v.on_packet_sent(cp);
        }
    }

    #[test]
    fn testing_then_unknown_then_capable() {
        let mut v = EcnValidator::new(true);
        assert_eq!(v.codepoint_for_next_packet(), Some(EcnCodepoint::Ect0));
        send(&mut v, 9);
        assert_eq!(v.state(), EcnState::Testing);
        send(&mut v, 1);
        assert_eq!(v.state(), EcnState::Unknown);
        assert_eq!(v.codepoint_for_next_packet(), None);
        // Three ECT(0) packets acknowledged, one remarked CE on the way.
        let r = v.on_ack(c(3, 0, 0), c(0, 0, 0), c(10, 0, 0), Some(c(2, 0, 1)));
        assert_eq!(r, EcnAckResult::Valid { ce_increase: 1 });
        assert_eq!(v.state(), EcnState::Capable);
        assert_eq!(v.codepoint_for_next_packet(), Some(EcnCodepoint::Ect0));
    }

    #[test]
    fn failures() {
        let cases = [
            (c(2, 0, 0), c(0, 0, 0), None, EcnFailure::MissingCounts),
            (c(2, 0, 0), c(5, 0, 0), Some(c(4, 0, 0)), EcnFailure::CountDecreased),
            (c(3, 0, 0), c(0, 0, 0), Some(c(1, 0, 1)), EcnFailure::TooFewMarks),
            // Marks reported as ECT(1) for ECT(0) packets: bleached or rewritten.
            (c(2, 0, 0), c(0, 0, 0), Some(c(0, 2, 0)), EcnFailure::TooFewMarks),
            (c(2, 0, 0), c(0, 0, 0), Some(c(20, 0, 0)), EcnFailure::TooManyMarks),
        ];
        for (newly, prev, counts, why) in cases {
            let mut v = EcnValidator::new(true);
            send(&mut v, 10);
            assert_eq!(v.on_ack(newly, prev, c(10, 0, 0), counts), EcnAckResult::Failed(why), "{why:?}");
            assert_eq!(v.state(), EcnState::Failed);
            assert_eq!(v.codepoint_for_next_packet(), None);
            // Failed is final.
            assert_eq!(v.on_ack(c(1, 0, 0), c(0, 0, 0), c(10, 0, 0), Some(c(1, 0, 0))), EcnAckResult::Nothing);
        }
    }

    #[test]
    fn all_testing_packets_lost_fails() {
        let mut v = EcnValidator::new(true);
        send(&mut v, 10);
        for _ in 0..9 {
            v.on_marked_packet_lost();
        }
        assert_eq!(v.state(), EcnState::Unknown);
        v.on_marked_packet_lost();
        assert_eq!(v.failure(), Some(EcnFailure::AllTestPacketsLost));
    }

    #[test]
    fn unmarked_acks_without_counts_are_fine() {
        let mut v = EcnValidator::new(true);
        assert_eq!(v.on_ack(c(0, 0, 0), c(0, 0, 0), c(0, 0, 0), None), EcnAckResult::Nothing);
        assert_eq!(v.state(), EcnState::Testing);
        let mut off = EcnValidator::new(false);
        assert_eq!(off.codepoint_for_next_packet(), None);
        off.reset();
        assert_eq!(off.state(), EcnState::Failed);
    }
}
