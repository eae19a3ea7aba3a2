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
//! With `--netns` ([`Topology::Netns`]) the links are emulated at the IP level instead: a TUN
//! pair per path between a client and a server network namespace, the same link model applied
//! to every IP packet ([`crate::emulator::IpEmulator`]); any protocol then crosses the same
//! links, and `[compare]` / `--compare` runs Linux MPTCP, TCP and external peers after ours
//! ([`compare`]), reported in `Report::comparisons`. Everything made is removed on exit,
//! error and Ctrl-C (`cleanup`).
//!
//! What real mode does not do, and refuses with an error saying so: competing flows, datagram
//! workloads, and single-path runs over several paths (the client cannot move to another
//! interface: `mpquic-io` has no migration call). See `experiments/SCENARIOS.md`.

mod addresses;
mod apps;
mod cleanup;
pub mod compare;
mod netns;
mod one;

use std::net::SocketAddr;

use thiserror::Error;

pub use crate::emulator::{self, EmulatorError};
use crate::metrics::{Comparison, ComparisonPath};
use crate::runner::{run_scenario_with, Mode, Report, RunError, RunOptions};
use crate::scenario::{Scenario, Workload};
pub use addresses::{distinct_servers, AddressPlan, MAX_LOOPBACK_PATHS};
pub use cleanup::interrupted;
pub use netns::{netns_available, path_ip, EmulatedLinks, NAMESPACE_PREFIX};
pub use one::Side;

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

/// Checks that this machine can run `scenario` with `topology`: root, `ip` and TUN for
/// `--netns`, MPTCP enabled when it is compared; the error says what is missing.
pub fn preflight(scenario: &Scenario, topology: Topology) -> Result<(), RealError> {
    check_supported(scenario)?;
    if topology == Topology::Loopback {
        if !scenario.compare.is_empty() {
            return Err(RealError::Unsupported(
                "comparing with other protocols ([compare], --compare) needs --netns: they run over the IP-level link \
                 emulator between two network namespaces"
                    .into(),
            ));
        }
        return Ok(());
    }
    netns_available().map_err(|why| RealError::Netns(format!("--netns: {why}; run without --netns for loopback")))?;
    if scenario.compare.protocols.iter().any(|p| p == "mptcp") {
        compare::mptcp_available().map_err(|why| RealError::Unsupported(format!("comparing with mptcp: {why}")))?;
    }
    Ok(())
}

/// Runs every repetition (and baselines) of `scenario` on real sockets, on loopback or in
/// network namespaces; with `--netns` and `[compare]`, each repetition also runs the other
/// protocols over the same emulated links (`Report::comparisons`).
pub fn run_scenario(scenario: &Scenario, options: &RunOptions, topology: Topology) -> Result<Report, RealError> {
    preflight(scenario, topology)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(RealError::Runtime)?;
    let too_many = || RealError::Unsupported(format!("at most {MAX_LOOPBACK_PATHS} paths"));
    let mut comparisons = Vec::new();
    let mut report = run_scenario_with(scenario, options, Mode::Real, |s, seed| match topology {
        Topology::Loopback => {
            let bind = |_: Side, addr: SocketAddr| std::net::UdpSocket::bind(addr);
            let topo = one::Topology { plan: AddressPlan::loopback(s).ok_or_else(too_many)?, bind: &bind, ip: None };
            runtime.block_on(one::run_once(s, seed, &topo, options.qlog.as_ref()))
        }
        Topology::Netns => {
            let links = EmulatedLinks::start(s, seed)?;
            let namespaces = links.namespaces();
            let bind = |side: Side, addr: SocketAddr| namespaces.bind(side, addr);
            let plan = AddressPlan::netns(s).ok_or_else(too_many)?;
            let topo = one::Topology { plan, bind: &bind, ip: links.emulator() };
            let out = runtime.block_on(one::run_once(s, seed, &topo, options.qlog.as_ref()));
            // The endpoints' sockets are closed before their namespaces go.
            drop(topo);
            let rx = links.client_rx_bytes();
            links.stop()?;
            let out = out?;
            // Baselines (each path alone) are QUIC only.
            if std::ptr::eq(s, scenario) && !s.compare.is_empty() {
                let sm = &out.summary;
                comparisons.push(Comparison {
                    protocol: "mpquic".into(),
                    seed,
                    completed: sm.completed,
                    error: sm.error.clone(),
                    goodput_mbps: sm.goodput_mbps,
                    completion_time_s: sm.completion_time_s,
                    longest_delivery_gap_ms: Some(sm.longest_delivery_gap_ms),
                    congestion_controller: Some(s.transport.congestion_controller.clone()),
                    paths: path_bytes(s, &rx?),
                });
                say_progress(comparisons.last());
                for which in baselines_of(s) {
                    comparisons.push(compare_once(s, seed, &which)?);
                    say_progress(comparisons.last());
                }
            }
            Ok(out)
        }
    })?;
    report.notes.extend(notes(topology));
    if !comparisons.is_empty() {
        report.notes.extend(compare_notes(scenario));
    }
    report.comparisons = comparisons;
    Ok(report)
}

/// One baseline of `[compare]`.
enum Baseline<'a> {
    Kernel(compare::Kernel),
    External(&'a crate::scenario::ExternalSpec),
}

fn baselines_of(s: &Scenario) -> Vec<Baseline<'_>> {
    let kernel = s.compare.protocols.iter().filter_map(|p| compare::Kernel::from_name(p)).map(Baseline::Kernel);
    kernel.chain(s.compare.external.iter().map(Baseline::External)).collect()
}

/// One baseline over fresh namespaces and a fresh emulator with the same links and seed.
fn compare_once(s: &Scenario, seed: u64, which: &Baseline<'_>) -> Result<Comparison, RealError> {
    let links = EmulatedLinks::start_with(s, seed, |ns| match which {
        Baseline::Kernel(k) => compare::prepare(ns, *k),
        Baseline::External(_) => Ok(()),
    })?;
    let mut c = match which {
        Baseline::Kernel(k) => compare::run_kernel(s, seed, *k, links.namespaces()),
        Baseline::External(e) => compare::run_external(s, seed, e, links.namespaces()),
    };
    let rx = links.client_rx_bytes();
    links.stop()?;
    c.paths = path_bytes(s, &rx?);
    Ok(c)
}

fn path_bytes(s: &Scenario, rx: &[u64]) -> Vec<ComparisonPath> {
    s.paths.iter().zip(rx).map(|(p, b)| ComparisonPath { name: p.name.clone(), bytes_down: *b }).collect()
}

/// One line on stderr per protocol run (each takes as long as its workload).
fn say_progress(c: Option<&Comparison>) {
    let Some(c) = c else { return };
    let how = match (&c.error, c.completion_time_s) {
        (None, Some(t)) => format!("completed in {t:.2} s, {:.1} Mbit/s", c.goodput_mbps),
        (Some(e), _) => format!("failed: {e}"),
        (None, None) => "did not complete".to_owned(),
    };
    eprintln!("compare: seed {} {}: {how}", c.seed, c.protocol);
}

fn compare_notes(s: &Scenario) -> Vec<String> {
    let mut notes = vec![
        "comparisons: each protocol ran after ours over fresh namespaces with the same emulated links, timeline and seed; \
         mptcp uses one subflow per path and Linux's default scheduler, tcp the first path; per-path bytes_down are \
         the client devices' receive counters (IP packets, headers included)"
            .to_owned(),
    ];
    if let (_, Some(note)) = compare::linux_congestion_control(&s.transport.congestion_controller) {
        notes.push(format!("comparisons: {note}"));
    }
    notes
}

/// Where the endpoints and relays of a real run live.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Topology {
    /// Everything on this machine's loopback (127.0.0.0/8).
    #[default]
    Loopback,
    /// A client and a server network namespace joined by one pair of TUN devices per path with
    /// the IP-level link emulator between them, made for each run and deleted after it (needs
    /// root).
    Netns,
}

/// The caveats of every real-mode report.
fn notes(topology: Topology) -> Vec<String> {
    let (place, counters) = match topology {
        Topology::Loopback => (
            "on loopback UDP sockets, links emulated in user space by one UDP relay per path",
            "the relays' counters (UDP payload bytes)",
        ),
        Topology::Netns => (
            "on UDP sockets in a client and a server network namespace joined by one pair of TUN devices per path, \
             every IP packet through the IP-level link emulator",
            "the IP-level emulator's counters (IP bytes)",
        ),
    };
    vec![
        format!(
            "real mode: mpquic-io endpoints {place} (the simulator's link model in real time); times are wall-clock, \
             and a run is not reproducible bit for bit (the links' random draws are seeded, the packets offered to them \
             are not)"
        ),
        format!(
            "real mode: per-path bytes are {counters}; each run's `emulator` entry says how late releases were (more \
             than 1 ms means the machine did not keep up and delays were longer than configured)"
        ),
    ]
}
