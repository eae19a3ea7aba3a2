//! `mpquic client` and `mpquic server`: file transfer over hq-interop (HTTP/0.9 over QUIC, ALPN
//! `hq-interop`, as in the QUIC interop runner): the client sends `GET /path\r\n` on a
//! bidirectional stream and the server answers with the file's bytes and a FIN.
//!
//! Options shared by both commands are in [`CommonArgs`].

mod client;
mod file_io;
mod server;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Args;
use mpquic_experiments::qlog::{Hex, QlogFactory};
use mpquic_proto::TransportConfig;

pub(crate) use client::{
    bind_client_endpoint, client_tls, handshake, open_paths, parse_path_spec, PathSpec, MIN_MAX_PATHS,
};
pub use client::{run_client, ClientArgs};
pub use server::{run_server, ServerArgs};
pub(crate) use server::{shutdown_signal, ListenArgs};

/// ALPN of hq-interop.
pub const ALPN: &[u8] = b"hq-interop";

/// Options of both commands.
#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    /// Write a qlog trace of every connection into DIR (created if needed), one JSON-SEQ file
    /// per connection: `<original destination CID>_<client|server>.sqlog`, every packet with
    /// its frames and the multipath path ID of each event.
    #[arg(long, value_name = "DIR")]
    pub qlog: Option<PathBuf>,
    /// Append TLS secrets to FILE in the SSLKEYLOGFILE format (for Wireshark).
    #[arg(long, value_name = "FILE")]
    pub keylog: Option<PathBuf>,
    /// Congestion controller for every path: cubic (the default, as in quinn and Linux), newreno,
    /// bbr, lia, olia or balia; newreno+hystart and cubic+hystart leave slow start by HyStart++
    /// (RFC 9406); olia-mpquic and cubic-quicgo behave like the CoNEXT'17 paper's stacks.
    #[arg(long, value_name = "NAME", default_value = "cubic")]
    pub cc: String,
    /// Packet scheduler of multipath connections: minrtt, roundrobin, weighted:W1,W2,...,
    /// redundant, backup, blest, ecf or minrtt+reinject.
    #[arg(long, value_name = "NAME", default_value = "minrtt")]
    pub scheduler: String,
    /// Send every window as one burst instead of pacing it over the round trip (RFC 9002 §7.7),
    /// for experiments on pacing itself.
    #[arg(long)]
    pub no_pacing: bool,
    /// More logging: -v info, -vv debug, -vvv trace (RUST_LOG, if set, wins).
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

impl CommonArgs {
    /// Sets up logging and checks the options that need no I/O.
    pub fn init(&self) -> anyhow::Result<()> {
        let level = match self.verbose {
            0 => "warn",
            1 => "info",
            2 => "debug",
            _ => "trace",
        };
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
        let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
        Ok(())
    }

    /// The qlog factory of `--qlog`, its directory created.
    pub fn qlog(&self) -> anyhow::Result<Option<QlogFactory>> {
        let Some(dir) = &self.qlog else { return Ok(None) };
        std::fs::create_dir_all(dir).with_context(|| format!("--qlog {}: creating the directory", dir.display()))?;
        Ok(Some(QlogFactory::new(dir)))
    }

    /// Transport settings with the chosen congestion controller and scheduler; multipath
    /// (RFC 10069 initial_max_path_id) is offered for up to `max_paths` paths when given; every
    /// connection is traced by `qlog` when given.
    pub fn transport(
        &self,
        max_paths: Option<u32>,
        qlog: Option<&QlogFactory>,
    ) -> anyhow::Result<Arc<TransportConfig>> {
        let factory = mpquic_cc::factory_by_name(&self.cc).with_context(|| {
            format!("--cc {}: known controllers are {}", self.cc, mpquic_cc::CONTROLLER_NAMES.join(", "))
        })?;
        let scheduler = mpquic_scheduler::factory_by_name(&self.scheduler).with_context(|| {
            format!(
                "--scheduler {}: known schedulers are {}",
                self.scheduler,
                mpquic_scheduler::SCHEDULER_NAMES.join(", ")
            )
        })?;
        Ok(Arc::new(TransportConfig {
            congestion_controller_factory: factory,
            scheduler_factory: scheduler,
            initial_max_path_id: max_paths.map(|n| n.max(1) - 1),
            pacing: !self.no_pacing,
            tracer_factory: qlog.map(|q| Arc::new(q.clone()) as Arc<dyn mpquic_proto::TracerFactory>),
            ..TransportConfig::default()
        }))
    }

    /// The key log for rustls, if asked for.
    pub fn key_log(&self) -> anyhow::Result<Option<Arc<dyn rustls::KeyLog>>> {
        let Some(path) = &self.keylog else { return Ok(None) };
        Ok(Some(Arc::new(KeyLogFile::create(path)?)))
    }
}

/// Writes TLS secrets in the NSS key log format (what `SSLKEYLOGFILE` files hold).
#[derive(Debug)]
struct KeyLogFile {
    file: std::sync::Mutex<std::fs::File>,
}

impl KeyLogFile {
    fn create(path: &std::path::Path) -> anyhow::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening key log file {}", path.display()))?;
        Ok(Self { file: std::sync::Mutex::new(file) })
    }
}

impl rustls::KeyLog for KeyLogFile {
    fn log(&self, label: &str, client_random: &[u8], secret: &[u8]) {
        use std::io::Write;
        let line = format!("{label} {} {}\n", Hex(client_random), Hex(secret));
        let mut f = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = f.write_all(line.as_bytes()) {
            tracing::warn!(error = %e, "writing the key log failed");
        }
    }
}

/// Human-readable goodput.
pub(crate) fn goodput(bytes: u64, secs: f64) -> String {
    if secs <= 0.0 {
        return "-".into();
    }
    format!("{:.1} Mbit/s", bytes as f64 * 8.0 / secs / 1e6)
}

/// Prints one line per path of a connection: addresses, state and counters.
pub(crate) fn print_path_stats(label: &str, paths: &[mpquic_io::PathInfo]) {
    say!("{label}:");
    say!(
        "  {:>4} {:<22} {:<22} {:>12} {:>12} {:>9} {:>9} {:>9} {:>7} {:>11}",
        "path",
        "local",
        "remote",
        "bytes sent",
        "bytes recv",
        "pkts sent",
        "pkts recv",
        "srtt ms",
        "lost",
        "state"
    );
    for p in paths {
        let state = if p.abandoned {
            "abandoned"
        } else if p.potentially_failed {
            "failed"
        } else if p.validated {
            "validated"
        } else {
            "validating"
        };
        say!(
            "  {:>4} {:<22} {:<22} {:>12} {:>12} {:>9} {:>9} {:>9.2} {:>7} {:>11}",
            p.id.to_string(),
            p.local.map_or_else(|| "-".to_string(), |a| a.to_string()),
            p.remote.to_string(),
            p.stats.bytes_sent,
            p.stats.bytes_received,
            p.stats.packets_sent,
            p.stats.packets_received,
            p.smoothed_rtt.as_secs_f64() * 1e3,
            p.stats.packets_lost,
            state
        );
    }
}

/// Keeps the last snapshot of every path of a connection, including paths the connection has
/// since forgotten (an abandoned path is dropped 3 PTOs after PATH_ABANDON), for the statistics
/// printed at the end.
#[derive(Debug, Clone, Default)]
pub(crate) struct PathRecorder {
    seen: Arc<std::sync::Mutex<std::collections::BTreeMap<mpquic_io::PathId, mpquic_io::PathInfo>>>,
}

impl PathRecorder {
    /// Records the connection's paths every 50 ms until it ends.
    pub(crate) fn start(conn: &mpquic_io::Connection) -> Self {
        let recorder = Self::default();
        let (r, conn) = (recorder.clone(), conn.clone());
        tokio::spawn(async move {
            loop {
                r.record(&conn);
                tokio::select! {
                    _ = tokio::time::sleep(std::time::Duration::from_millis(50)) => {}
                    _ = conn.closed() => break,
                }
            }
        });
        recorder
    }

    /// Takes a snapshot now.
    pub(crate) fn record(&self, conn: &mpquic_io::Connection) {
        let paths = conn.paths();
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        for p in paths {
            seen.insert(p.id, p);
        }
    }

    /// The last snapshot of every path seen, by path ID.
    pub(crate) fn paths(&self) -> Vec<mpquic_io::PathInfo> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).values().cloned().collect()
    }
}
