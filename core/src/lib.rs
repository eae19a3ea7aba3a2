//! The few types mpquic's crates share: [`PathId`], [`PathStatus`] and [`Instant`].
//!
//! The protocol (`mpquic-proto`) and its two plug-in crates, congestion control (`mpquic-cc`)
//! and packet scheduling (`mpquic-scheduler`), speak about the same paths at the same times.
//! This leaf crate gives them one vocabulary, so that a path is never a bare integer and a time
//! never a bare count of nanoseconds in an API; each of those crates re-exports the types.
//!
//! ```
//! use mpquic_core::{Instant, PathId, PathStatus};
//! use std::time::Duration;
//!
//! let path = PathId::ZERO.next().unwrap();
//! assert_eq!(path, PathId(1));
//! let later = Instant::ZERO + Duration::from_millis(5);
//! assert_eq!(later.as_nanos(), 5_000_000);
//! assert_ne!(PathStatus::Available, PathStatus::Backup);
//! ```
#![forbid(unsafe_code)]
#![no_std]
#![warn(missing_docs)]

mod path_id;
mod path_status;
mod time;

pub use path_id::PathId;
pub use path_status::PathStatus;
pub use time::Instant;
