//! Real mode (`mpquic run --real`): the scenario's workload between `mpquic-io` endpoints on
//! real UDP sockets, through the user-space link emulator ([`crate::emulator`]) that applies the
//! scenario's links in real time.
//!
//! The scenario's addresses are mapped onto loopback ([`AddressPlan::loopback`]): the client
//! binds one socket on the unspecified address and sends each path's packets from its own
//! source IP (127.0.1.x) to the path's relay (127.0.2.x), which forwards them to the server
//! (127.0.3.x). Multipath, scheduler and congestion control come from the scenario as in the
//! simulator. Outputs are the simulator's (summary.json with `"mode": "real"`, CSV, plots, the
//! table), per-path bytes come from the relays' counters, and each run also reports the
//! relays' counters and how late their releases were (`emulator`).
//!
//! What real mode does not do, and refuses with an error saying so: competing flows, datagram
//! workloads, and single-path runs over several paths (the client cannot move to another
//! interface: `mpquic-io` has no migration call). See `experiments/SCENARIOS.md`.

mod addresses;
mod apps;
mod netns;
mod one;

use std::net::SocketAddr;

use thiserror::Error;

pub use addresses::{distinct_servers, AddressPlan, MAX_LOOPBACK_PATHS};
pub use netns::netns_available;

use one::Side;

use crate::emulator::{self, EmulatorError};
use crate::runner::{run_scenario_with, Mode, Report, RunError, RunOptions};
use crate::scenario::{Scenario, Workload};

/// A real run could not be set up (a run that fails to transfer is a result, not an error).
#[derive(Debug, Error)]
pub enum RealError {
    /// The scenario uses something real mode does not do.
    #[error("real mode: {0}")]
    Unsupported(String),
    /// The transport or TLS configuration.
    #[error(transparent)]
    Setup(#[from] RunError),
    /// The link emulator.
    #[error(transparent)]
    Emulator(#[from] EmulatorError),
    /// An endpoint's socket.
    #[error("socket on {addr}: {error}")]
    Socket {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        error: std::io::Error,
    },
    /// The client refused to connect.
    #[error("connecting: {0}")]
    Connect(#[from] mpquic_io::ConnectError),
    /// The async runtime could not start.
    #[error("starting the tokio runtime: {0}")]
    Runtime(std::io::Error),
    /// The network namespaces could not be made or removed.
    #[error("network namespaces: {0}")]
    Netns(String),
}

/// Checks that real mode can run `scenario`; the error says what is not supported and why.
pub fn check_supported(scenario: &Scenario) -> Result<(), RealError> {
    emulator::check_supported(scenario).map_err(|e| RealError::Unsupported(e.to_string()))?;
    if let Workload::Datagrams { .. } = scenario.workload {
        return Err(RealError::Unsupported(
            "datagram workloads are simulator-only for now; real mode runs bulk, files, request_response and video"
                .into(),
        ));
    }
    if !scenario.transport.multipath && scenario.paths.len() > 1 {
        return Err(RealError::Unsupported(format!(
            "`multipath = false` with {} paths: the simulator moves a single-path connection to another interface when \
             its path goes down, which the real client cannot do (mpquic-io has no migration call); use one path, or \
             multipath",
            scenario.paths.len()
        )));
    }
    if scenario.paths.len() > MAX_LOOPBACK_PATHS {
        return Err(RealError::Unsupported(format!("at most {MAX_LOOPBACK_PATHS} paths on loopback")));
    }
    Ok(())
}

/// Runs every repetition (and baselines) of `scenario` on real sockets, on loopback or in
/// network namespaces.
pub fn run_scenario(scenario: &Scenario, options: &RunOptions, topology: Topology) -> Result<Report, RealError> {
    check_supported(scenario)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(RealError::Runtime)?;
    let too_many = || RealError::Unsupported(format!("at most {MAX_LOOPBACK_PATHS} paths"));
    let mut report = run_scenario_with(scenario, options, Mode::Real, |s, seed| match topology {
        Topology::Loopback => {
            let bind = |_: Side, addr: SocketAddr| std::net::UdpSocket::bind(addr);
            let topo = one::Topology { plan: AddressPlan::loopback(s).ok_or_else(too_many)?, bind: &bind };
            runtime.block_on(one::run_once(s, seed, &topo, options.qlog.as_ref()))
        }
        Topology::Netns => {
            let namespaces = netns::Namespaces::create(s.paths.len())?;
            let bind = |side: Side, addr: SocketAddr| namespaces.bind(side, addr);
            let topo = one::Topology { plan: AddressPlan::netns(s).ok_or_else(too_many)?, bind: &bind };
            let out = runtime.block_on(one::run_once(s, seed, &topo, options.qlog.as_ref()));
            // The endpoints' sockets are closed before their namespaces go.
            drop(topo);
            namespaces.delete()?;
            out
        }
    })?;
    report.notes.extend(notes(topology));
    Ok(report)
}

/// Where the endpoints and relays of a real run live.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Topology {
    /// Everything on this machine's loopback (127.0.0.0/8).
    #[default]
    Loopback,
    /// A client and a server network namespace joined by one veth pair per path, made for each
    /// run and deleted after it (needs root); the relays sit in the server namespace.
    Netns,
}

/// The caveats of every real-mode report.
fn notes(topology: Topology) -> Vec<String> {
    let place = match topology {
        Topology::Loopback => "on loopback UDP sockets",
        Topology::Netns => {
            "on UDP sockets in a client and a server network namespace joined by one veth pair per path (the relays \
             in the server namespace)"
        }
    };
    vec![
        format!(
            "real mode: mpquic-io endpoints {place}, links emulated in user space by one relay per path \
         (the simulator's link model in real time); times are wall-clock, and a run is not reproducible bit for bit \
         (the links' random draws are seeded, the packets offered to them are not)"
        ),
        "real mode: per-path bytes are the relays' counters; each run's `emulator` entry says how late releases \
         were (more than 1 ms means the machine did not keep up and delays were longer than configured)"
            .to_owned(),
    ]
}
