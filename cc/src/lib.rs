//! Congestion control for mpquic: one controller per path, plugged in as a value.
//!
//! The transport builds a [`Controller`] for every path through the [`ControllerFactory`] found in
//! its configuration, then feeds it the path's events (packets sent, acknowledged, lost, ECN-CE
//! marks, persistent congestion, MTU changes). A controller answers with a congestion window and
//! optionally a pacing rate. Coupled controllers see every path of the connection through
//! [`Paths`], a read-only view, instead of shared mutable state.
//!
//! ```
//! use mpquic_cc::{NewReno, ControllerFactory, PathInfo, Instant};
//! let factory = NewReno::factory();
//! let cc = factory.build(Instant::ZERO, PathInfo { path_id: 0, max_datagram_size: 1200 });
//! assert_eq!(cc.window(), 12_000); // RFC 9002 §7.2 initial window
//! ```
#![forbid(unsafe_code)]

pub mod bbr;
mod controller;
pub mod coupled;
mod cubic;
pub mod hystart;
mod newreno;
pub mod pacer;
mod recovery;
pub mod registry;
#[cfg(test)]
mod test_util;
pub mod time;

pub use bbr::{Bbr, BbrFactory, BbrState};
pub use controller::{
    initial_window, minimum_window, AckedPacket, CongestionEvent, Controller, ControllerFactory, Metrics, PathInfo,
    PathSnapshot, Paths, RttEstimates, SentPacket,
};
pub use coupled::{Balia, Coupled, CoupledRule, Lia, Olia};
pub use cubic::{Cubic, CubicFactory};
pub use newreno::{NewReno, NewRenoFactory, NewRenoHyStartFactory};
pub use pacer::Pacer;
pub use registry::{factory_by_name, UnknownController, CONTROLLER_NAMES};
pub use time::Instant;
