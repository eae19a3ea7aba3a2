//! Multipath packet schedulers for mpquic: which path carries the next packet.
//!
//! For each packet of path-agnostic data (stream data and the frames that may go on any path),
//! the transport hands a [`Scheduler`] a read-only [`PathView`] per path and a [`ConnectionView`],
//! and gets a [`Decision`] back: [`Decision::Send`] on one path, [`Decision::Duplicate`] on
//! several, or [`Decision::Wait`]. A scheduler may also ask for re-injection ([`Reinjection`]) of a
//! slow path's in-flight data on another path, within a [`RedundancyCap`]. Path-bound traffic
//! (PATH_CHALLENGE/RESPONSE, probes, ACK placement) never reaches the scheduler.
//!
//! Schedulers are plug-ins passed as values: the transport configuration holds an
//! `Arc<dyn SchedulerFactory>` and builds one scheduler per connection. Names map to factories
//! only at the command line ([`factory_by_name`]).
//!
//! Built in: [`MinRtt`] (the default), [`RoundRobin`], [`Weighted`], [`Redundant`],
//! [`BackupPriority`], [`Blest`], [`Ecf`], plus two wrappers: [`StreamAffinity`] (the application
//! pins streams to paths) and [`Reinjecting`] (XLINK-style re-injection at the tail).
//!
//! Every built-in scheduler picks only paths for which [`eligible`] holds (validated, not
//! abandoned, not potentially failed, room in the congestion window; [`Redundant`] also queues
//! copies for usable paths whose window is full), and uses backup paths only
//! when no available path can send; [`SchedulerHandle`], which proto holds, enforces eligibility
//! for plug-ins too.
//!
//! # Time
//! The crate never reads a clock (sans-IO). Durations are relative to "now"
//! ([`PathView::next_send_in`], [`Wait::retry_in`]); the one absolute time,
//! [`ConnectionView::now`], is an [`Instant`] on the transport's clock (nanoseconds from an epoch
//! the driver chooses), meaningful only as a difference.
//!
//! # Driving a scheduler (what proto does)
//! ```
//! use mpquic_scheduler::{ConnectionView, Decision, PathId, PathView, RedundancyCap, SchedulerHandle, SentKind, MinRtt};
//! use std::time::Duration;
//!
//! let factory = MinRtt::factory(); // from the transport configuration
//! let mut sched = SchedulerHandle::from_factory(&*factory, RedundancyCap::default());
//! let mut wifi = PathView::new(PathId(0));
//! wifi.srtt = Duration::from_millis(25);
//! let mut cell = PathView::new(PathId(1));
//! cell.srtt = Duration::from_millis(65);
//! let conn = ConnectionView::new(1_000_000);
//! assert_eq!(sched.schedule(&[wifi, cell], &conn), Decision::Send(PathId(0)));
//! sched.on_sent(1200, SentKind::Original);
//! ```
//!
//! # Write your own scheduler
//! Implement [`Scheduler`] (only `name` and `schedule` are required), give it a
//! [`SchedulerFactory`] (or use [`FnFactory`]), and put the factory in the configuration. Nothing in
//! this crate or in proto needs editing. Filter with [`eligible`] so you never pick a path that
//! cannot send; [`preferred_eligible`] also keeps backup paths out while an available path
//! works (RFC 10069 §3.3), even when its window is full.
//!
//! ```
//! use mpquic_scheduler::{
//!     preferred_eligible, ConnectionView, Decision, FnFactory, PathId, PathView, Scheduler, SchedulerFactory,
//! };
//! use std::sync::Arc;
//!
//! /// Sends on the eligible path with the most free congestion window.
//! #[derive(Debug, Default)]
//! struct MostRoom;
//!
//! impl Scheduler for MostRoom {
//!     fn name(&self) -> &str {
//!         "mostroom"
//!     }
//!     fn schedule(&mut self, paths: &[PathView], _conn: &ConnectionView) -> Decision {
//!         preferred_eligible(paths)
//!             .max_by_key(|p| p.send_window_available())
//!             .map_or(Decision::no_path(), |p| Decision::Send(p.path_id))
//!     }
//! }
//!
//! // The value that goes into the transport configuration:
//! let factory: Arc<dyn SchedulerFactory> = FnFactory::arc("mostroom", || Box::new(MostRoom));
//!
//! let mut sched = factory.build();
//! let mut a = PathView::new(PathId(0));
//! a.bytes_in_flight = 6_000;
//! let b = PathView::new(PathId(1));
//! assert_eq!(sched.schedule(&[a, b], &ConnectionView::new(10_000)), Decision::Send(PathId(1)));
//! ```
#![forbid(unsafe_code)]

mod affinity;
mod backup;
mod blest;
mod ecf;
mod handle;
mod min_rtt;
mod redundant;
mod registry;
mod reinjection;
mod round_robin;
mod scheduler;
mod view;
mod weighted;

pub use affinity::{StreamAffinity, StreamAffinityFactory};
pub use backup::{BackupPriority, BackupPriorityFactory};
pub use blest::{Blest, BlestConfig, BlestFactory};
pub use ecf::{Ecf, EcfChoice};
pub use handle::{RedundancyBudget, RedundancyCap, SchedulerHandle, SentKind};
pub use min_rtt::MinRtt;
pub use redundant::Redundant;
pub use registry::{factory_by_name, UnknownScheduler, SCHEDULER_NAMES};
pub use reinjection::{Reinjecting, ReinjectingFactory};
pub use round_robin::RoundRobin;
pub use scheduler::{
    Decision, FnFactory, PathEvent, PathSet, Reinjection, Scheduler, SchedulerFactory, Wait, WaitReason,
};
pub use view::{
    eligible, lowest_srtt, preferred_eligible, preferred_usable, ConnectionView, Instant, PathId, PathStatus, PathView,
    StreamInfo,
};
pub use weighted::{Weighted, WeightedFactory};
