//! The emulator's clock: real time in nanoseconds since the first datagram (time 0 of the
//! scenario's timeline, as `Nanos` is virtual time 0 in the simulator), and how the relay waits
//! for the next release.
//!
//! tokio's timer has a resolution of one millisecond, too coarse next to the serialisation time
//! of a packet (0.24 ms for 1500 bytes at 50 Mbit/s). The relay therefore waits in two steps:
//! with tokio (sockets readable, or a timer) until [`FINE_WINDOW`] before the next release, then
//! in short `std::thread::sleep`s of at most [`FINE_STEP`] (a high-resolution timer on Linux),
//! reading the sockets between them. The relay owns its thread, so sleeping blocks nothing else.
//! A datagram is therefore never released early, and late by about `FINE_STEP` plus the
//! scheduling delay of the machine at most.

use std::time::{Duration, Instant};

use crate::sim::Nanos;

/// Below this distance to the next release the relay stops using tokio's timer.
pub const FINE_WINDOW: Duration = Duration::from_millis(2);
/// Longest sleep in the fine-grained phase (the sockets are read after each).
pub const FINE_STEP: Duration = Duration::from_micros(200);
/// Longest wait of the coarse phase (how often the stop flag is looked at when idle).
pub const IDLE_STEP: Duration = Duration::from_millis(50);

/// Real time since the first datagram.
#[derive(Debug, Clone, Copy, Default)]
pub struct Clock {
    epoch: Option<Instant>,
}

impl Clock {
    /// Starts the clock at `at` if it is not running yet (the first datagram's arrival).
    pub fn start(&mut self, at: Instant) {
        self.epoch.get_or_insert(at);
    }

    /// Whether the first datagram arrived.
    pub fn started(&self) -> bool {
        self.epoch.is_some()
    }

    /// Nanoseconds since the start (0 before it).
    pub fn now(&self) -> Nanos {
        self.at(Instant::now())
    }

    /// Nanoseconds from the start to `t` (0 before the start).
    pub fn at(&self, t: Instant) -> Nanos {
        self.epoch.map_or(0, |e| t.saturating_duration_since(e).as_nanos() as Nanos)
    }

    /// The real instant of emulator time `t` (`None` before the start).
    pub fn instant(&self, t: Nanos) -> Option<Instant> {
        self.epoch.map(|e| e + Duration::from_nanos(t))
    }
}

/// How to wait for a release due at `due` when the clock reads `now` (both emulator time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Due now or overdue.
    None,
    /// Sleep the thread this long, then read the sockets again.
    Fine(Duration),
    /// Wait for a socket to become readable, at most this long.
    Coarse(Duration),
}

/// The wait policy (see the module docs); `due` is `None` when nothing is scheduled.
pub fn wait_for(now: Nanos, due: Option<Nanos>) -> Wait {
    let Some(due) = due else { return Wait::Coarse(IDLE_STEP) };
    if due <= now {
        return Wait::None;
    }
    let left = Duration::from_nanos(due - now);
    if left <= FINE_WINDOW {
        Wait::Fine(left.min(FINE_STEP))
    } else {
        Wait::Coarse((left - FINE_WINDOW).min(IDLE_STEP))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::MS;

    #[test]
    fn waits_coarse_then_fine_and_never_past_the_due_time() {
        assert_eq!(wait_for(0, None), Wait::Coarse(IDLE_STEP));
        assert_eq!(wait_for(5 * MS, Some(5 * MS)), Wait::None);
        assert_eq!(wait_for(6 * MS, Some(5 * MS)), Wait::None);
        assert_eq!(wait_for(0, Some(10 * MS)), Wait::Coarse(Duration::from_millis(8)));
        assert_eq!(wait_for(0, Some(10 * 1000 * MS)), Wait::Coarse(IDLE_STEP));
        assert_eq!(wait_for(0, Some(MS)), Wait::Fine(FINE_STEP));
        assert_eq!(wait_for(0, Some(50_000)), Wait::Fine(Duration::from_micros(50)));
    }

    #[test]
    fn clock_starts_once() {
        let mut c = Clock::default();
        assert!(!c.started());
        assert_eq!(c.now(), 0);
        let t0 = Instant::now();
        c.start(t0);
        c.start(t0 + Duration::from_secs(5));
        assert_eq!(c.at(t0 + Duration::from_millis(3)), 3 * MS);
        assert_eq!(c.instant(MS), Some(t0 + Duration::from_millis(1)));
    }
}
