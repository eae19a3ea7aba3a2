//! OS and runtime side of mpquic: batched UDP I/O with the Linux fast paths ([`udp`]), the
//! tokio task that drives a sans-IO [`mpquic_proto::Endpoint`], and the async API on top:
//! [`Endpoint`], [`Connection`], [`SendStream`] / [`RecvStream`].
//!
//! This crate holds all the `unsafe` code of the workspace (in [`udp`], one `setns` call in
//! [`netns`] to make sockets and devices inside another network namespace, the TUNSETIFF
//! ioctl of [`tun`], and one `sched_setscheduler` call in [`realtime`]).
//!
//! ```no_run
//! # async fn demo(client_config: mpquic_proto::ClientConfig) -> Result<(), Box<dyn std::error::Error>> {
//! let endpoint = mpquic_io::Endpoint::client("[::]:0".parse()?)?;
//! endpoint.set_default_client_config(client_config);
//! let connection = endpoint.connect("[::1]:4433".parse()?, "localhost")?.await?;
//! let (mut send, mut recv) = connection.open_bi().await?;
//! send.write_all(b"GET /index.html\r\n").await?;
//! send.finish()?;
//! let body = recv.read_to_end(1 << 20).await?;
//! # let _ = body; Ok(()) }
//! ```

mod connection;
mod driver;
mod endpoint;
pub mod netns;
mod path;
pub mod realtime;
mod shared;
mod stream;
pub mod tun;
pub mod udp;

pub use connection::{ConnectError, Connecting, Connection, DatagramError};
pub use endpoint::{random_endpoint_config, Accept, Endpoint};
pub use path::{multipath_transport_config, OpenPathError, PathHandle, DEFAULT_OPEN_PATH_TIMEOUT};
pub use stream::{ReadError, ReadToEndError, RecvStream, SendStream, WriteError};

/// Multipath settings and path types of the protocol crate.
pub use mpquic_proto::{AckPathPolicy, PathEvent, PathFailureDetection, PathId, PathInfo, PathStats, TransportConfig};
/// Multipath types of the protocol crate used in this crate's API.
pub use mpquic_proto::{PathError, PathStatus};
