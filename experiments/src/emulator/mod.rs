//! The user-space link emulator of real mode: one relay per scenario path, on real UDP sockets,
//! that forwards the client's datagrams to the server and back through the scenario's link
//! model in real time (this machine has no netem).
//!
//! The link model is the simulator's own: the relay builds the scenario's
//! [`crate::sim::Network`] (one [`Link`](crate::sim::Link) per path and direction,
//! shared bottlenecks, the timeline) and drives it with a real clock instead of virtual time, so
//! rate, propagation delay, drop-tail queues, Bernoulli and Gilbert-Elliott loss, jitter,
//! reordering, ECN marking and the `down` / `up` / `set` / `handover` events mean exactly what
//! they mean in the simulator, with the same seeded random draws per packet. Time 0 of the
//! timeline is the arrival of the first datagram.
//!
//! Per path there are two sockets: the *client-facing* one (the address the client sends to
//! instead of the server's) and the *server-facing* one (the address the server sees the path
//! come from). Datagrams are received in batches with UDP GRO (split into their datagrams before
//! the link model sees them) and their ECN codepoint is kept (IP_RECVTOS in, IP_TOS per datagram
//! out, CE when the link marked it), all through `mpquic_io::udp`.
//!
//! ```no_run
//! use mpquic_experiments::emulator::{Emulator, RelaySpec};
//! use mpquic_experiments::scenario::Scenario;
//! let scenario = Scenario::load("experiments/scenarios/failover_bulk.toml".as_ref()).unwrap();
//! let relays = [
//!     RelaySpec::new("127.0.0.1:7001".parse().unwrap(), "127.0.0.1:4433".parse().unwrap()),
//!     RelaySpec::new("127.0.0.2:7001".parse().unwrap(), "127.0.0.2:4433".parse().unwrap()),
//! ];
//! let emulator = Emulator::start(&scenario, 1, &relays).unwrap();
//! // ... run a client against 127.0.0.1:7001 (and 127.0.0.2:7001 for the second path) ...
//! println!("{:?}", emulator.stop());
//! ```

mod clock;
mod ip;
mod relay;
mod stats;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use thiserror::Error;

pub use clock::{Clock, Wait, FINE_STEP, FINE_WINDOW};
pub use ip::{ip_ecn, set_ip_ecn, IpEmulator, TunPair};
pub use stats::{Count, EmulatorStats, RelayStats};

use crate::metrics::LinkSummary;
use crate::scenario::Scenario;
use crate::sim::{Nanos, Network};

/// Asks for real-time priority for the calling emulator thread (see
/// [`mpquic_io::realtime`]: a late release is link capacity lost) and records in `stats`
/// whether it got it.
fn enter_realtime(stats: &Mutex<EmulatorStats>) {
    let realtime = match mpquic_io::realtime::make_current_thread_realtime() {
        Ok(()) => true,
        Err(e) => {
            tracing::debug!(error = %e, "the emulator runs at normal priority");
            false
        }
    };
    stats.lock().unwrap_or_else(|p| p.into_inner()).realtime = realtime;
}

/// Why the emulator could not start.
#[derive(Debug, Error)]
pub enum EmulatorError {
    /// The scenario uses something the emulator does not do.
    #[error("{0}")]
    Unsupported(String),
    /// A relay was given for a number of paths different from the scenario's.
    #[error("the scenario has {paths} paths but {relays} relays were given (one per path, in order)")]
    RelayCount {
        /// Scenario paths.
        paths: usize,
        /// Relays given.
        relays: usize,
    },
    /// A socket could not be bound or set up.
    #[error("relay of path `{path}`: {action} {addr}: {error}")]
    Socket {
        /// Scenario path name.
        path: String,
        /// What was being done.
        action: &'static str,
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        error: std::io::Error,
    },
    /// The emulator's thread or runtime could not start.
    #[error("starting the emulator thread: {0}")]
    Thread(std::io::Error),
}

/// Where the relay of one path listens and where it forwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelaySpec {
    /// The client-facing address: the client sends this path's datagrams here.
    pub listen: SocketAddr,
    /// The server's address for this path.
    pub server: SocketAddr,
    /// The address of the server-facing socket (what the server sees as the client); port 0
    /// picks a free one.
    pub server_facing: SocketAddr,
}

impl RelaySpec {
    /// A relay on `listen` forwarding to `server`, its server-facing socket on the listen IP
    /// with a free port (on the unspecified address of the server's family when the two
    /// families differ).
    pub fn new(listen: SocketAddr, server: SocketAddr) -> Self {
        let ip = match (listen.ip(), server.ip()) {
            (l, s) if l.is_ipv4() == s.is_ipv4() => l,
            (_, IpAddr::V4(_)) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            (_, IpAddr::V6(_)) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        };
        Self { listen, server, server_facing: SocketAddr::new(ip, 0) }
    }
}

/// The two bound sockets of one path's relay (made by the caller, e.g. inside a network
/// namespace) and the server address it forwards to.
#[derive(Debug)]
pub struct RelaySockets {
    /// Takes the client's datagrams.
    pub client_side: std::net::UdpSocket,
    /// Sends to and receives from the server.
    pub server_side: std::net::UdpSocket,
    /// The server's address for this path.
    pub server: SocketAddr,
}

impl RelaySockets {
    /// Binds the sockets of `spec` (`path` names it in errors).
    pub fn bind(path: &str, spec: &RelaySpec) -> Result<Self, EmulatorError> {
        let bind = |addr: SocketAddr, action| {
            std::net::UdpSocket::bind(addr).map_err(|error| EmulatorError::Socket {
                path: path.to_owned(),
                action,
                addr,
                error,
            })
        };
        Ok(Self {
            client_side: bind(spec.listen, "binding the client-facing socket on")?,
            server_side: bind(spec.server_facing, "binding the server-facing socket on")?,
            server: spec.server,
        })
    }
}

/// State shared by the relay thread and the [`Emulator`] handle.
#[derive(Debug, Default)]
struct Shared {
    stop: AtomicBool,
    stats: Mutex<EmulatorStats>,
}

/// What the emulator does not do (competing flows need endpoints of their own, which real mode
/// does not start); `Ok` for everything else.
pub fn check_supported(scenario: &Scenario) -> Result<(), EmulatorError> {
    if !scenario.competing.is_empty() {
        return Err(EmulatorError::Unsupported(format!(
            "the emulator relays one connection's paths; [[competing]] flows ({}) are simulator-only: run \
             without --real, or remove them",
            scenario.competing.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")
        )));
    }
    Ok(())
}

/// A running emulator: a thread with one relay per scenario path. Stops when dropped.
#[derive(Debug)]
pub struct Emulator {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    relays: Vec<RelayStats>,
}

impl Emulator {
    /// Binds one relay per path of `scenario` (`relays[i]` for `scenario.paths[i]`) and starts
    /// forwarding; `seed` seeds the links' random draws as in the simulator.
    pub fn start(scenario: &Scenario, seed: u64, relays: &[RelaySpec]) -> Result<Self, EmulatorError> {
        if relays.len() != scenario.paths.len() {
            return Err(EmulatorError::RelayCount { paths: scenario.paths.len(), relays: relays.len() });
        }
        let sockets = scenario
            .paths
            .iter()
            .zip(relays)
            .map(|(p, r)| RelaySockets::bind(&p.name, r))
            .collect::<Result<Vec<_>, _>>()?;
        Self::with_sockets(scenario, seed, sockets)
    }

    /// Starts on sockets bound by the caller, one [`RelaySockets`] per scenario path.
    pub fn with_sockets(scenario: &Scenario, seed: u64, sockets: Vec<RelaySockets>) -> Result<Self, EmulatorError> {
        check_supported(scenario)?;
        if sockets.len() != scenario.paths.len() {
            return Err(EmulatorError::RelayCount { paths: scenario.paths.len(), relays: sockets.len() });
        }
        let net = Network::new(scenario, seed);
        let shared = Arc::new(Shared::default());
        {
            let mut stats = shared.stats.lock().unwrap_or_else(|p| p.into_inner());
            stats.relays = vec![RelayStats::default(); scenario.paths.len()];
            stats.links = net.links.iter().map(|l| LinkSummary { name: l.name.clone(), stats: l.stats }).collect();
        }
        let names: Vec<String> = scenario.paths.iter().map(|p| p.name.clone()).collect();
        let mut event_times: Vec<Nanos> = scenario.events.iter().map(|e| (e.at_s * 1e9).round() as Nanos).collect();
        event_times.sort_unstable();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("mpquic-emulator".into())
            .spawn(move || {
                enter_realtime(&thread_shared.stats);
                let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(EmulatorError::Thread(e)));
                        return;
                    }
                };
                runtime.block_on(async move {
                    match relay::Relay::new(net, sockets, names, event_times, thread_shared) {
                        Ok(relay) => {
                            let _ = ready_tx.send(Ok(relay.relay_stats()));
                            relay.run().await;
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                        }
                    }
                });
            })
            .map_err(EmulatorError::Thread)?;
        let relays = match ready_rx.recv() {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                let _ = thread.join();
                return Err(e);
            }
            Err(_) => {
                let _ = thread.join();
                return Err(EmulatorError::Thread(std::io::Error::other(
                    "the emulator thread ended before it was ready",
                )));
            }
        };
        Ok(Self { shared, thread: Some(thread), relays })
    }

    /// Where the client sends path `path`'s datagrams.
    pub fn listen_addr(&self, path: usize) -> Option<SocketAddr> {
        self.relays.get(path).and_then(|r| r.listen)
    }

    /// The address the server sees path `path` come from.
    pub fn server_facing_addr(&self, path: usize) -> Option<SocketAddr> {
        self.relays.get(path).and_then(|r| r.server_facing)
    }

    /// The counters now.
    pub fn stats(&self) -> EmulatorStats {
        self.shared.stats.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Stops the relays and returns the final counters.
    pub fn stop(mut self) -> EmulatorStats {
        self.halt();
        self.stats()
    }

    fn halt(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.halt();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_facing_socket_is_in_the_server_family() {
        let a = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert_eq!(RelaySpec::new(a("127.0.0.2:7001"), a("127.0.0.1:4433")).server_facing, a("127.0.0.2:0"));
        assert_eq!(RelaySpec::new(a("[::1]:7001"), a("127.0.0.1:4433")).server_facing, a("0.0.0.0:0"));
        assert_eq!(RelaySpec::new(a("127.0.0.1:7001"), a("[::1]:4433")).server_facing, a("[::]:0"));
    }

    #[test]
    fn competing_flows_and_wrong_relay_counts_are_refused() {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/cc_fairness.toml")).unwrap();
        let s = Scenario::from_toml(&text, "cc_fairness.toml").unwrap();
        assert!(matches!(check_supported(&s), Err(EmulatorError::Unsupported(m)) if m.contains("competing")));
        let demo = Scenario::demo();
        let one = [RelaySpec::new("127.0.0.1:0".parse().unwrap(), "127.0.0.1:1".parse().unwrap())];
        let e = Emulator::start(&demo, 1, &one).unwrap_err();
        assert!(matches!(e, EmulatorError::RelayCount { paths: 2, relays: 1 }), "{e}");
    }
}
