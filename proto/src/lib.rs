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
#![warn(missing_docs)]
// Every type the public API reaches must be nameable from it (checked without `internals`).
#![cfg_attr(not(feature = "internals"), warn(unnameable_types))]

// The public API is the root re-exports below plus `trace`, the tracing plug-in API. Everything
// else is internal: a driver needs no codec, key or recovery type to run a connection. The
// `internals` feature opens the internal modules (hidden from the docs) for proto's own
// benchmarks, the fuzz targets and white-box tests; nothing else should enable it.
macro_rules! internal_modules {
    ($($(#[$attr:meta])* $name:ident;)*) => {$(
        $(#[$attr])*
        #[cfg(feature = "internals")]
        #[doc(hidden)]
        pub mod $name;
        $(#[$attr])*
        #[cfg(not(feature = "internals"))]
        mod $name;
    )*};
}

internal_modules! {
    coding;
    crypto;
    frame;
    packet;
    range_set;
    recovery;
    stream;
    transport_parameters;
}

mod config;
mod connection;
mod endpoint;
mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzz;
mod path;
mod shared;
mod timer_heap;
pub mod trace;

pub use coding::{UnexpectedEnd, VarInt, VarIntBoundsExceeded};
pub use config::{AckPathPolicy, ClientConfig, EndpointConfig, ServerConfig, TransportConfig};
pub use connection::{Connection, ConnectionStats, Event, SendDatagramError, Transmit, ZeroRttStatus, MAX_GSO_BYTES};
pub use crypto::{
    check_client_config, check_server_config, client_config_for_quic, quic_crypto_provider, server_config_for_quic,
    TlsConfigError,
};
pub use endpoint::{ConnectError, ConnectionHandle, Endpoint};
pub use error::{ConnectionError, TransportError, TransportErrorCode};
pub use frame::{FrameType, MultipathVersion};
pub use mpquic_core::{Instant, PathId, PathStatus};
pub use path::{IcmpError, MigrateError, PathError, PathEvent, PathFailureDetection, PathInfo, PathStats};
pub use range_set::RangeSet;
pub use shared::{ConnectionId, Dir, EcnCodepoint, EcnCounts, Side, StreamId, MAX_CID_SIZE};
pub use stream::{Chunk, ReadError, WriteError};
pub use trace::{TraceEvent, TraceInfo, Tracer, TracerFactory};
