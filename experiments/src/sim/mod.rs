//! The deterministic discrete-event network simulator: an event queue in virtual time
//! ([`EventQueue`]), one-way links with rate, propagation delay, a drop-tail queue, random and
//! bursty loss, jitter, reordering and ECN marking ([`Link`]), and the topology that strings
//! links into per-path routes, shared bottlenecks included ([`Network`]).
//!
//! All randomness comes from one seeded `ChaCha8Rng` per link, so a scenario and a seed give the
//! same packet fates whatever the other links do, and the same run byte for byte.

mod event;
mod link;
mod loss;
mod network;

pub use event::EventQueue;
pub use link::{Link, LinkParams, LinkStats, QueueCap, Verdict};
pub use loss::{LossModel, LossState};
pub use network::{Datagram, Direction, LinkId, Network, NetworkEvent, Route};

/// Virtual time in nanoseconds since the start of a run.
pub type Nanos = u64;

/// Nanoseconds in a millisecond.
pub const MS: Nanos = 1_000_000;
/// Nanoseconds in a second.
pub const SEC: Nanos = 1_000_000_000;

/// Converts a non-negative number of milliseconds from a scenario to nanoseconds.
pub fn ms_to_nanos(ms: f64) -> Nanos {
    (ms * MS as f64).round() as Nanos
}
