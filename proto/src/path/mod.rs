//! The path manager: every path of a connection and everything that belongs to paths.
//!
//! [`Paths`] owns the path table ([`PathData`] per [`PathId`]: addresses, validation,
//! anti-amplification, recovery and congestion control, MTU discovery, statistics), the
//! connection IDs of every path in both directions ([`CidState`]), the multipath limits once
//! RFC 10069 is negotiated ([`Multipath`]: MAX_PATH_ID, PATHS_BLOCKED, PATH_CIDS_BLOCKED, the
//! abandoned path IDs and the path frames waiting to be sent), the re-injection queue and the
//! scheduler with its per-decision cache. Path 0 carries the handshake; without multipath it is
//! the only path and RFC 9000 migration changes its addresses.
//!
//! # The interface
//!
//! The connection talks to the manager through a small set of calls, in the shape of s2n-quic's
//! path manager:
//!
//! - **frames**: [`Paths::on_frame`] takes every path frame a packet carried (PATH_ACK,
//!   PATH_CHALLENGE/RESPONSE, PATH_ABANDON, PATH_STATUS_*, MAX_PATH_ID, PATHS_BLOCKED,
//!   PATH_CIDS_BLOCKED and the (PATH_)NEW/RETIRE_CONNECTION_ID frames) and answers with a
//!   [`FrameOutcome`]: what the rest of the connection has to do (route an ACK to a path's
//!   recovery, report a validated path, abandon a path, issue CIDs, ...);
//!   [`Paths::write_control_frames`] writes the pending PATH_ABANDON, PATH_STATUS_*,
//!   MAX_PATH_ID and PATHS_BLOCKED frames into a packet;
//! - **life cycle**: [`Paths::insert`], [`Paths::next_path_id`], [`Paths::begin_abandon`] /
//!   [`Paths::finish_abandon`], [`Paths::forget_abandoned`], [`Paths::start_new_network_path`]
//!   (migration and NAT rebinding);
//! - **timers**: [`Paths::failure_timeout`], [`Paths::failure_deadline`], [`Paths::max_pto`];
//! - **views**: [`Paths::get`], [`Paths::usable`], [`Paths::snapshot_for_cc`], [`Paths::infos`].
//!
//! What involves the rest of the connection (its events, tracer, streams and the loss of
//! packets) stays with the connection, which applies the outcomes in `connection/paths.rs`.
//!
//! # Files
//!
//! | file | what it holds |
//! |---|---|
//! | `data.rs` | one path: [`PathData`], [`PathStats`], [`PathInfo`], [`Validation`] |
//! | `cid.rs` | connection IDs per path, NEW/RETIRE_CONNECTION_ID and their PATH_ variants |
//! | `limits.rs` | multipath negotiation and the path ID limits: MAX_PATH_ID, PATHS_BLOCKED, PATH_CIDS_BLOCKED |
//! | `frames.rs` | [`Paths::on_frame`]: the entry point for every path frame, PATH_ACK routing |
//! | `validation.rs` | PATH_CHALLENGE / PATH_RESPONSE (RFC 9000 §8.2) |
//! | `abandon.rs` | PATH_ABANDON: abandoning, retention and forgetting paths (RFC 10069 §3.3) |
//! | `status.rs` | PATH_STATUS_AVAILABLE / PATH_STATUS_BACKUP (RFC 10069 §3.2) |
//! | `failure.rs` | path failure detection (potentially failed paths) |
//! | `migration.rs` | RFC 9000 §9 migration, NAT rebinding and the preferred address |
//! | `mtud.rs` | DPLPMTUD per path (RFC 9000 §14.3, RFC 8899) |
//! | `reinjection.rs` | copies of in-flight stream data for another path |
//! | `icmp.rs` | ICMP errors about datagrams we sent |
//! | `event.rs` | [`PathEvent`] and [`PathError`] for the application |
//! | `table.rs` | the path table: [`PathData`] by [`PathId`], in ID order |

mod abandon;
mod cid;
mod data;
mod event;
mod failure;
mod frames;
mod icmp;
mod limits;
mod migration;
mod mtud;
mod reinjection;
mod status;
mod table;
mod validation;

use std::time::Duration;

pub use cid::{CidState, IssuedCid, ResetTokenChange};
pub use data::{PathData, PathInfo, PathStats, Validation};
pub use event::{PathError, PathEvent};
pub use failure::PathFailureDetection;
pub(crate) use frames::{FrameContext, FrameOutcome};
pub use icmp::IcmpError;
pub use limits::Multipath;
pub(crate) use limits::Offers;
pub use migration::MigrateError;
pub(crate) use migration::NewNetworkPath;
pub use mpquic_core::{PathId, PathStatus};
pub use mtud::MtuDiscovery;
pub(crate) use reinjection::{Copies, PendingCopy};
pub(crate) use table::{PathMap, PathTable};
pub(crate) use validation::ValidationTimeout;

use crate::frame::MultipathVersion;
use crate::packet::SpaceId;

/// Every path of a connection and the state shared between paths. See the module documentation.
#[derive(Debug)]
pub(crate) struct Paths {
    /// The path table.
    pub table: PathTable,
    /// Connection IDs of every path, both directions.
    pub cids: CidState,
    /// Multipath state, once negotiated (RFC 10069 §2).
    pub multipath: Option<Multipath>,
    /// Round-robin cursor over paths for sending.
    pub next_send_path: u32,
    /// Picks the path of stream data when several paths can send.
    pub scheduler: mpquic_scheduler::SchedulerHandle,
    /// Reused per scheduling decision.
    pub path_views: Vec<mpquic_scheduler::PathView>,
    /// Every path's state as coupled congestion controllers see it (RFC 6356), reused.
    pub cc_snapshots: Vec<mpquic_cc::PathSnapshot>,
    /// The scheduler's latest answer: which paths may carry stream data. It is asked once per
    /// packet of stream data, not once per path considered (a stateful scheduler such as
    /// round-robin advances on every question).
    pub scheduled: Option<smallvec::SmallVec<[PathId; 4]>>,
    /// Re-injected and duplicated stream data waiting for its path.
    pub copies: Copies,
}

impl Paths {
    /// No paths yet; the connection inserts path 0 right away.
    pub fn new(cids: CidState, scheduler: mpquic_scheduler::SchedulerHandle) -> Self {
        Self {
            table: PathTable::default(),
            cids,
            multipath: None,
            next_send_path: 0,
            scheduler,
            path_views: Vec::new(),
            cc_snapshots: Vec::new(),
            scheduled: None,
            copies: Copies::default(),
        }
    }

    /// Adds a path to the table.
    pub fn insert(&mut self, path: PathData) {
        self.table.insert(path.id, path);
    }

    /// One path.
    pub fn get(&self, id: PathId) -> Option<&PathData> {
        self.table.get(&id)
    }

    /// Whether multipath was negotiated.
    pub fn is_multipath(&self) -> bool {
        self.multipath.is_some()
    }

    /// The multipath code points spoken, once negotiated.
    pub fn mp_version(&self) -> Option<MultipathVersion> {
        self.multipath.as_ref().map(|m| m.version)
    }

    /// Paths that are not abandoned.
    pub fn usable(&self) -> impl Iterator<Item = PathId> + '_ {
        self.table.values().filter(|p| p.abandoned_at.is_none()).map(|p| p.id)
    }

    /// Snapshots of every path for the application.
    pub fn infos(&self) -> Vec<PathInfo> {
        self.table.values().map(PathData::info).collect()
    }

    /// The largest PTO over paths, for the closing/draining period (RFC 9000 §10.2: three
    /// times the PTO; RFC 10069 §3.4: of the largest PTO).
    pub fn max_pto(&self) -> Duration {
        self.table.values().map(|p| p.recovery.pto_duration(SpaceId::Data)).max().unwrap_or(Duration::from_secs(1))
    }

    /// Refreshes `cc_snapshots`: the view of all paths that coupled controllers (LIA, OLIA,
    /// BALIA) take their increase from. Single-path connections get a slice of one.
    pub fn snapshot_for_cc(&mut self) {
        self.cc_snapshots.clear();
        for p in self.table.values() {
            let active = p.abandoned_at.is_none() && p.is_validated() && p.failed_since.is_none();
            self.cc_snapshots.push(p.recovery.snapshot(active));
        }
    }

    /// Whether `id` is potentially failed while another path is usable: it then carries only
    /// probes and path-bound frames.
    pub fn failed_with_alternative(&self, id: PathId) -> bool {
        self.table.get(&id).is_some_and(|p| p.failed_since.is_some())
            && self.table.values().any(|p| p.id != id && p.abandoned_at.is_none() && p.failed_since.is_none())
    }
}
