//! One simulated run: builds the endpoints, the network and the applications, and steps virtual
//! time from event to event until the workload is done or the time limit passes.
//!
//! The loop, at each instant: the applications act, both endpoints are polled for datagrams
//! (which enter the network), then time jumps to the earliest of the next network event, the
//! endpoints' timers, the applications' wake-ups and the next sample; everything due then is
//! processed (datagrams delivered, timeline events applied, timers fired).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mpquic_proto::{
    ClientConfig, ConnectionHandle, Endpoint, EndpointConfig, Event, Instant, PathId, ServerConfig, Transmit,
    TransportConfig,
};

use super::competing::Competitor;
use super::{collect_qlog, QlogOptions, RunError};
use crate::metrics::{
    request_summary, DatagramSummary, LinkSummary, PathSample, PathSeries, PathSummary, RunSummary, SharedWindow,
};
use crate::qlog::QlogFactory;
use crate::scenario::{Scenario, Workload};
use crate::sim::{ms_to_nanos, Datagram, Direction, Nanos, Network, SEC};
use crate::tls::{tls_pair, tls_pair_with_resumption, SERVER_NAME};
use crate::workload::{plan, ClientApp, ServerApp};

/// The result of one run.
#[derive(Debug, Clone)]
pub struct RunOutput {
    /// Summary numbers.
    pub summary: RunSummary,
    /// Per-path time series.
    pub series: Vec<PathSeries>,
    /// The qlog traces written, client and server (empty without qlog).
    pub qlog_files: Vec<std::path::PathBuf>,
    /// UDP datagrams the endpoints sent, both directions (the simulator's unit of work; 0 where
    /// not counted).
    pub datagrams_sent: u64,
}

/// proto's clock for simulated time 0 (any fixed value works; 1 s keeps `Instant::ZERO` apart).
const EPOCH: Nanos = SEC;

pub(super) fn instant(t: Nanos) -> Instant {
    Instant::from_nanos(EPOCH + t)
}

fn sim_time(i: Instant) -> Nanos {
    i.as_nanos().saturating_sub(EPOCH)
}

/// Per-path counters the driver keeps from the simulator and from the server's path stats.
#[derive(Debug, Default, Clone)]
struct PathCounters {
    sent_up: u64,
    sent_down: u64,
    delivered_down: u64,
    packets_lost: u64,
    bytes_lost: u64,
    congestion_events: u64,
    congestion_window_restarts: u64,
}

/// The last per-PathId stats seen on the server, to attribute deltas to the scenario path the
/// PathId used at the time (a migrated path changes scenario path).
#[derive(Debug, Default, Clone, Copy)]
struct SeenStats {
    packets_lost: u64,
    bytes_lost: u64,
    congestion_events: u64,
    congestion_window_restarts: u64,
}

pub(crate) fn transport_config(s: &Scenario) -> Result<TransportConfig, RunError> {
    let mut t = TransportConfig {
        congestion_controller_factory: mpquic_cc::factory_by_name(&s.transport.congestion_controller)?,
        ecn: s.transport.ecn,
        pacing: s.transport.pacing,
        restart_after_idle: s.transport.restart_after_idle,
        // Deterministic runs: no idle timeout shorter than the run.
        max_idle_timeout: Some(Duration::from_secs_f64(s.duration_s.max(30.0))),
        ..TransportConfig::default()
    };
    if !s.transport.mtu_discovery {
        t.mtu_discovery_upper_bound = None;
    }
    if let Some(w) = s.transport.receive_window_bytes {
        t.receive_window = w;
        t.max_receive_window = t.max_receive_window.max(w);
    }
    if let Some(w) = s.transport.stream_receive_window_bytes {
        t.stream_receive_window = w;
        t.max_stream_receive_window = t.max_stream_receive_window.max(w);
        t.receive_window = t.receive_window.max(w);
        t.max_receive_window = t.max_receive_window.max(w);
    }
    if let Some(rtt) = s.transport.initial_rtt_ms {
        t.initial_rtt = Duration::from_nanos(ms_to_nanos(rtt));
    }
    let pf = &s.transport.path_failure;
    let detection = &mut t.path_failure;
    if let Some(f) = pf.rtt_factor {
        detection.rtt_factor = f;
    }
    if let Some(ms) = pf.min_timeout_ms {
        detection.min_timeout = Duration::from_nanos(ms_to_nanos(ms));
    }
    if let Some(n) = pf.consecutive_ptos {
        detection.consecutive_ptos = n;
    }
    if let Some(secs) = pf.abandon_after_s {
        detection.abandon_after = Some(Duration::from_secs_f64(secs));
    }
    if multipath(s) {
        t.initial_max_path_id = Some(u32::try_from(s.paths.len()).unwrap_or(u32::MAX).max(1));
        t.scheduler_factory = mpquic_scheduler::factory_by_name(&s.transport.scheduler)?;
    }
    Ok(t)
}

/// Whether the run uses multipath: asked for, and more than one path to use.
fn multipath(s: &Scenario) -> bool {
    s.transport.multipath && s.paths.len() > 1
}

/// Runs `scenario` once with `seed`.
pub fn run_once(scenario: &Scenario, seed: u64) -> Result<RunOutput, RunError> {
    run_once_with(scenario, seed, None)
}

/// Runs `scenario` once with `seed`, writing qlog traces of the connection (client and server)
/// when `qlog` says where. Competing flows are not traced.
pub fn run_once_with(scenario: &Scenario, seed: u64, qlog: Option<&QlogOptions>) -> Result<RunOutput, RunError> {
    // With a core to spare, the traces are written on a thread of their own (qlog/background.rs;
    // the simulator's endpoints, and with them the tracers, are gone when the run returns, which
    // `collect_qlog` waits for). Real mode writes in place.
    let spare_core = std::thread::available_parallelism().is_ok_and(|n| n.get() > 1);
    let factory = qlog.map(|q| {
        let f = q.factory(scenario, seed, Some(instant(0)));
        if spare_core {
            f.in_background()
        } else {
            f
        }
    });
    let mut out = Sim::new(scenario, seed, factory.clone())?.run()?;
    collect_qlog(factory, &mut out)?;
    Ok(out)
}

struct Sim<'a> {
    s: &'a Scenario,
    seed: u64,
    now: Nanos,
    end: Nanos,
    net: Network,
    client: Endpoint,
    server: Endpoint,
    ch: ConnectionHandle,
    sh: Option<ConnectionHandle>,
    client_app: ClientApp,
    server_app: ServerApp,
    /// The path (client interface) the single-path connection uses now.
    client_iface: usize,
    migrations: u32,
    /// `transport.reconnect`: the client's configuration (its TLS keeps the session tickets),
    /// new connections made, and how many of them had 0-RTT accepted.
    client_config: ClientConfig,
    reconnects: u32,
    reconnects_0rtt_accepted: u32,
    /// Connections replaced by a reconnect, to read their 0-RTT outcome from: the current one.
    reconnected: bool,
    counters: Vec<PathCounters>,
    seen: BTreeMap<PathId, SeenStats>,
    series: Vec<PathSeries>,
    next_sample: Nanos,
    sample_period: Nanos,
    handshake_done: Option<Nanos>,
    /// Multipath: scenario paths (index) opened as proto paths, once the handshake is confirmed.
    opened: Vec<bool>,
    confirmed: bool,
    error: Option<String>,
    buf: Vec<u8>,
    datagrams_sent: u64,
    /// A datagram reached the client (server) since its deadline was last asked.
    client_touched: bool,
    server_touched: bool,
    /// Something reached the client (server) since its application last ran: a datagram, a
    /// deadline or an event. Only then, or at the application's own wake-up time, is it run:
    /// running it through [`Endpoint::connection`] queues the connection to be polled for
    /// transmits and its deadline to be read again, which for an untouched endpoint is wasted
    /// work on every event of the other one. Sending frees no room for the application: proto's
    /// send buffer counts bytes until they are acknowledged, so a blocked write waits for an
    /// ACK, and a read for data, both of which arrive as datagrams.
    client_app_due: bool,
    server_app_due: bool,
    /// Competing flows (`[[competing]]`).
    competitors: Vec<Competitor>,
    /// Application bytes of the connection and of each competing flow when the shared window
    /// opened, then when it closed: (time, connection bytes, competitors' bytes).
    window_open: Option<(Nanos, u64, Vec<u64>)>,
    window_close: Option<(Nanos, u64, Vec<u64>)>,
}

impl<'a> Sim<'a> {
    fn new(s: &'a Scenario, seed: u64, qlog: Option<QlogFactory>) -> Result<Self, RunError> {
        let tls = if s.transport.reconnect { tls_pair_with_resumption()? } else { tls_pair()? };
        let mut transport = transport_config(s)?;
        transport.tracer_factory = qlog.map(|f| Arc::new(f) as Arc<dyn mpquic_proto::TracerFactory>);
        let transport = Arc::new(transport);
        let mut server_config = ServerConfig::new(tls.server);
        server_config.transport = transport.clone();
        let server = Endpoint::new(
            Arc::new(EndpointConfig::with_seed(seed.wrapping_mul(0x9e37_79b9).wrapping_add(1))),
            Some(Arc::new(server_config)),
        );
        let mut client =
            Endpoint::new(Arc::new(EndpointConfig::with_seed(seed.wrapping_mul(0x9e37_79b9).wrapping_add(2))), None);
        let mut client_config = ClientConfig::new(tls.client);
        client_config.transport = transport;
        let p0 = &s.paths[0];
        let ch = client.connect(instant(0), client_config.clone(), p0.client, p0.server, SERVER_NAME)?;
        let sample_period = ms_to_nanos(s.sample_interval_ms);
        let competitors = (0..s.competing.len()).map(|k| Competitor::new(s, k, seed)).collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            s,
            seed,
            now: 0,
            end: (s.duration_s * SEC as f64).round() as Nanos,
            net: Network::new(s, seed),
            client,
            server,
            ch,
            sh: None,
            client_app: ClientApp::new(plan(&s.workload)),
            server_app: ServerApp::new(&s.workload),
            client_iface: 0,
            migrations: 0,
            client_config,
            reconnects: 0,
            reconnects_0rtt_accepted: 0,
            reconnected: false,
            counters: vec![PathCounters::default(); s.paths.len()],
            seen: BTreeMap::new(),
            series: s.paths.iter().map(|p| PathSeries { name: p.name.clone(), samples: Vec::new() }).collect(),
            next_sample: 0,
            sample_period,
            handshake_done: None,
            opened: s.paths.iter().enumerate().map(|(i, _)| i == 0).collect(),
            confirmed: false,
            error: None,
            buf: Vec::with_capacity(64 * 1024),
            datagrams_sent: 0,
            client_touched: false,
            server_touched: false,
            client_app_due: true,
            server_app_due: true,
            competitors,
            window_open: None,
            window_close: None,
        })
    }

    fn run(mut self) -> Result<RunOutput, RunError> {
        let mut same_instant = 0u32;
        loop {
            self.drive_apps();
            self.flush();
            self.drain_events();
            self.track_window();
            if self.error.is_some() || self.workload_done() {
                break;
            }
            self.failover();
            // A deadline still at or before `now` after it was handled and the endpoint polled is
            // one proto cannot act on yet (e.g. an ACK or MTU probe held back by the
            // anti-amplification limit of an unvalidated path): it waits for the next other event
            // instead of spinning at this instant.
            let now = self.now;
            let pending = |t: Option<Instant>| t.map(sim_time).filter(|&t| t > now || same_instant == 0);
            // proto's deadlines, asked once here; asked again below only of an endpoint that a
            // datagram reached in between (nothing else touches it).
            let client_timeout = self.client.poll_timeout();
            let server_timeout = self.server.poll_timeout();
            self.client_touched = false;
            self.server_touched = false;
            let competing = self
                .competitors
                .iter_mut()
                .flat_map(|c| c.timeouts().into_iter().map(pending).chain([c.wakeup()]))
                .flatten()
                .min();
            let next = [
                competing,
                self.net.next_time(),
                pending(client_timeout),
                pending(server_timeout),
                self.client_app.next_wakeup(),
                self.server_app.next_wakeup(),
                self.server_app.datagrams_finished_at().map(|t| t + SEC),
                Some(self.next_sample),
            ]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(self.end)
            .max(self.now);
            if next > self.end {
                self.now = self.end;
                break;
            }
            if next == self.now {
                same_instant += 1;
                if same_instant > 100_000 {
                    if std::env::var_os("MPQUIC_SIM_DEBUG").is_some() {
                        eprintln!(
                            "stuck: net {:?} client {:?} server {:?} apps {:?} {:?} sample {}",
                            self.net.next_time(),
                            self.client.poll_timeout().map(sim_time),
                            self.server.poll_timeout().map(sim_time),
                            self.client_app.next_wakeup(),
                            self.server_app.next_wakeup(),
                            self.next_sample
                        );
                    }
                    return Err(RunError::Stuck { at_s: self.now as f64 / 1e9 });
                }
            } else {
                same_instant = 0;
            }
            self.now = next;
            if self.now >= self.next_sample {
                self.sample();
                self.next_sample += self.sample_period;
            }
            while let Some(d) = self.net.poll(self.now) {
                if let Some(d) = d {
                    self.deliver(d);
                }
            }
            for c in &mut self.competitors {
                c.handle_timeouts(self.now);
            }
            let t = instant(self.now);
            let client_timeout = if self.client_touched { self.client.poll_timeout() } else { client_timeout };
            if client_timeout.is_some_and(|x| x <= t) {
                self.client.handle_timeout(t);
                self.client_app_due = true;
            }
            let server_timeout = if self.server_touched { self.server.poll_timeout() } else { server_timeout };
            if server_timeout.is_some_and(|x| x <= t) {
                self.server.handle_timeout(t);
                self.server_app_due = true;
            }
        }
        self.sample();
        if self.window_open.is_some() && self.window_close.is_none() {
            let bytes = self.competitors.iter().map(Competitor::bytes_received).collect();
            self.window_close = Some((self.now, self.client_app.bytes_received(), bytes));
        }
        Ok(self.finish())
    }

    /// Stream workloads: every response read. Datagram flows: every datagram sent, and either all
    /// arrived or one second passed since the last was sent (the rest are lost).
    fn workload_done(&self) -> bool {
        match self.s.workload {
            Workload::Datagrams { count, .. } => self
                .server_app
                .datagrams_finished_at()
                .is_some_and(|t| self.client_app.datagrams.received >= u64::from(count) || self.now >= t + SEC),
            _ => self.client_app.all_done(),
        }
    }

    /// The shared window opens when the last competing flow starts and closes when the first
    /// flow (the connection or a competitor) completes; the run's end closes it otherwise.
    fn track_window(&mut self) {
        if self.competitors.is_empty() || self.window_close.is_some() {
            return;
        }
        let snapshot = |sim: &Self| {
            (sim.now, sim.client_app.bytes_received(), sim.competitors.iter().map(Competitor::bytes_received).collect())
        };
        let latest_start = self.competitors.iter().map(Competitor::start).max().unwrap_or(0);
        if self.window_open.is_none() && self.now >= latest_start {
            self.window_open = Some(snapshot(self));
        }
        if self.window_open.is_some()
            && (self.workload_done() || self.competitors.iter().any(Competitor::done) || self.now >= self.end)
        {
            self.window_close = Some(snapshot(self));
        }
    }

    fn drive_apps(&mut self) {
        for c in &mut self.competitors {
            c.drive(self.now);
        }
        let wakes = |t: Option<Nanos>| t.is_some_and(|t| t <= self.now);
        if std::mem::take(&mut self.client_app_due) || wakes(self.client_app.next_wakeup()) {
            if let Some(conn) = self.client.connection(self.ch) {
                self.client_app.drive(self.now, conn);
            }
        }
        if let Some(h) = self.server.accept() {
            if self.sh.is_some() {
                // A reconnect: the new connection's streams start again at 0.
                self.server_app = ServerApp::new(&self.s.workload);
            }
            self.sh = Some(h);
            self.server_app_due = true;
        }
        if std::mem::take(&mut self.server_app_due) || wakes(self.server_app.next_wakeup()) {
            if let Some(conn) = self.sh.and_then(|sh| self.server.connection(sh)) {
                self.server_app.drive(self.now, conn);
            }
        }
    }

    fn drain_events(&mut self) {
        while let Some((h, e)) = self.client.poll_event() {
            self.client_app_due = true;
            match e {
                Event::Connected if h == self.ch => {
                    self.handshake_done.get_or_insert(self.now);
                    let status = self.client.connection(self.ch).map(|c| c.zero_rtt());
                    if self.reconnected && matches!(status, Some(mpquic_proto::ZeroRttStatus::Accepted { .. })) {
                        self.reconnects_0rtt_accepted += 1;
                    }
                }
                Event::HandshakeConfirmed if h == self.ch => self.confirmed = true,
                // A connection closed by a reconnect ends without failing the run.
                Event::ConnectionLost(err) if h == self.ch => self.error = Some(format!("client: {err}")),
                _ => {}
            }
        }
        while let Some((h, e)) = self.server.poll_event() {
            self.server_app_due = true;
            if let Event::ConnectionLost(err) = e {
                if self.reconnects == 0 || Some(h) == self.sh {
                    self.error.get_or_insert(format!("server: {err}"));
                }
            }
        }
    }

    /// Single-path mode: when the interface in use goes down, the client's OS moves the socket
    /// to the next working one (the server sees RFC 9000 §9 migration).
    fn failover(&mut self) {
        if multipath(self.s) {
            self.open_paths();
            return;
        }
        if self.net.path_up(self.client_iface) {
            return;
        }
        if let Some(next) = (0..self.s.paths.len()).find(|&p| p != self.client_iface && self.net.path_up(p)) {
            if self.s.transport.reconnect {
                self.reconnect(next);
                return;
            }
            self.client_iface = next;
            self.migrations += 1;
            // A receiver may have nothing to send for a long time; a real client pings after
            // rebinding so the server learns the new address (RFC 9000 §9.2).
            if let Some(conn) = self.client.connection(self.ch) {
                conn.ping();
            }
        }
    }

    /// `transport.reconnect`: closes the connection (its CONNECTION_CLOSE leaves on the dead
    /// interface) and connects from interface `next`, resuming the session; the open requests go
    /// out again, in 0-RTT when the ticket allows it (RFC 9001 §4.6).
    fn reconnect(&mut self, next: usize) {
        if let Some(conn) = self.client.connection(self.ch) {
            conn.close(
                instant(self.now),
                mpquic_proto::VarInt::from_u32(0),
                bytes::Bytes::from_static(b"interface down"),
            );
        }
        self.flush();
        self.client_iface = next;
        let p = &self.s.paths[next];
        match self.client.connect(instant(self.now), self.client_config.clone(), p.client, p.server, SERVER_NAME) {
            Ok(ch) => {
                self.ch = ch;
                self.reconnects += 1;
                self.reconnected = true;
                self.confirmed = false;
                self.client_app.reconnect();
                self.client_app_due = true;
            }
            Err(e) => self.error = Some(format!("client: reconnecting: {e}")),
        }
    }

    /// Multipath: the client opens a path per scenario path once the handshake is confirmed
    /// (RFC 10069 §3.1); an attempt that finds no CID yet is retried.
    fn open_paths(&mut self) {
        if !self.confirmed || self.opened.iter().all(|&o| o) {
            return;
        }
        let now = instant(self.now);
        let Some(conn) = self.client.connection(self.ch) else { return };
        for (i, p) in self.s.paths.iter().enumerate() {
            if !self.opened[i] && conn.open_path(now, Some(p.client), p.server).is_ok() {
                self.opened[i] = true;
            }
        }
    }

    /// The scenario path of a client transmit: with multipath, the path whose client address is
    /// the source; otherwise the interface in use.
    fn client_path(&self, t: &Transmit) -> usize {
        if multipath(self.s) {
            if let Some(src) = t.src {
                if let Some(i) = self.s.paths.iter().position(|p| p.client == src && p.server == t.dst) {
                    return i;
                }
            }
        }
        self.client_iface
    }

    /// The scenario path of a server transmit: the path whose client address is the destination,
    /// preferring one whose server address is the source.
    fn server_path(&self, t: &Transmit) -> Option<usize> {
        let paths = &self.s.paths;
        paths
            .iter()
            .position(|p| p.client == t.dst && t.src.is_none_or(|s| s == p.server))
            .or_else(|| paths.iter().position(|p| p.client == t.dst))
    }

    fn flush(&mut self) {
        for c in &mut self.competitors {
            c.flush(self.now, &mut self.net);
        }
        let now = instant(self.now);
        for from_client in [true, false] {
            loop {
                self.buf.clear();
                let ep = if from_client { &mut self.client } else { &mut self.server };
                let Some(t) = ep.poll_transmit(now, &mut self.buf) else { break };
                let (path, src, direction) = if from_client {
                    let p = self.client_path(&t);
                    (p, self.s.paths[p].client, Direction::Up)
                } else {
                    match self.server_path(&t) {
                        Some(p) => (p, t.src.unwrap_or(self.s.paths[p].server), Direction::Down),
                        None => continue, // no route to that address: dropped
                    }
                };
                for data in super::datagrams_of(&self.buf, &t) {
                    self.datagrams_sent += 1;
                    let c = &mut self.counters[path];
                    if from_client {
                        c.sent_up += data.len() as u64;
                    } else {
                        c.sent_down += data.len() as u64;
                    }
                    self.net.send(self.now, Datagram { direction, path, src, dst: t.dst, ecn: t.ecn, data });
                }
            }
        }
    }

    fn deliver(&mut self, d: Datagram) {
        if let Some(c) = self.competitors.iter_mut().find(|c| c.owns(&d)) {
            c.deliver(self.now, d);
            return;
        }
        let now = instant(self.now);
        match d.direction {
            Direction::Up => {
                self.server_touched = true;
                self.server_app_due = true;
                self.server.handle_datagram(now, d.dst, d.src, d.ecn, d.data)
            }
            Direction::Down => {
                self.client_touched = true;
                self.client_app_due = true;
                self.counters[d.path].delivered_down += d.data.len() as u64;
                self.client.handle_datagram(now, d.dst, d.src, d.ecn, d.data)
            }
        }
    }

    /// Scenario path of a server-side path, by the client address it sends to.
    fn scenario_path_of(&self, remote: SocketAddr) -> Option<usize> {
        self.s.paths.iter().position(|p| p.client == remote)
    }

    fn sample(&mut self) {
        let time_s = self.now as f64 / 1e9;
        let mut rows: Vec<PathSample> = self
            .counters
            .iter()
            .map(|c| PathSample { time_s, bytes_delivered: c.delivered_down, ..PathSample::default() })
            .collect();
        let infos = self.sh.and_then(|h| self.server.connection_ref(h)).map(|c| c.paths()).unwrap_or_default();
        for info in infos {
            let Some(p) = self.scenario_path_of(info.remote) else { continue };
            let row = &mut rows[p];
            row.active = true;
            row.cwnd_bytes = info.congestion_window;
            row.srtt_ms = info.smoothed_rtt.as_secs_f64() * 1e3;
            row.bytes_in_flight = info.bytes_in_flight;
            let seen = self.seen.entry(info.id).or_default();
            let c = &mut self.counters[p];
            c.packets_lost += info.stats.packets_lost.saturating_sub(seen.packets_lost);
            c.bytes_lost += info.stats.bytes_lost.saturating_sub(seen.bytes_lost);
            c.congestion_events += info.stats.congestion_events.saturating_sub(seen.congestion_events);
            c.congestion_window_restarts +=
                info.stats.congestion_window_restarts.saturating_sub(seen.congestion_window_restarts);
            *seen = SeenStats {
                packets_lost: info.stats.packets_lost,
                bytes_lost: info.stats.bytes_lost,
                congestion_events: info.stats.congestion_events,
                congestion_window_restarts: info.stats.congestion_window_restarts,
            };
        }
        for (series, mut row) in self.series.iter_mut().zip(rows) {
            if let Some(prev) = series.samples.last() {
                if prev.time_s == time_s {
                    continue;
                }
                let dt = time_s - prev.time_s;
                row.goodput_mbps = (row.bytes_delivered - prev.bytes_delivered) as f64 * 8.0 / dt / 1e6;
            }
            series.samples.push(row);
        }
    }

    fn finish(self) -> RunOutput {
        let records = &self.client_app.records;
        let planned = plan(&self.s.workload).len();
        let requests = request_summary(records, planned, &self.s.workload);
        let app_bytes: u64 = records.iter().map(|r| r.bytes).sum();
        let datagrams = match self.s.workload {
            Workload::Datagrams { count, .. } => {
                let d = self.client_app.datagrams;
                Some(DatagramSummary {
                    sent: u64::from(count),
                    received: d.received,
                    mean_delay_ms: if d.received > 0 { d.delay_sum_ns as f64 / d.received as f64 / 1e6 } else { 0.0 },
                    max_delay_ms: d.delay_max_ns as f64 / 1e6,
                })
            }
            _ => None,
        };
        let completed = self.error.is_none() && self.workload_done();
        let completion_time_s = completed.then(|| self.now as f64 / 1e9);
        let simulated_s = self.now as f64 / 1e9;
        let useful_bytes = app_bytes + datagrams.as_ref().map_or(0, |_| self.client_app.datagrams.bytes);
        let goodput_mbps = if simulated_s > 0.0 { useful_bytes as f64 * 8.0 / simulated_s / 1e6 } else { 0.0 };
        let paths = self
            .s
            .paths
            .iter()
            .zip(&self.counters)
            .map(|(p, c)| PathSummary {
                name: p.name.clone(),
                bytes_sent_down: c.sent_down,
                bytes_sent_up: c.sent_up,
                bytes_delivered_down: c.delivered_down,
                packets_lost: c.packets_lost,
                bytes_lost: c.bytes_lost,
                congestion_events: c.congestion_events,
                congestion_window_restarts: c.congestion_window_restarts,
                mean_goodput_mbps: if simulated_s > 0.0 {
                    c.delivered_down as f64 * 8.0 / simulated_s / 1e6
                } else {
                    0.0
                },
            })
            .collect();
        let links = self.net.links.iter().map(|l| LinkSummary { name: l.name.clone(), stats: l.stats }).collect();
        let error = self.error.clone().or_else(|| {
            (!completed).then(|| {
                format!(
                    "time limit of {} s reached with {} of {} requests complete",
                    self.s.duration_s,
                    records.iter().filter(|r| r.completed_ns.is_some()).count(),
                    planned
                )
            })
        });
        let summary = RunSummary {
            label: self.s.name.clone(),
            seed: self.seed,
            paths_defined: self.s.paths.len(),
            multipath_used: multipath(self.s),
            completed,
            error,
            handshake_ms: self.handshake_done.map(|t| t as f64 / 1e6),
            completion_time_s,
            simulated_s,
            app_bytes_received: app_bytes,
            app_bytes_corrupt: records.iter().map(|r| r.corrupt_bytes).sum(),
            goodput_mbps,
            requests,
            datagrams,
            paths,
            links,
            migrations: self.migrations,
            reconnects: self.reconnects,
            reconnects_0rtt_accepted: self.reconnects_0rtt_accepted,
            longest_delivery_gap_ms: self.client_app.gaps.longest_ns as f64 / 1e6,
            longest_delivery_gap_end_s: self.client_app.gaps.longest_end_ns as f64 / 1e9,
            competing: Vec::new(),
            shared_window: None,
            emulator: None,
        };
        let mut summary = summary;
        if let (Some((t0, b0, c0)), Some((t1, b1, c1))) = (&self.window_open, &self.window_close) {
            let secs = t1.saturating_sub(*t0) as f64 / 1e9;
            let rate = |bytes: u64| if secs > 0.0 { bytes as f64 * 8.0 / secs / 1e6 } else { 0.0 };
            let rates: Vec<f64> = c0.iter().zip(c1).map(|(a, b)| rate(b.saturating_sub(*a))).collect();
            let goodput = rate(b1.saturating_sub(*b0));
            let mean = rates.iter().sum::<f64>() / rates.len().max(1) as f64;
            summary.shared_window = Some(SharedWindow {
                start_s: *t0 as f64 / 1e9,
                end_s: *t1 as f64 / 1e9,
                goodput_mbps: goodput,
                ratio_to_competing: (mean > 0.0).then(|| goodput / mean),
            });
            summary.competing = self.competitors.iter().zip(&rates).map(|(c, &r)| c.summary(self.now, r)).collect();
        } else {
            summary.competing = self.competitors.iter().map(|c| c.summary(self.now, 0.0)).collect();
        }
        RunOutput { summary, series: self.series, qlog_files: Vec::new(), datagrams_sent: self.datagrams_sent }
    }
}
