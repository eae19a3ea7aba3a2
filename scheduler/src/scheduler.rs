//! The plug-in contract: the [`Scheduler`] trait, what it answers ([`Decision`], [`Reinjection`]),
//! the events it may listen to ([`PathEvent`]) and the [`SchedulerFactory`] that builds one
//! scheduler per connection.
//!
//! proto asks the scheduler only about path-agnostic data (stream data and frames that may go on
//! any path); path-bound traffic (PATH_CHALLENGE/RESPONSE, probes, ACK placement) stays in proto
//! (RFC 10069 §5: scheduling is out of the spec's scope).

use core::fmt;
use core::time::Duration;
use std::sync::Arc;

use smallvec::SmallVec;

use crate::view::{ConnectionView, PathStatus, PathView};
use crate::PathId;

/// A small set of path IDs; no heap allocation up to four paths.
pub type PathSet = SmallVec<[PathId; 4]>;

/// Why the scheduler holds the packet back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitReason {
    /// No path can take data now (all windows full, unvalidated, failed or abandoned).
    NoEligiblePath,
    /// A faster path will have room soon and sending on a slower one now would block it
    /// (BLEST, ECF).
    FasterPath {
        /// The path being waited for.
        path_id: PathId,
    },
    /// A scheduler-specific reason.
    Other(&'static str),
}

/// "Send nothing now": why, and when asking again is worthwhile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wait {
    /// Why.
    pub reason: WaitReason,
    /// Ask again after this long, if the scheduler knows; otherwise on the next ACK, loss or path
    /// change.
    pub retry_in: Option<Duration>,
}

impl Wait {
    /// Wait because no path can send, with no time hint.
    pub const NO_ELIGIBLE_PATH: Wait = Wait { reason: WaitReason::NoEligiblePath, retry_in: None };
}

/// The scheduler's answer for the next packet of path-agnostic data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Send it on this path.
    Send(PathId),
    /// Send a copy on each of these paths (the first copy counts as the original, the others as
    /// redundant bytes). The paths with room come first; a usable path whose window is full may
    /// follow: its copy waits in proto until the window opens and is dropped if the data is
    /// acknowledged first (as Linux's `mptcp_redundant` does).
    Duplicate(PathSet),
    /// Send nothing now.
    Wait(Wait),
}

impl Decision {
    /// `Decision::Wait` because no path can send.
    pub const fn no_path() -> Self {
        Decision::Wait(Wait::NO_ELIGIBLE_PATH)
    }

    /// The paths this decision sends on (empty for `Wait`).
    pub fn paths(&self) -> &[PathId] {
        match self {
            Decision::Send(id) => core::slice::from_ref(id),
            Decision::Duplicate(set) => set,
            Decision::Wait(_) => &[],
        }
    }
}

/// A request to resend in-flight data of one path on another (XLINK-style re-injection), for the
/// tail of a transfer, when flow control waits for a slow path, or when a path looks broken.
///
/// proto picks which unacknowledged stream data of `from` to copy, never the same bytes twice:
/// the oldest first while flow control or the send buffer holds new data back (that is what the
/// peer's window waits for) or `from` is potentially failed, the newest first otherwise (at the
/// tail the copies meet the slow path's queue halfway). It sends at most `max_bytes` of it on
/// `to`, and counts it against the redundancy cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reinjection {
    /// The slow or failing path whose in-flight data is copied.
    pub from: PathId,
    /// The path that carries the copies.
    pub to: PathId,
    /// Upper bound on the stream bytes to copy now.
    pub max_bytes: u64,
}

/// Something that happened to a path, for stateful schedulers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathEvent {
    /// The path was opened (validation may still be pending).
    Opened,
    /// Path validation succeeded (RFC 9000 §8.2).
    Validated,
    /// Our local status changed (RFC 10069 §3.3).
    StatusChanged(PathStatus),
    /// The peer's PATH_STATUS_AVAILABLE/BACKUP hint changed (RFC 10069 §3.3).
    PeerStatusChanged(PathStatus),
    /// Loss detection suspects the path failed.
    PotentiallyFailed,
    /// A path suspected failed delivered again.
    Recovered,
    /// PATH_ABANDON sent or received; the ID will not be used again.
    Abandoned,
}

/// A packet scheduler: decides which path carries the next packet of path-agnostic data.
///
/// One instance serves one connection, so it may keep state. Only [`Scheduler::schedule`] and
/// [`Scheduler::name`] are required; the hooks default to doing nothing.
///
/// Contract: a decision names only paths for which [`crate::eligible`] holds, except that a
/// [`Decision::Duplicate`] may add usable paths whose window is full (their copies wait). proto
/// (through [`crate::SchedulerHandle`]) enforces this for plug-ins too, dropping the others.
pub trait Scheduler: fmt::Debug + Send {
    /// A short name for logs and results (`"minrtt"`).
    fn name(&self) -> &str;

    /// Where the next packet goes. `paths` lists every path of the connection that is not yet
    /// forgotten, in no particular order.
    fn schedule(&mut self, paths: &[PathView], conn: &ConnectionView) -> Decision;

    /// `bytes` were acknowledged on `path_id`, with this RTT sample.
    fn on_ack(&mut self, path_id: PathId, bytes: u64, rtt: Duration) {
        let _ = (path_id, bytes, rtt);
    }

    /// `bytes` were declared lost on `path_id`.
    fn on_loss(&mut self, path_id: PathId, bytes: u64) {
        let _ = (path_id, bytes);
    }

    /// A path changed state.
    fn on_path_change(&mut self, path_id: PathId, event: PathEvent) {
        let _ = (path_id, event);
    }

    /// Whether this scheduler may ever ask for re-injection ([`Scheduler::reinject`]). proto asks
    /// for re-injection whenever it has room and nothing new to send, and builds a view of every
    /// path for that question; a scheduler that answers `false` here is not asked (the views
    /// cost 2% of the simulator's instructions per datagram with MinRTT). The default is `true`,
    /// so a scheduler that implements `reinject` works without knowing of this method.
    fn reinjects(&self) -> bool {
        true
    }

    /// Whether to resend in-flight data of one path on another now. proto asks when it has room
    /// to send and nothing new to place, or after a path event; the handle caps `max_bytes` by the
    /// redundancy budget.
    fn reinject(&mut self, paths: &[PathView], conn: &ConnectionView) -> Option<Reinjection> {
        let _ = (paths, conn);
        None
    }

    /// The application pins (`Some(path)`) or unpins (`None`) a stream to a path. Returns whether
    /// this scheduler honours affinity (see [`crate::StreamAffinity`]); the default ignores it.
    fn set_stream_affinity(&mut self, stream_id: u64, path_id: Option<PathId>) -> bool {
        let _ = (stream_id, path_id);
        false
    }
}

impl<S: Scheduler + ?Sized> Scheduler for Box<S> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn schedule(&mut self, paths: &[PathView], conn: &ConnectionView) -> Decision {
        (**self).schedule(paths, conn)
    }
    fn on_ack(&mut self, path_id: PathId, bytes: u64, rtt: Duration) {
        (**self).on_ack(path_id, bytes, rtt)
    }
    fn on_loss(&mut self, path_id: PathId, bytes: u64) {
        (**self).on_loss(path_id, bytes)
    }
    fn on_path_change(&mut self, path_id: PathId, event: PathEvent) {
        (**self).on_path_change(path_id, event)
    }
    fn reinjects(&self) -> bool {
        (**self).reinjects()
    }
    fn reinject(&mut self, paths: &[PathView], conn: &ConnectionView) -> Option<Reinjection> {
        (**self).reinject(paths, conn)
    }
    fn set_stream_affinity(&mut self, stream_id: u64, path_id: Option<PathId>) -> bool {
        (**self).set_stream_affinity(stream_id, path_id)
    }
}

/// Builds one [`Scheduler`] per connection. Put an `Arc<dyn SchedulerFactory>` in the transport
/// configuration; a factory defined in any crate plugs in without editing this one.
pub trait SchedulerFactory: fmt::Debug + Send + Sync {
    /// The name of the schedulers it builds.
    fn name(&self) -> &str;
    /// A fresh scheduler for a new connection.
    fn build(&self) -> Box<dyn Scheduler>;
}

/// A factory from a name and a constructor function: the shortest way to register a scheduler
/// that needs no configuration.
#[derive(Clone)]
pub struct FnFactory {
    name: &'static str,
    build: fn() -> Box<dyn Scheduler>,
}

impl FnFactory {
    /// A factory named `name` calling `build`.
    pub const fn new(name: &'static str, build: fn() -> Box<dyn Scheduler>) -> Self {
        Self { name, build }
    }

    /// The same, already in an `Arc` for the configuration.
    pub fn arc(name: &'static str, build: fn() -> Box<dyn Scheduler>) -> Arc<dyn SchedulerFactory> {
        Arc::new(Self::new(name, build))
    }
}

impl fmt::Debug for FnFactory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FnFactory").field("name", &self.name).finish()
    }
}

impl SchedulerFactory for FnFactory {
    fn name(&self) -> &str {
        self.name
    }
    fn build(&self) -> Box<dyn Scheduler> {
        (self.build)()
    }
}
