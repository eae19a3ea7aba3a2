//! Flow-control credit (RFC 9000 §4), for one stream or for the whole connection.
//!
//! [`ReceiveWindow`] is the receiver's side: it checks that the peer stays below the limit we
//! advertised (MAX_DATA / MAX_STREAM_DATA), decides when a new limit is worth sending (once half
//! the window has been consumed by the application) and auto-tunes the window, doubling it up to
//! a configured maximum when either signal says the window, not the network or the application,
//! limits the transfer:
//!
//! - *fast updates*: two consecutive updates less than two round trips apart mean the
//!   application drains the window faster than the peer can refill it (the scheme of Chromium's
//!   `QuicFlowController`);
//! - *credit exhausted*: the peer's data reached the limit we advertised (it was held back by
//!   flow control), while the application had read everything that was readable. This catches
//!   what the RTT test misses with several paths: data queued on a slow path holds the window
//!   for that path's queueing delay, which the receiver's own RTT samples do not see (its
//!   packets on that path are mostly ACKs, and the queue is in the other direction). RFC 9000
//!   §4.2 leaves the policy to implementations; §19.12/§19.13 name "blocked" as input to tuning.
//!   A slow reader leaves readable data unread, so it never grows the window this way.
//!
//! [`SendCredit`] is the sender's side: the limit the peer granted and how much of it is used,
//! plus whether a DATA_BLOCKED / STREAM_DATA_BLOCKED frame is due (RFC 9000 §4.1).

use core::time::Duration;

use crate::coding::VarInt;
use crate::Instant;

/// The peer counts as having exhausted its credit once less than `window / this` is left.
const EXHAUSTED_SLACK_DIVISOR: u64 = 16;
/// The application counts as keeping up while at most `window / this` readable bytes wait unread.
const UNREAD_DIVISOR: u64 = 4;

/// Receive-side credit for one stream or for the connection.
#[derive(Debug, Clone)]
pub struct ReceiveWindow {
    /// Current window: how far beyond `consumed` we let the peer send.
    window: u64,
    /// Upper bound for auto-tuning.
    max_window: u64,
    /// The limit we last advertised (initial transport parameter, then MAX_DATA/MAX_STREAM_DATA).
    max_data: u64,
    /// Bytes the peer is known to have sent: highest offset (stream) or sum of them (connection).
    received: u64,
    /// Bytes released by the application (read, or discarded after a reset / STOP_SENDING).
    consumed: u64,
    /// When the last limit increase was handed out, for auto-tuning.
    last_update: Option<Instant>,
    /// The peer used (nearly) all the credit of the current limit: flow control held it back.
    credit_exhausted: bool,
}

impl ReceiveWindow {
    /// A window of `window` bytes that may grow up to `max_window`; `window` is also the
    /// initial limit (the transport parameter we advertise).
    pub fn new(window: u64, max_window: u64) -> Self {
        let window = window.min(VarInt::MAX.into_inner());
        Self {
            window,
            max_window: max_window.max(window),
            max_data: window,
            received: 0,
            consumed: 0,
            last_update: None,
            credit_exhausted: false,
        }
    }

    /// The limit currently advertised to the peer.
    pub fn max_data(&self) -> u64 {
        self.max_data
    }

    /// The current window size.
    pub fn window(&self) -> u64 {
        self.window
    }

    /// Bytes the peer has used.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Bytes the application has released.
    #[cfg(any(test, feature = "internals"))]
    pub fn consumed(&self) -> u64 {
        self.consumed
    }

    /// How many more bytes the peer may send.
    pub fn available(&self) -> u64 {
        self.max_data.saturating_sub(self.received)
    }

    /// Whether the peer may use `new_bytes` more bytes of credit.
    pub fn can_receive(&self, new_bytes: u64) -> bool {
        new_bytes <= self.available()
    }

    /// Records `new_bytes` more bytes used by the peer; the caller checked
    /// [`ReceiveWindow::can_receive`] (RFC 9000 §4.1: exceeding it is a FLOW_CONTROL_ERROR).
    pub fn on_received(&mut self, new_bytes: u64) {
        self.received += new_bytes;
        // "Nearly": a sender may leave a sliver of credit that does not fill a packet.
        if new_bytes > 0 && self.available() <= self.window / EXHAUSTED_SLACK_DIVISOR {
            self.credit_exhausted = true;
        }
    }

    /// Whether the peer used (nearly) all the credit of the limit in force.
    #[cfg(any(test, feature = "internals"))]
    pub fn credit_exhausted(&self) -> bool {
        self.credit_exhausted
    }

    /// Records that the application released `bytes`; returns true when a new limit should be
    /// advertised now.
    pub fn on_consumed(&mut self, bytes: u64) -> bool {
        self.consumed += bytes;
        self.should_update()
    }

    /// True once half the window has been consumed since the last advertised limit.
    pub fn should_update(&self) -> bool {
        self.max_data.saturating_sub(self.consumed) <= self.window / 2 && self.max_data < VarInt::MAX.into_inner()
    }

    /// Raises the window to at least `bytes` (bounded by the maximum); the connection window
    /// follows stream windows this way so one stream cannot starve on connection credit.
    pub fn ensure_window(&mut self, bytes: u64) {
        self.window = self.window.max(bytes.min(self.max_window));
    }

    /// The limit to put in a MAX_DATA / MAX_STREAM_DATA frame sent at `now`. Hands out a new
    /// limit when one is due (auto-tuning the window first) and the current one otherwise, so a
    /// lost frame is repaired by sending the latest value. `rtt` is the smoothed RTT the
    /// connection uses for this purpose; `unread` is the data that is readable (in order) but
    /// not yet read by the application, which tells a slow reader from a window that is too small.
    pub fn poll_max_data(&mut self, now: Instant, rtt: Duration, unread: u64) -> u64 {
        if self.should_update() {
            // A full half-window drained within two round trips: the window limits throughput.
            let fast = self.last_update.is_some_and(|last| now.saturating_duration_since(last) < rtt * 2);
            // The peer ran into the limit while the application kept up: the window limits it.
            let blocked = self.credit_exhausted && unread <= self.window / UNREAD_DIVISOR;
            if (fast || blocked) && self.window < self.max_window {
                self.window = self.window.saturating_mul(2).min(self.max_window);
            }
            self.last_update = Some(now);
            let max_data = self.consumed.saturating_add(self.window).min(VarInt::MAX.into_inner());
            if max_data > self.max_data {
                self.max_data = max_data;
                self.credit_exhausted = false;
            }
        }
        self.max_data
    }
}

/// Send-side credit: the limit the peer granted and how much of it we used.
#[derive(Debug, Clone, Default)]
pub struct SendCredit {
    /// The peer's limit (initial transport parameter, then MAX_DATA / MAX_STREAM_DATA).
    max_data: u64,
    /// Credit used (bytes written, counted when the application hands them over).
    used: u64,
    /// The limit at which we last reported being blocked, so one blocked frame goes out per limit.
    blocked_reported_at: Option<u64>,
}

impl SendCredit {
    /// Credit of `max_data` bytes, none used.
    pub fn new(max_data: u64) -> Self {
        Self { max_data, used: 0, blocked_reported_at: None }
    }

    /// The peer's limit.
    pub fn max_data(&self) -> u64 {
        self.max_data
    }

    /// Credit used so far.
    pub fn used(&self) -> u64 {
        self.used
    }

    /// Remaining credit.
    pub fn available(&self) -> u64 {
        self.max_data.saturating_sub(self.used)
    }

    /// Uses `bytes` of credit; the caller stayed within [`SendCredit::available`].
    pub fn consume(&mut self, bytes: u64) {
        debug_assert!(bytes <= self.available());
        self.used += bytes;
    }

    /// Applies a new limit from the peer; returns true when it raised the limit. RFC 9000 §4.1:
    /// limits never decrease, a smaller value is ignored.
    pub fn raise(&mut self, max_data: u64) -> bool {
        if max_data > self.max_data {
            self.max_data = max_data;
            true
        } else {
            false
        }
    }

    /// Replaces the limit, also with a smaller one, when the credit used fits under it: after
    /// rejected 0-RTT the limits we used were remembered ones, and the server starts from the
    /// ones of the new handshake (RFC 9000 §7.4.1). Returns false, changing nothing, when more
    /// than `max_data` is already used.
    pub fn restart_at(&mut self, max_data: u64) -> bool {
        if self.used > max_data {
            return false;
        }
        self.max_data = max_data;
        self.blocked_reported_at = None;
        true
    }

    /// Whether a blocked frame should be sent now: we are at the limit and have not yet
    /// reported this limit. Marks it reported.
    pub fn take_blocked(&mut self) -> bool {
        if self.available() == 0 && self.blocked_reported_at != Some(self.max_data) {
            self.blocked_reported_at = Some(self.max_data);
            true
        } else {
            false
        }
    }

    /// Whether we are still blocked at `limit` (to decide whether a lost blocked frame is worth
    /// sending again).
    pub fn is_blocked_at(&self, limit: u64) -> bool {
        self.available() == 0 && self.max_data == limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn update_after_half_window() {
        let mut w = ReceiveWindow::new(100, 100);
        assert!(w.can_receive(100));
        assert!(!w.can_receive(101));
        w.on_received(100);
        assert!(!w.on_consumed(49));
        assert!(w.on_consumed(1));
        assert_eq!(w.poll_max_data(Instant::ZERO, 10 * MS, 0), 150);
        assert!(!w.should_update());
        // A repeat (lost frame) carries the same value.
        assert_eq!(w.poll_max_data(Instant::ZERO, 10 * MS, 0), 150);
        assert_eq!(w.available(), 50);
    }

    #[test]
    fn auto_tuning_grows_only_when_fast() {
        let rtt = 10 * MS;
        let mut w = ReceiveWindow::new(100, 1000);
        let mut now = Instant::ZERO;
        // Slow application: one half-window per 100 ms, never grows.
        for _ in 0..5 {
            w.on_received(50);
            w.on_consumed(50);
            now += 100 * MS;
            w.poll_max_data(now, rtt, 0);
        }
        assert_eq!(w.window(), 100);
        // Fast application: updates 5 ms apart, doubles each time up to the maximum.
        for _ in 0..10 {
            let half = w.window() / 2;
            w.on_received(half);
            assert!(w.on_consumed(half));
            now += 5 * MS;
            w.poll_max_data(now, rtt, 0);
        }
        assert_eq!(w.window(), 1000);
        assert_eq!(w.max_data(), w.consumed() + 1000);
    }

    /// The peer runs into the limit while the application reads everything readable: the window
    /// doubles at each update even though the updates are far apart in RTTs (the receiver's RTT
    /// does not see the queue that holds its data back).
    #[test]
    fn exhausted_credit_grows_window_without_rtt_signal() {
        let rtt = MS;
        let mut w = ReceiveWindow::new(1000, 8000);
        let mut now = Instant::ZERO;
        let mut windows = Vec::new();
        for _ in 0..5 {
            // The peer uses all its credit; the application reads half a window of it.
            w.on_received(w.available());
            assert!(w.credit_exhausted());
            assert!(w.on_consumed(w.window() / 2));
            now += 100 * MS;
            w.poll_max_data(now, rtt, 0);
            assert!(!w.credit_exhausted(), "a new limit clears the signal");
            windows.push(w.window());
        }
        assert_eq!(windows, vec![2000, 4000, 8000, 8000, 8000]);
    }

    /// Without the signals the window stays put: a peer that leaves credit unused, or a slow
    /// reader that leaves readable data unread.
    #[test]
    fn no_growth_when_peer_has_credit_left_or_reader_is_slow() {
        let rtt = MS;
        let mut w = ReceiveWindow::new(1000, 8000);
        let mut now = Instant::ZERO;
        for _ in 0..5 {
            // The peer stops a quarter window short of the limit.
            let send = w.available() - 250;
            w.on_received(send);
            assert!(!w.credit_exhausted());
            w.on_consumed(send);
            now += 100 * MS;
            w.poll_max_data(now, rtt, 0);
        }
        assert_eq!(w.window(), 1000);
        for _ in 0..5 {
            // The peer fills the window, the application reads only half of it and leaves the
            // rest readable.
            w.on_received(w.available());
            assert!(w.credit_exhausted());
            let unread = w.received() - w.consumed() - 500;
            w.on_consumed(500);
            now += 100 * MS;
            w.poll_max_data(now, rtt, unread);
        }
        assert_eq!(w.window(), 1000);
    }

    #[test]
    fn send_credit_blocked_once_per_limit() {
        let mut c = SendCredit::new(10);
        c.consume(10);
        assert!(c.take_blocked());
        assert!(!c.take_blocked());
        assert!(c.is_blocked_at(10));
        assert!(!c.raise(5));
        assert!(c.raise(20));
        assert_eq!(c.available(), 10);
        assert!(!c.take_blocked());
        c.consume(10);
        assert!(c.take_blocked());
    }
}
