//! One real run: a server endpoint on the plan's server addresses, the emulator's relays, a
//! client endpoint with one source IP per path, the workload applications, and a sampler that
//! records the per-path time series until the workload is done or the time limit passes.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mpquic_io::udp::{SocketConfig, UdpSocket};
use mpquic_io::{Connection, Endpoint};
use mpquic_proto::{ClientConfig, EndpointConfig, PathId, PathInfo, ServerConfig, VarInt};

use super::addresses::AddressPlan;
use super::apps::{self, since, SharedClient};
use super::RealError;
use crate::emulator::{Emulator, EmulatorStats, IpEmulator, RelaySockets, RelaySpec};
use crate::metrics::{request_summary, EmulatorSummary, PathSample, PathSeries, PathSummary, RunSummary};
use crate::runner::{collect_qlog, transport_config, QlogOptions, RunOutput};
use crate::scenario::Scenario;
use crate::sim::{ms_to_nanos, Nanos};
use crate::tls::{tls_pair, SERVER_NAME};
use crate::workload::plan;

/// Which side of the emulated network a socket is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The client's (its endpoint).
    Client,
    /// The server's (its endpoint and the relays).
    Server,
}

/// Binds a UDP socket on one side: in this process's namespace, or in the side's own.
pub(super) type Binder<'a> = &'a (dyn Fn(Side, SocketAddr) -> std::io::Result<std::net::UdpSocket> + Sync);

/// Where a run's endpoints and relays put their sockets.
pub(super) struct Topology<'a> {
    /// The addresses.
    pub(super) plan: AddressPlan,
    /// How sockets are bound.
    pub(super) bind: Binder<'a>,
    /// The IP-level emulator already on the paths' routes (`--netns`); `None`: the run starts
    /// UDP relays of its own.
    pub(super) ip: Option<&'a IpEmulator>,
}

/// The links of a run: its own relays, or the IP-level emulator its caller runs.
enum Links<'a> {
    Relays(Emulator),
    Ip(&'a IpEmulator),
}

impl Links<'_> {
    fn stats(&self) -> EmulatorStats {
        match self {
            Self::Relays(e) => e.stats(),
            Self::Ip(e) => e.stats(),
        }
    }

    /// Stops the relays (the caller stops the IP-level emulator) and returns the counters.
    async fn finish(self) -> EmulatorStats {
        match self {
            // Stopping joins the emulator's thread: not on a runtime worker.
            Self::Relays(e) => tokio::task::spawn_blocking(move || e.stop()).await.unwrap_or_default(),
            Self::Ip(e) => e.stats(),
        }
    }
}

/// The server's connection, once accepted.
type Accepted = Arc<Mutex<Option<Connection>>>;

/// Runs `s` once with `seed` on real sockets.
pub(super) async fn run_once(
    s: &Scenario,
    seed: u64,
    topo: &Topology<'_>,
    qlog: Option<&QlogOptions>,
) -> Result<RunOutput, RealError> {
    let addrs = &topo.plan;
    let tls = tls_pair().map_err(crate::runner::RunError::from)?;
    let mut transport = transport_config(s)?;
    // Real time: each trace counts from its own connection's creation.
    let qlog = qlog.map(|q| q.factory(s, seed, None));
    transport.tracer_factory = qlog.clone().map(|f| Arc::new(f) as Arc<dyn mpquic_proto::TracerFactory>);
    let transport = Arc::new(transport);
    let socket_config = SocketConfig::default();
    let bind_std = |side, addr| (topo.bind)(side, addr).map_err(|error| RealError::Socket { addr, error });
    let socket = |side, addr| {
        bind_std(side, addr).and_then(|sock| {
            UdpSocket::from_std(sock, &socket_config).map_err(|error| RealError::Socket { addr, error })
        })
    };

    // The server, on one address per distinct scenario server address.
    let mut server_config = ServerConfig::new(tls.server);
    server_config.transport = transport.clone();
    let server_sockets = addrs
        .server_ips
        .iter()
        .map(|ip| socket(Side::Server, SocketAddr::new(*ip, 0)))
        .collect::<Result<Vec<_>, _>>()?;
    let server = Endpoint::with_sockets(endpoint_config(seed, 1), Some(server_config), server_sockets);
    let server_addrs = server.local_addrs();

    let (emulator, relay_listen, relay_server_side): (Links<'_>, Vec<SocketAddr>, Vec<SocketAddr>) = match topo.ip {
        // Straight to the server's address on the path; the server sees the client's.
        Some(ip) => (
            Links::Ip(ip),
            (0..s.paths.len()).map(|p| server_addrs[addrs.server_of_path[p]]).collect(),
            addrs.client_ips.iter().map(|ip| SocketAddr::new(*ip, 0)).collect(),
        ),
        None => {
            // The relays, one per path, between the client and the server address of the path.
            let specs: Vec<RelaySpec> = (0..s.paths.len())
                .map(|p| RelaySpec {
                    listen: SocketAddr::new(addrs.relay_ips[p], 0),
                    server: server_addrs[addrs.server_of_path[p]],
                    server_facing: SocketAddr::new(addrs.relay_server_side_ips[p], 0),
                })
                .collect();
            let relay_sockets = specs
                .iter()
                .map(|r| {
                    Ok(RelaySockets {
                        client_side: bind_std(Side::Server, r.listen)?,
                        server_side: bind_std(Side::Server, r.server_facing)?,
                        server: r.server,
                    })
                })
                .collect::<Result<Vec<_>, RealError>>()?;
            let emulator = Emulator::with_sockets(s, seed, relay_sockets)?;
            let listen = (0..s.paths.len()).filter_map(|p| emulator.listen_addr(p)).collect();
            let server_side = (0..s.paths.len()).filter_map(|p| emulator.server_facing_addr(p)).collect();
            (Links::Relays(emulator), listen, server_side)
        }
    };

    // The client: one socket on the unspecified address, each path's source IP chosen per packet.
    let unspecified = SocketAddr::from(([0, 0, 0, 0], 0));
    let client = Endpoint::with_socket(endpoint_config(seed, 2), None, socket(Side::Client, unspecified)?);
    let mut client_config = ClientConfig::new(tls.client);
    client_config.transport = transport;

    let accepted: Accepted = Arc::new(Mutex::new(None));
    let server_task = {
        let (server, accepted) = (server.clone(), accepted.clone());
        tokio::spawn(async move {
            let Some(incoming) = server.accept().await else { return };
            let Ok(conn) = incoming.await else { return };
            *accepted.lock().unwrap_or_else(|p| p.into_inner()) = Some(conn.clone());
            apps::serve(conn).await;
        })
    };

    let limit = Duration::from_secs_f64(s.duration_s);
    let t0 = Instant::now();
    let mut run = Run::new(s, &relay_server_side);
    let connecting =
        client.connect_from(client_config, SocketAddr::new(addrs.client_ips[0], 0), relay_listen[0], SERVER_NAME)?;
    let mut state: Option<(Connection, SharedClient)> = None;
    match tokio::time::timeout(limit, connecting).await {
        Err(_) => run.error = Some(format!("no handshake within the time limit of {} s", s.duration_s)),
        Ok(Err(e)) => run.error = Some(format!("client: {e}")),
        Ok(Ok(conn)) => {
            let base = since(t0);
            run.handshake_done = Some(base);
            if s.transport.multipath && s.paths.len() > 1 {
                // RFC 10069 §3.1: the client opens the other paths once the
                // handshake is confirmed (open_path waits for that and for the peer's CIDs).
                let (c, ips, relays) = (conn.clone(), addrs.client_ips.clone(), relay_listen.clone());
                tokio::spawn(async move {
                    for p in 1..ips.len() {
                        if let Err(e) = c.open_path(SocketAddr::new(ips[p], 0), relays[p]).await {
                            tracing::warn!(path = p, error = %e, "opening a path failed");
                        }
                    }
                });
            }
            let client_state = apps::start_client(conn.clone(), crate::workload::plan(&s.workload), t0, base);
            state = Some((conn, client_state));
        }
    }

    // Sample until done, failed, or out of time.
    let period = Duration::from_nanos(ms_to_nanos(s.sample_interval_ms).max(1_000_000));
    let mut next_sample = t0;
    let mut done_at = None;
    if let Some((conn, client_state)) = &state {
        loop {
            let now = Instant::now();
            if now >= next_sample {
                run.sample(since(t0), &emulator.stats(), &accepted);
                next_sample += period;
            }
            let (done, failed) = {
                let st = client_state.lock().unwrap_or_else(|p| p.into_inner());
                (st.all_done(), st.error.clone())
            };
            if done {
                done_at = Some(since(t0));
                break;
            }
            if let Some(e) = failed {
                run.error = Some(e);
                break;
            }
            if let Some(e) = conn.close_reason() {
                run.error = Some(format!("client: {e}"));
                break;
            }
            if now >= t0 + limit {
                break;
            }
            // Wake for the next sample, or every 10 ms to notice the end.
            let wake = next_sample.min(now + Duration::from_millis(10)).min(t0 + limit);
            tokio::time::sleep_until(tokio::time::Instant::from_std(wake)).await;
        }
    }
    let end = done_at.unwrap_or_else(|| since(t0));
    run.sample(end, &emulator.stats(), &accepted);
    if let Some((conn, _)) = &state {
        conn.close(VarInt::from_u32(0), b"done");
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), client.wait_idle()).await;
    server.close(VarInt::from_u32(0), b"done");
    // Both connections end (and their qlog writers flush) before the run reports.
    let _ = tokio::time::timeout(Duration::from_secs(1), server.wait_idle()).await;
    server_task.abort();
    let stats = emulator.finish().await;
    let client_state = state.map(|(_, c)| c);
    let mut out = run.finish(end, done_at, seed, client_state.as_ref(), stats);
    collect_qlog(qlog, &mut out)?;
    Ok(out)
}

/// A deterministic endpoint configuration per run and side (CIDs, tokens).
fn endpoint_config(seed: u64, side: u64) -> EndpointConfig {
    EndpointConfig::with_seed(seed.wrapping_mul(0x9e37_79b9).wrapping_add(side))
}

/// What one run records as it goes.
struct Run<'a> {
    s: &'a Scenario,
    /// Per path: the address the server sees it come from (the relay's server-facing socket,
    /// or the client's address on the path); matched by IP.
    server_side: &'a [SocketAddr],
    series: Vec<PathSeries>,
    /// The server's latest snapshot of each path ID, with its scenario path.
    path_stats: BTreeMap<PathId, (usize, PathInfo)>,
    handshake_done: Option<Nanos>,
    error: Option<String>,
}

impl<'a> Run<'a> {
    fn new(s: &'a Scenario, server_side: &'a [SocketAddr]) -> Self {
        Self {
            s,
            server_side,
            series: s.paths.iter().map(|p| PathSeries { name: p.name.clone(), samples: Vec::new() }).collect(),
            path_stats: BTreeMap::new(),
            handshake_done: None,
            error: None,
        }
    }

    fn sample(&mut self, now: Nanos, emu: &EmulatorStats, accepted: &Accepted) {
        let time_s = now as f64 / 1e9;
        let mut rows: Vec<PathSample> = emu
            .relays
            .iter()
            .map(|r| PathSample { time_s, bytes_delivered: r.to_client.bytes, ..PathSample::default() })
            .collect();
        let conn = accepted.lock().unwrap_or_else(|p| p.into_inner()).clone();
        for info in conn.map(|c| c.paths()).unwrap_or_default() {
            let Some(p) = self.server_side.iter().position(|a| a.ip() == info.remote.ip()) else { continue };
            if let Some(row) = rows.get_mut(p) {
                row.active = !info.abandoned;
                row.cwnd_bytes = info.congestion_window;
                row.srtt_ms = info.smoothed_rtt.as_secs_f64() * 1e3;
                row.bytes_in_flight = info.bytes_in_flight;
            }
            self.path_stats.insert(info.id, (p, info));
        }
        for (series, mut row) in self.series.iter_mut().zip(rows) {
            if let Some(prev) = series.samples.last() {
                if prev.time_s >= time_s {
                    continue;
                }
                let dt = time_s - prev.time_s;
                row.goodput_mbps = row.bytes_delivered.saturating_sub(prev.bytes_delivered) as f64 * 8.0 / dt / 1e6;
            }
            series.samples.push(row);
        }
    }

    fn finish(
        self,
        end: Nanos,
        done_at: Option<Nanos>,
        seed: u64,
        client: Option<&SharedClient>,
        emu: EmulatorStats,
    ) -> RunOutput {
        let s = self.s;
        let planned = plan(&s.workload).len();
        let (records, gaps) = match client {
            Some(c) => {
                let st = c.lock().unwrap_or_else(|p| p.into_inner());
                (st.records.clone(), st.gaps)
            }
            None => (Vec::new(), Default::default()),
        };
        let app_bytes: u64 = records.iter().map(|r| r.bytes).sum();
        let completed = self.error.is_none() && done_at.is_some();
        let run_s = end as f64 / 1e9;
        let mbps = |bytes: u64| if run_s > 0.0 { bytes as f64 * 8.0 / run_s / 1e6 } else { 0.0 };
        let paths = s
            .paths
            .iter()
            .enumerate()
            .map(|(p, spec)| {
                let relay = emu.relays.get(p).cloned().unwrap_or_default();
                let server_side = self.path_stats.values().filter(|(q, _)| *q == p).map(|(_, i)| &i.stats);
                let (mut packets_lost, mut bytes_lost, mut congestion_events, mut restarts) = (0, 0, 0, 0);
                for st in server_side {
                    packets_lost += st.packets_lost;
                    bytes_lost += st.bytes_lost;
                    congestion_events += st.congestion_events;
                    restarts += st.congestion_window_restarts;
                }
                PathSummary {
                    name: spec.name.clone(),
                    bytes_sent_down: relay.from_server.bytes,
                    bytes_sent_up: relay.from_client.bytes,
                    bytes_delivered_down: relay.to_client.bytes,
                    packets_lost,
                    bytes_lost,
                    congestion_events,
                    congestion_window_restarts: restarts,
                    mean_goodput_mbps: mbps(relay.to_client.bytes),
                }
            })
            .collect();
        let error = self.error.clone().or_else(|| {
            (!completed).then(|| {
                format!(
                    "time limit of {} s reached with {} of {} requests complete",
                    s.duration_s,
                    records.iter().filter(|r| r.completed_ns.is_some()).count(),
                    planned
                )
            })
        });
        let summary = RunSummary {
            label: s.name.clone(),
            seed,
            paths_defined: s.paths.len(),
            multipath_used: s.transport.multipath && s.paths.len() > 1,
            completed,
            error,
            handshake_ms: self.handshake_done.map(|t| t as f64 / 1e6),
            completion_time_s: done_at.filter(|_| completed).map(|t| t as f64 / 1e9),
            simulated_s: run_s,
            app_bytes_received: app_bytes,
            app_bytes_corrupt: records.iter().map(|r| r.corrupt_bytes).sum(),
            goodput_mbps: mbps(app_bytes),
            requests: request_summary(&records, planned, &s.workload),
            datagrams: None,
            paths,
            links: emu.links.clone(),
            migrations: 0,
            reconnects: 0,
            reconnects_0rtt_accepted: 0,
            longest_delivery_gap_ms: gaps.longest_ns as f64 / 1e6,
            longest_delivery_gap_end_s: gaps.longest_end_ns as f64 / 1e9,
            competing: Vec::new(),
            shared_window: None,
            emulator: Some(EmulatorSummary {
                relays: emu.relays,
                late_releases: emu.late_wakeups,
                max_release_lateness_ms: emu.max_lateness_us as f64 / 1e3,
                realtime: emu.realtime,
            }),
        };
        RunOutput { summary, series: self.series, qlog_files: Vec::new(), datagrams_sent: 0 }
    }
}
