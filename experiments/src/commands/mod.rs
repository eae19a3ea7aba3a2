//! Subcommands of `mpquic` beyond `run`, `client` and `server`: each file holds one command's
//! arguments and its terminal output; the work is in the library.

pub mod bench;
pub mod matrix;
pub mod reproduce;
