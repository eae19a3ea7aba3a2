//! Sans-IO Multipath QUIC: the wire protocol and connection state machines of mpquic.
//!
//! Nothing here touches a socket, a clock or the OS random number generator: a driver (the
//! `mpquic-io` tokio driver, or the `mpquic-experiments` simulator) hands in datagrams, the
//! current time and a seed, and takes out datagrams and deadlines. That is what makes simulated
//! experiments exact and replayable.
//!
//! Paths are first-class from the start: every piece of per-path state is keyed by [`PathId`],
//! and single-path QUIC is the case of one path.
#![forbid(unsafe_code)]

pub mod coding;
mod error;
pub mod frame;
pub mod path;
pub mod range_set;
mod shared;
pub mod stream;

pub use coding::{VarInt, VarIntBoundsExceeded};
pub use error::{TransportError, TransportErrorCode};
pub use mpquic_cc::Instant;
pub use path::PathId;
pub use range_set::RangeSet;
pub use shared::{ConnectionId, Dir, EcnCodepoint, EcnCounts, Side, StreamId, MAX_CID_SIZE};
