//! mpquic experiments: scenario files, a deterministic discrete-event network simulator that
//! drives `mpquic-proto` endpoints directly, workloads, metrics and outputs (summary.json, CSV
//! time series, SVG/PNG plots, a terminal table, qlog traces), experiment matrices run in parallel
//! and resumed ([`matrix`]), the simulator's speed benchmark ([`speed`]), and real mode: the same
//! scenarios between `mpquic-io` endpoints on real UDP sockets ([`real`]) through a user-space
//! link emulator that drives the simulator's link model in real time ([`emulator`]). The `mpquic`
//! binary is a thin command line over this library.
//!
//! ```no_run
//! use mpquic_experiments::{output, runner, scenario::Scenario};
//! let scenario = Scenario::demo();
//! let report = runner::run_scenario(&scenario, &runner::RunOptions::default()).unwrap();
//! println!("{}", output::table(&report));
//! output::write_all(std::path::Path::new("mpquic-out"), &report).unwrap();
//! ```
#![forbid(unsafe_code)]

pub mod emulator;
pub mod matrix;
pub mod metrics;
pub mod output;
pub mod qlog;
pub mod real;
pub mod reproduce;
pub mod runner;
pub mod scenario;
pub mod sim;
pub mod speed;
pub mod tls;
pub mod workload;
