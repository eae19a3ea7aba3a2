//! Scenario files: the TOML schema of an experiment (topology, timeline, workload, transport,
//! limits), its parsing, and its validation with errors that name the offending field.
//!
//! The format is documented for users in `experiments/SCENARIOS.md`; every struct here mirrors a
//! table of that document. Parsing rejects unknown keys (a typo is an error, not a silent
//! default), and [`Scenario::validate`] checks what serde cannot: ranges, references between
//! tables, and consistency.

mod span;
mod validate;
mod workload;

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use span::{line_at, line_of};
pub use validate::{ValidationError, COMPARE_PROTOCOLS};
pub use workload::Workload;

/// Why a scenario could not be loaded.
#[derive(Debug, Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("cannot read scenario file {path}: {error}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        error: std::io::Error,
    },
    /// The TOML is malformed, or a key has the wrong type, or is unknown (the message names the
    /// line, the key and the allowed values).
    #[error("{origin}: {message}")]
    Parse {
        /// File name or `<builtin>`.
        origin: String,
        /// toml's message, with line and column.
        message: String,
    },
    /// The values are out of range or inconsistent, or a `[workload]` key does not fit its
    /// `kind`.
    #[error("{origin}{}: {error}", line.map(|l| format!(", line {l}")).unwrap_or_default())]
    Invalid {
        /// File name or `<builtin>`.
        origin: String,
        /// Line of the field in the text (of its closest table when the field is absent).
        line: Option<usize>,
        /// The first problem found.
        error: ValidationError,
    },
}

/// One experiment: paths and their links, shared bottlenecks, a timeline, a workload and the
/// transport settings.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name, used in output file names.
    pub name: String,
    /// Free text for humans.
    #[serde(default)]
    pub description: String,
    /// Seed of the first repetition; repetition k uses `seed + k`.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// How many times to run with consecutive seeds.
    #[serde(default = "default_repetitions")]
    pub repetitions: u32,
    /// Virtual-time limit of one run, in seconds; a workload not done by then counts as failed.
    #[serde(default = "default_duration")]
    pub duration_s: f64,
    /// Period of the per-path time series, in milliseconds.
    #[serde(default = "default_sample_interval")]
    pub sample_interval_ms: f64,
    /// Also run each path alone (single-path baselines) and report the aggregation benefit.
    #[serde(default)]
    pub baselines: bool,
    /// Protocol settings.
    #[serde(default)]
    pub transport: Transport,
    /// Paths between client and server; path 0 is the initial (handshake) path.
    pub paths: Vec<PathSpec>,
    /// Links several paths cross (shared bottlenecks).
    #[serde(default)]
    pub bottlenecks: Vec<BottleneckSpec>,
    /// Other connections (each with its own client and server endpoints, single-path) that
    /// share bottleneck links with the scenario's connection.
    #[serde(default)]
    pub competing: Vec<CompetingSpec>,
    /// Timed changes to links.
    #[serde(default)]
    pub events: Vec<EventSpec>,
    /// What the application does.
    pub workload: Workload,
    /// Real mode with `--netns`: other protocols run after ours over the same emulated links.
    #[serde(default, skip_serializing_if = "CompareSpec::is_empty")]
    pub compare: CompareSpec,
}

/// `[compare]`: the baselines of `mpquic run --real --netns` (see `experiments/SCENARIOS.md`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CompareSpec {
    /// Kernel protocols: `mptcp` (every path, one subflow each) and `tcp` (the first path).
    #[serde(default)]
    pub protocols: Vec<String>,
    /// External client/server command pairs.
    #[serde(default)]
    pub external: Vec<ExternalSpec>,
}

impl CompareSpec {
    /// Nothing to compare with.
    pub fn is_empty(&self) -> bool {
        self.protocols.is_empty() && self.external.is_empty()
    }
}

/// An external peer: a server command run in the server namespace, then a client command in
/// the client namespace; the client's exit status says whether the workload completed.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExternalSpec {
    /// Name in the tables (the `protocol` of its comparison entry).
    pub name: String,
    /// Server command line (run with `sh -c`); placeholders as in SCENARIOS.md.
    pub server: String,
    /// Client command line (run with `sh -c`).
    pub client: String,
    /// Time the server gets to start listening before the client starts, ms.
    #[serde(default = "default_server_startup_ms")]
    pub server_startup_ms: f64,
}

fn default_server_startup_ms() -> f64 {
    500.0
}

fn default_seed() -> u64 {
    1
}
fn default_repetitions() -> u32 {
    1
}
fn default_duration() -> f64 {
    60.0
}
fn default_sample_interval() -> f64 {
    100.0
}

/// Transport settings of both endpoints.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Transport {
    /// Congestion controller name (`mpquic_cc::CONTROLLER_NAMES`).
    #[serde(default = "default_cc")]
    pub congestion_controller: String,
    /// The controller of the single-path baselines (`baselines = true`), when it is not
    /// `congestion_controller`: CoNEXT'17 compares multipath QUIC with OLIA against single-path
    /// QUIC with CUBIC (papers.md §1.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_congestion_controller: Option<String>,
    /// Packet scheduler name (`mpquic_scheduler::SCHEDULER_NAMES`) of multipath runs.
    #[serde(default = "default_scheduler")]
    pub scheduler: String,
    /// Use multipath (RFC 10069) when the scenario has several paths.
    #[serde(default = "default_true")]
    pub multipath: bool,
    /// Mark packets ECT(0) and react to CE.
    #[serde(default = "default_true")]
    pub ecn: bool,
    /// Connection receive window (initial_max_data), bytes; auto-tuning may grow it.
    #[serde(default)]
    pub receive_window_bytes: Option<u64>,
    /// Initial receive window of each stream (initial_max_stream_data_*), bytes; auto-tuning
    /// may grow it. The connection window grows to at least this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_receive_window_bytes: Option<u64>,
    /// Initial RTT estimate before the first sample, ms (RFC 9002: 333).
    #[serde(default)]
    pub initial_rtt_ms: Option<f64>,
    /// Path MTU discovery.
    #[serde(default = "default_true")]
    pub mtu_discovery: bool,
    /// Pace packets over the round trip (RFC 9002 §7.7). Off models a sender that sends each
    /// window as a burst, as the stacks of older papers did (Linux TCP before 4.13 without
    /// the fq qdisc, quic-go of 2017).
    #[serde(default = "default_true")]
    pub pacing: bool,
    /// Restart a path's congestion window after idle (RFC 5681 §4.1,
    /// `mpquic_proto::TransportConfig::restart_after_idle`); ECF's setup needs it.
    #[serde(default, skip_serializing_if = "core::ops::Not::not")]
    pub restart_after_idle: bool,
    /// When a multipath path counts as potentially failed (`mpquic_proto::PathFailureDetection`);
    /// unset fields keep proto's defaults.
    #[serde(default)]
    pub path_failure: PathFailure,
    /// Single-path only: when the interface in use goes down, the client does not move the
    /// connection (RFC 9000 §9 migration) but closes it and connects again from the next working
    /// interface, resuming the TLS session and sending its open requests again in 0-RTT (RFC 9001
    /// §4.6). The "reconnect" side of reconnect-versus-failover comparisons.
    #[serde(default)]
    pub reconnect: bool,
}

/// `[transport.path_failure]`: the failure detector's thresholds.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PathFailure {
    /// Multiple of the smoothed RTT in the silence that marks a path failed.
    pub rtt_factor: Option<f64>,
    /// Lower bound of that silence, ms.
    pub min_timeout_ms: Option<f64>,
    /// Consecutive PTOs that mark a path failed.
    pub consecutive_ptos: Option<u32>,
    /// Abandon a path failed this long (PATH_ABANDON on another path), s; unset: never.
    pub abandon_after_s: Option<f64>,
}

fn default_cc() -> String {
    "cubic".into()
}
fn default_scheduler() -> String {
    "minrtt".into()
}
fn default_true() -> bool {
    true
}

impl Default for Transport {
    fn default() -> Self {
        Self {
            congestion_controller: default_cc(),
            baseline_congestion_controller: None,
            scheduler: default_scheduler(),
            multipath: true,
            ecn: true,
            receive_window_bytes: None,
            stream_receive_window_bytes: None,
            initial_rtt_ms: None,
            mtu_discovery: true,
            pacing: true,
            restart_after_idle: false,
            path_failure: PathFailure::default(),
            reconnect: false,
        }
    }
}

/// One path: a client address, a server address, and a link per direction.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PathSpec {
    /// Name used in tables, CSV file names and events (`wifi`, `lte`, ...).
    pub name: String,
    /// Client address (its interface on this path).
    pub client: SocketAddr,
    /// Server address of this path.
    pub server: SocketAddr,
    /// Client to server.
    pub up: LinkSpec,
    /// Server to client.
    pub down: LinkSpec,
    /// Name of a shared bottleneck this path's traffic crosses after its own link (both
    /// directions cross the bottleneck's matching direction).
    #[serde(default)]
    pub bottleneck: Option<String>,
    /// The path starts down (e.g. the target of a handover) until an `up` event.
    #[serde(default)]
    pub starts_down: bool,
}

/// A competing flow: a second, single-path connection between its own client and server
/// endpoints, downloading `bytes` from `start_s` on, over its own access links and then a shared
/// `[[bottlenecks]]` link. It measures how a scenario's (multipath) connection shares a
/// bottleneck with a regular flow (RFC 6356 §2 goals).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CompetingSpec {
    /// Name used in the summary.
    pub name: String,
    /// The flow's client address (must differ from every path's addresses).
    pub client: SocketAddr,
    /// The flow's server address (must differ from every path's addresses).
    pub server: SocketAddr,
    /// Access link, client to server.
    pub up: LinkSpec,
    /// Access link, server to client.
    pub down: LinkSpec,
    /// The shared bottleneck the flow crosses after its access link.
    pub bottleneck: String,
    /// The flow's congestion controller (single path).
    #[serde(default = "default_competing_cc")]
    pub congestion_controller: String,
    /// Size of the flow's download.
    pub bytes: u64,
    /// When the flow's client connects, seconds after the start of the run.
    #[serde(default)]
    pub start_s: f64,
}

fn default_competing_cc() -> String {
    "newreno".into()
}

/// A link shared by several paths.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BottleneckSpec {
    /// Name paths refer to.
    pub name: String,
    /// Client to server direction.
    pub up: LinkSpec,
    /// Server to client direction.
    pub down: LinkSpec,
}

/// One direction of a link.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LinkSpec {
    /// Serialisation rate, Mbit/s (10^6 bit/s); 0 means unlimited.
    pub rate_mbps: f64,
    /// One-way propagation delay, ms.
    pub delay_ms: f64,
    /// Drop-tail queue limit; unlimited when absent.
    #[serde(default)]
    pub queue: Option<QueueLimit>,
    /// Bernoulli loss probability per packet (0..1).
    #[serde(default)]
    pub loss: f64,
    /// Bursty loss, instead of `loss`.
    #[serde(default)]
    pub gilbert_elliott: Option<GilbertElliott>,
    /// Uniform extra delay in [0, jitter_ms] per packet; order is kept (like a real queue).
    #[serde(default)]
    pub jitter_ms: f64,
    /// Probability that a packet is held back by `reorder_delay_ms` (and so overtaken).
    #[serde(default)]
    pub reorder: f64,
    /// Extra delay of a reordered packet, ms.
    #[serde(default = "default_reorder_delay")]
    pub reorder_delay_ms: f64,
    /// Probability that a packet arrives twice (0..1).
    #[serde(default, skip_serializing_if = "is_zero_f64")]
    pub duplicate: f64,
    /// Mark ECN-capable packets CE when more than this many packets are queued (RFC 3168 style
    /// step marking); no marking when absent.
    #[serde(default)]
    pub ecn_threshold_packets: Option<u64>,
}

fn default_reorder_delay() -> f64 {
    5.0
}

fn is_zero_f64(x: &f64) -> bool {
    *x == 0.0
}

/// A drop-tail queue limit: exactly one of the three.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct QueueLimit {
    /// Packets queued (including the one being sent).
    #[serde(default)]
    pub packets: Option<u64>,
    /// Bytes queued.
    #[serde(default)]
    pub bytes: Option<u64>,
    /// Multiple of the path's bandwidth-delay product (rate x round-trip propagation delay).
    #[serde(default)]
    pub bdp: Option<f64>,
}

/// The Gilbert-Elliott two-state loss model: a Markov chain between a good and a bad state.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GilbertElliott {
    /// Per packet probability of moving from good to bad (p).
    pub p_good_to_bad: f64,
    /// Per packet probability of moving from bad to good (r).
    pub p_bad_to_good: f64,
    /// Loss probability in the good state (1 - k).
    #[serde(default)]
    pub loss_good: f64,
    /// Loss probability in the bad state (1 - h).
    #[serde(default = "one")]
    pub loss_bad: f64,
}

fn one() -> f64 {
    1.0
}

/// Which directions of a path an event touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Both.
    #[default]
    Both,
    /// Client to server.
    Up,
    /// Server to client.
    Down,
}

/// What an event does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// The link drops everything (queued packets included).
    Down,
    /// The link forwards again.
    Up,
    /// Change rate, delay and/or loss (the fields given).
    Set,
    /// `path` goes down and `to` comes up at the same instant.
    Handover,
}

/// A timed change to a path's (or bottleneck's) links.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EventSpec {
    /// Virtual time since the start of the run, seconds.
    pub at_s: f64,
    /// What happens.
    pub action: Action,
    /// The path (or bottleneck) name.
    pub path: String,
    /// The path that comes up (handover only).
    #[serde(default)]
    pub to: Option<String>,
    /// Directions touched.
    #[serde(default)]
    pub direction: Direction,
    /// New rate, Mbit/s (`set`).
    #[serde(default)]
    pub rate_mbps: Option<f64>,
    /// New one-way delay, ms (`set`).
    #[serde(default)]
    pub delay_ms: Option<f64>,
    /// New Bernoulli loss probability (`set`).
    #[serde(default)]
    pub loss: Option<f64>,
}

impl Scenario {
    /// Parses and validates TOML text; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, ScenarioError> {
        let invalid = |error: ValidationError| ScenarioError::Invalid {
            origin: origin.to_owned(),
            line: line_of(text, &error.field),
            error,
        };
        let scenario: Scenario = toml::from_str(text).map_err(|e| match workload_error(&e) {
            Some(error) => invalid(error),
            None => ScenarioError::Parse { origin: origin.to_owned(), message: e.to_string() },
        })?;
        scenario.validate().map_err(invalid)?;
        Ok(scenario)
    }

    /// Reads, parses and validates a scenario file.
    pub fn load(path: &std::path::Path) -> Result<Self, ScenarioError> {
        let text = std::fs::read_to_string(path)
            .map_err(|error| ScenarioError::Io { path: path.display().to_string(), error })?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// The built-in demo: two heterogeneous paths (Wi-Fi-like 50 Mbit/s 10 ms, LTE-like
    /// 20 Mbit/s 30 ms), a bulk download, and the primary path failing midway.
    pub fn demo() -> Self {
        Self::from_toml(DEMO_TOML, "<builtin demo>").expect("the built-in demo is valid")
    }

    /// Index of a path by name.
    pub fn path_index(&self, name: &str) -> Option<usize> {
        self.paths.iter().position(|p| p.name == name)
    }

    /// A copy reduced to path `index` alone (a single-path baseline): other paths, events on them
    /// and handovers away from this path are dropped.
    pub fn single_path(&self, index: usize) -> Self {
        let mut s = self.clone();
        let keep = s.paths[index].name.clone();
        s.paths = vec![s.paths[index].clone()];
        s.paths[0].starts_down = false;
        s.events.retain(|e| e.path == keep && e.action != Action::Handover);
        s.competing.retain(|c| s.paths[0].bottleneck.as_ref() == Some(&c.bottleneck));
        s.baselines = false;
        if let Some(cc) = s.transport.baseline_congestion_controller.take() {
            s.transport.congestion_controller = cc;
        }
        s.name = format!("{}-only-{}", self.name, keep);
        s
    }
}

/// A `[workload]` key that does not fit the kind comes out of serde as the message of a
/// [`ValidationError`] (see `workload.rs`); this gets it back, so that it is located by its field
/// rather than at the `[workload]` header where `toml` puts it.
fn workload_error(e: &toml::de::Error) -> Option<ValidationError> {
    let rest = e.message().strip_prefix("field `workload.")?;
    let (key, problem) = rest.split_once("`: ")?;
    Some(ValidationError { field: format!("workload.{key}"), problem: problem.to_owned() })
}

/// The text of the built-in demo (also shipped as `experiments/scenarios/demo.toml`).
pub const DEMO_TOML: &str = include_str!("../../scenarios/demo.toml");
