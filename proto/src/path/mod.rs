//! Paths: identifiers now; per-path state (addresses, validation, recovery, congestion control,
//! MTU and ECN) lives with the connection.

mod id;

pub use id::PathId;
