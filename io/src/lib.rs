//! OS and runtime side of mpquic: batched UDP I/O with the Linux fast paths ([`udp`]) and the
//! tokio driver with its async API.
//!
//! This crate holds all the `unsafe` code of the workspace (in [`udp`]).

pub mod udp;
