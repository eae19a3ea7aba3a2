//! Congestion control for mpquic: one controller per path, plugged in as a value.
//!
//! The transport builds a [`Controller`] for every path through the [`ControllerFactory`] found in
//! its configuration, then feeds it the path's events (packets sent, acknowledged, lost, ECN-CE
//! marks, persistent congestion, MTU changes). A controller answers with a congestion window and
//! optionally a pacing rate. Coupled controllers see every path of the connection through
//! [`Paths`], a read-only view, instead of shared mutable state.
//!
//! ```
//! use mpquic_cc::{NewReno, ControllerFactory, PathId, PathInfo, Instant};
//! let factory = NewReno::factory();
//! let cc = factory.build(Instant::ZERO, PathInfo { path_id: PathId(0), max_datagram_size: 1200 });
//! assert_eq!(cc.window(), 12_000); // RFC 9002 §7.2 initial window
//! ```
//!
//! # What is in the box
//!
//! | name | type | specification |
//! |---|---|---|
//! | `newreno` | [`NewReno`] | RFC 9002 §7 (HyStart++ optional: [`NewReno::with_hystart`]) |
//! | `cubic` | [`Cubic`] | RFC 9438 (HyStart++, RFC 9406, optional: [`Cubic::with_hystart`]) |
//! | `bbr` | [`Bbr`] | draft-ietf-ccwg-bbr (BBRv3) |
//! | `lia` | [`Lia`] | RFC 6356 |
//! | `olia` | [`Olia`] | Khalili et al., CoNEXT'12 |
//! | `olia-mpquic` | [`OliaMpQuic`] | OLIA with mp-quic's 0.85 backoff, to reproduce CoNEXT'17 |
//! | `balia` | [`Balia`] | Peng et al., IEEE/ACM ToN 2016 |
//!
//! [`factory_by_name`] maps these names to factories for a command line; everywhere else a
//! controller is a value. [`Pacer`] turns any controller's pacing rate (or the transport's
//! default of RFC 9002 §7.7) into send times.
//!
//! # Write your own controller
//!
//! Implement [`Controller`] (the hooks you do not need have defaults) and a
//! [`ControllerFactory`] that builds one per path, then put the factory in the transport
//! configuration as an `Arc<dyn ControllerFactory>`. Nothing in mpquic-proto changes. This one
//! keeps a fixed window and halves it on congestion, never below the RFC 9002 minimum:
//!
//! ```
//! use std::sync::Arc;
//! use mpquic_cc::{
//!     minimum_window, AckedPacket, CongestionEvent, Controller, ControllerFactory, Instant,
//!     PathId, PathInfo, PathSnapshot, Paths, RttEstimates,
//! };
//!
//! #[derive(Debug)]
//! struct FixedWindow {
//!     window: u64,
//!     max_datagram_size: u64,
//! }
//!
//! impl Controller for FixedWindow {
//!     fn on_ack(&mut self, _now: Instant, _acked: &[AckedPacket], _rtt: &RttEstimates, _paths: Paths<'_>) {}
//!
//!     fn on_congestion_event(&mut self, _now: Instant, _event: &CongestionEvent, _rtt: &RttEstimates, _paths: Paths<'_>) {
//!         self.window = (self.window / 2).max(minimum_window(self.max_datagram_size));
//!     }
//!
//!     fn on_persistent_congestion(&mut self, _now: Instant, _rtt: &RttEstimates) {
//!         self.window = minimum_window(self.max_datagram_size);
//!     }
//!
//!     fn on_mtu_update(&mut self, max_datagram_size: u64) {
//!         self.max_datagram_size = max_datagram_size;
//!     }
//!
//!     fn window(&self) -> u64 {
//!         self.window
//!     }
//! }
//!
//! /// Builds a 64-datagram fixed window for every path.
//! #[derive(Debug)]
//! struct FixedWindowFactory;
//!
//! impl ControllerFactory for FixedWindowFactory {
//!     fn build(&self, _now: Instant, path: PathInfo) -> Box<dyn Controller> {
//!         Box::new(FixedWindow { window: 64 * path.max_datagram_size, max_datagram_size: path.max_datagram_size })
//!     }
//!     fn name(&self) -> &str {
//!         "fixed"
//!     }
//! }
//!
//! // What the transport does with it: one controller per path, events in, window out.
//! let factory: Arc<dyn ControllerFactory> = Arc::new(FixedWindowFactory);
//! let mut cc = factory.build(Instant::ZERO, PathInfo { path_id: PathId(0), max_datagram_size: 1200 });
//! assert_eq!(cc.window(), 76_800);
//!
//! let snapshot = PathSnapshot {
//!     path_id: PathId(0),
//!     window: cc.window(),
//!     smoothed_rtt: std::time::Duration::from_millis(30),
//!     bytes_in_flight: 0,
//!     max_datagram_size: 1200,
//!     bytes_acked: 0,
//!     bytes_acked_since_loss: 0,
//!     active: true,
//! };
//! let rtt = RttEstimates::initial(std::time::Duration::from_millis(30));
//! let loss = CongestionEvent { sent_time: Instant::ZERO, lost_bytes: 1200, ecn: false, bytes_in_flight: 0 };
//! cc.on_congestion_event(Instant::from_nanos(1), &loss, &rtt, Paths::single(&snapshot));
//! assert_eq!(cc.window(), 38_400);
//! cc.on_persistent_congestion(Instant::from_nanos(2), &rtt);
//! assert_eq!(cc.window(), 2_400);
//! ```
//!
//! A coupled multipath algorithm is easier still: implement [`CoupledRule`] (the increase in
//! congestion avoidance and, optionally, the window after a loss) and use [`Coupled`]`<YourRule>`,
//! which brings slow start, recovery periods and the [`Paths`] view; see [`coupled`].
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

pub use bbr::{Bbr, BbrFactory, BbrState};
pub use controller::{
    initial_window, minimum_window, AckedPacket, CongestionEvent, Controller, ControllerFactory, Metrics, PathInfo,
    PathSnapshot, Paths, RttEstimates, SentPacket,
};
pub use coupled::{Balia, Coupled, CoupledRule, Lia, Olia, OliaMpQuic};
pub use cubic::{Cubic, CubicFactory};
pub use mpquic_core::{Instant, PathId};
pub use newreno::{NewReno, NewRenoFactory, NewRenoHyStartFactory};
pub use pacer::Pacer;
pub use registry::{factory_by_name, UnknownController, CONTROLLER_NAMES};
