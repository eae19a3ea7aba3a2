//! A path's status (RFC 10069 §3.2).

/// A path's status, as PATH_STATUS_AVAILABLE and PATH_STATUS_BACKUP carry it (RFC 10069 §3.2).
///
/// The same type says how we want to use a path (our status, which our scheduler honours and the
/// peer is told) and how the peer wants us to use it (its hint).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PathStatus {
    /// Use the path as the scheduler sees fit (PATH_STATUS_AVAILABLE).
    #[default]
    Available,
    /// Use the path only when no available path can send (PATH_STATUS_BACKUP).
    Backup,
}
