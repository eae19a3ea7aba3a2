//! Competing flows (`[[competing]]`): each is a second, single-path connection with its own
//! client and server endpoints, downloading a fixed number of bytes over its own access links and
//! a shared bottleneck. The driver in `one.rs` steps them in the same virtual time as the
//! scenario's connection; their datagrams travel on route `paths.len() + k` of the network.

use std::sync::Arc;

use mpquic_proto::{ClientConfig, ConnectionHandle, Endpoint, EndpointConfig, Event, Instant, ServerConfig};

use super::one::{instant, transport_config};
use super::RunError;
use crate::metrics::CompetingSummary;
use crate::scenario::{CompetingSpec, Scenario, Workload};
use crate::sim::{Datagram, Direction, Nanos, Network, SEC};
use crate::tls::{tls_pair, SERVER_NAME};
use crate::workload::{plan, ClientApp, ServerApp};

/// One competing flow and its two endpoints.
pub(super) struct Competitor {
    spec: CompetingSpec,
    /// Its route in the network (`paths.len() + k`).
    route: usize,
    client: Endpoint,
    server: Endpoint,
    client_config: Option<ClientConfig>,
    ch: Option<ConnectionHandle>,
    sh: Option<ConnectionHandle>,
    client_app: ClientApp,
    server_app: ServerApp,
    start: Nanos,
    error: Option<String>,
    /// UDP payload bytes delivered to the client.
    delivered_down: u64,
    buf: Vec<u8>,
}

impl Competitor {
    /// Builds competing flow `k` of `s`; its endpoints' seeds differ from the main connection's.
    pub(super) fn new(s: &Scenario, k: usize, seed: u64) -> Result<Self, RunError> {
        let spec = s.competing[k].clone();
        let tls = tls_pair()?;
        let mut t = transport_config(s)?;
        t.congestion_controller_factory = mpquic_cc::factory_by_name(&spec.congestion_controller)?;
        t.initial_max_path_id = None;
        let transport = Arc::new(t);
        let mut server_config = ServerConfig::new(tls.server);
        server_config.transport = transport.clone();
        let base = seed.wrapping_mul(0x9e37_79b9).wrapping_add(1000 * (k as u64 + 1));
        let server = Endpoint::new(Arc::new(EndpointConfig::with_seed(base + 1)), Some(Arc::new(server_config)));
        let client = Endpoint::new(Arc::new(EndpointConfig::with_seed(base + 2)), None);
        let mut client_config = ClientConfig::new(tls.client);
        client_config.transport = transport;
        let workload = Workload::Bulk { bytes: spec.bytes };
        Ok(Self {
            route: s.paths.len() + k,
            client,
            server,
            client_config: Some(client_config),
            ch: None,
            sh: None,
            client_app: ClientApp::new(plan(&workload)),
            server_app: ServerApp::new(&workload),
            start: (spec.start_s * SEC as f64).round() as Nanos,
            error: None,
            delivered_down: 0,
            buf: Vec::with_capacity(64 * 1024),
            spec,
        })
    }

    /// Connects at the start time, drives both applications and reads the endpoints' events.
    pub(super) fn drive(&mut self, now: Nanos) {
        if self.ch.is_none() && now >= self.start {
            if let Some(config) = self.client_config.take() {
                match self.client.connect(instant(now), config, self.spec.client, self.spec.server, SERVER_NAME) {
                    Ok(h) => self.ch = Some(h),
                    Err(e) => self.error = Some(format!("connect: {e}")),
                }
            }
        }
        if let Some(conn) = self.ch.and_then(|h| self.client.connection(h)) {
            self.client_app.drive(now, conn);
        }
        if self.sh.is_none() {
            self.sh = self.server.accept();
        }
        if let Some(conn) = self.sh.and_then(|h| self.server.connection(h)) {
            self.server_app.drive(now, conn);
        }
        while let Some((_, e)) = self.client.poll_event() {
            if let Event::ConnectionLost(err) = e {
                self.error.get_or_insert(format!("client: {err}"));
            }
        }
        while let Some((_, e)) = self.server.poll_event() {
            if let Event::ConnectionLost(err) = e {
                self.error.get_or_insert(format!("server: {err}"));
            }
        }
    }

    /// Puts every datagram both endpoints want to send into the network.
    pub(super) fn flush(&mut self, now: Nanos, net: &mut Network) {
        let t_now = instant(now);
        for (from_client, direction) in [(true, Direction::Up), (false, Direction::Down)] {
            loop {
                self.buf.clear();
                let ep = if from_client { &mut self.client } else { &mut self.server };
                let Some(t) = ep.poll_transmit(t_now, &mut self.buf) else { break };
                let src = if from_client { self.spec.client } else { t.src.unwrap_or(self.spec.server) };
                for data in super::datagrams_of(&self.buf, &t) {
                    net.send(now, Datagram { direction, path: self.route, src, dst: t.dst, ecn: t.ecn, data });
                }
            }
        }
    }

    /// Whether a datagram from the network belongs to this flow.
    pub(super) fn owns(&self, d: &Datagram) -> bool {
        d.path == self.route
    }

    /// Hands a datagram that reached its receiver to the right endpoint.
    pub(super) fn deliver(&mut self, now: Nanos, d: Datagram) {
        match d.direction {
            Direction::Up => self.server.handle_datagram(instant(now), d.dst, d.src, d.ecn, d.data),
            Direction::Down => {
                self.delivered_down += d.data.len() as u64;
                self.client.handle_datagram(instant(now), d.dst, d.src, d.ecn, d.data)
            }
        }
    }

    /// The endpoints' timer deadlines.
    pub(super) fn timeouts(&mut self) -> [Option<Instant>; 2] {
        [self.client.poll_timeout(), self.server.poll_timeout()]
    }

    /// When the flow next needs the driver without network input: its start.
    pub(super) fn wakeup(&self) -> Option<Nanos> {
        self.ch.is_none().then_some(self.start).filter(|_| self.client_config.is_some())
    }

    /// Fires the endpoints' timers that are due.
    pub(super) fn handle_timeouts(&mut self, now: Nanos) {
        let t = instant(now);
        if self.client.poll_timeout().is_some_and(|x| x <= t) {
            self.client.handle_timeout(t);
        }
        if self.server.poll_timeout().is_some_and(|x| x <= t) {
            self.server.handle_timeout(t);
        }
    }

    /// The download finished.
    pub(super) fn done(&self) -> bool {
        self.ch.is_some() && self.client_app.all_done()
    }

    /// Response bytes the application received so far.
    pub(super) fn bytes_received(&self) -> u64 {
        self.client_app.bytes_received()
    }

    /// The flow's start time, ns since the run began.
    pub(super) fn start(&self) -> Nanos {
        self.start
    }

    /// The flow's summary at the end of a run of `simulated` ns.
    pub(super) fn summary(&self, simulated: Nanos, window_goodput_mbps: f64) -> CompetingSummary {
        let completed_ns = self.client_app.records.first().and_then(|r| r.completed_ns);
        let end = completed_ns.unwrap_or(simulated);
        let active_s = end.saturating_sub(self.start) as f64 / 1e9;
        let bytes = self.bytes_received();
        CompetingSummary {
            name: self.spec.name.clone(),
            congestion_controller: self.spec.congestion_controller.clone(),
            completed: completed_ns.is_some() && self.error.is_none(),
            error: self.error.clone(),
            start_s: self.start as f64 / 1e9,
            completion_time_s: completed_ns.map(|c| c.saturating_sub(self.start) as f64 / 1e9),
            app_bytes_received: bytes,
            bytes_delivered_down: self.delivered_down,
            goodput_mbps: if active_s > 0.0 { bytes as f64 * 8.0 / active_s / 1e6 } else { 0.0 },
            window_goodput_mbps,
        }
    }
}
