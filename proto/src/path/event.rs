//! What the application learns about paths: [`PathEvent`]s and the [`PathError`] of a refused
//! path command.

use thiserror::Error;

use super::PathId;

/// Path life-cycle events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathEvent {
    /// A path was opened (locally or by the peer) and is being validated.
    Opened(PathId),
    /// The path passed validation (RFC 9000 §8.2).
    Validated(PathId),
    /// Validation failed or timed out.
    ValidationFailed(PathId),
    /// The path's addresses changed (RFC 9000 §9: migration or NAT rebinding).
    Migrated(PathId),
    /// The path was abandoned.
    Abandoned(PathId),
    /// Data on the path went unacknowledged too long: it is avoided and its data re-sent
    /// elsewhere, while probes test it.
    PotentiallyFailed(PathId),
    /// A potentially failed path answered again.
    Recovered(PathId),
}

/// Why a path could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum PathError {
    /// Multipath was not negotiated (one side did not send initial_max_path_id).
    #[error("multipath was not negotiated")]
    MultipathNotNegotiated,
    /// Only the client opens paths (RFC 10069 §3.1).
    #[error("only the client opens paths")]
    ServerCannotOpen,
    /// Paths are opened after the handshake is confirmed.
    #[error("the handshake is not confirmed yet")]
    HandshakeNotConfirmed,
    /// The peer's path ID limit is reached (PATHS_BLOCKED was sent).
    #[error("the peer's path ID limit is reached")]
    PathLimit,
    /// The peer has not issued a CID for the next path ID yet.
    #[error("no connection ID from the peer for a new path yet")]
    NoConnectionId,
    /// No such path, or it is abandoned.
    #[error("unknown or abandoned path")]
    UnknownPath,
    /// The last usable path cannot be abandoned; close the connection instead.
    #[error("cannot abandon the last path")]
    LastPath,
}
