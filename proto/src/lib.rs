//! Sans-IO Multipath QUIC: the wire protocol and connection state machines of mpquic.
//!
//! Nothing here touches a socket, a clock or the OS random number generator: a driver (the
//! `mpquic-io` tokio driver, or the `mpquic-experiments` simulator) hands in datagrams, the
//! current time and a seed, and takes out datagrams and deadlines. That is what makes simulated
//! experiments exact and replayable.
//!
//! Paths are first-class from the start: every piece of per-path state is keyed by [`PathId`],
//! and single-path QUIC is the case of one path.
//!
//! # Driving an endpoint
//!
//! ```text
//! loop {
//!     for each received datagram: endpoint.handle_datagram(now, local, remote, ecn, bytes)
//!     if now >= endpoint.poll_timeout(): endpoint.handle_timeout(now)
//!     while let Some(t) = endpoint.poll_transmit(now, &mut buf) { send buf[..t.len] to t.dst }
//!     while let Some((conn, event)) = endpoint.poll_event() { ... }
//!     sleep until the next datagram or endpoint.poll_timeout()
//! }
//! ```
#![forbid(unsafe_code)]

pub mod coding;
mod config;
mod connection;
pub mod crypto;
mod endpoint;
mod error;
pub mod frame;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzz;
pub mod packet;
mod path;
pub mod range_set;
pub mod recovery;
mod shared;
pub mod stream;
pub mod trace;
pub mod transport_parameters;

pub use coding::{VarInt, VarIntBoundsExceeded};
pub use config::{AckPathPolicy, ClientConfig, EndpointConfig, PathFailureDetection, ServerConfig, TransportConfig};
pub use connection::{Connection, ConnectionStats, Event, SendDatagramError, Transmit};
pub use endpoint::{ConnectError, ConnectionHandle, Endpoint};
pub use error::{ConnectionError, TransportError, TransportErrorCode};
pub use mpquic_core::Instant;
pub use path::{IcmpError, MigrateError, PathError, PathEvent, PathId, PathInfo, PathStats, PathStatus};
pub use range_set::RangeSet;
pub use shared::{ConnectionId, Dir, EcnCodepoint, EcnCounts, Side, StreamId, MAX_CID_SIZE};
pub use trace::{TraceEvent, TraceInfo, Tracer, TracerFactory};
