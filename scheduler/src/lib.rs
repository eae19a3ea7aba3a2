//! Multipath packet schedulers for mpquic (the crate is filled in by the scheduler issue).
#![forbid(unsafe_code)]
