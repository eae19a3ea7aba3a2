//! `mpquic perf client`: one or more connections, each with one or more streams, downloading or
//! uploading a byte count or for a duration; prints goodput, handshake times, per-path bytes and
//! its own CPU cost, as a table or as one JSON object.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use bytes::Bytes;
use clap::Args;
use mpquic_io::{Connection, Endpoint, ReadError};
use mpquic_proto::{ClientConfig, VarInt};
use serde::Serialize;
use tokio::time::Instant;

use super::{cpu_time, parse_bytes, parse_rate, parse_seconds, Pacer, Request, ALPN, DONE, UNTIL_STOPPED};
use crate::hq::{bind_client_endpoint, client_tls, handshake, open_paths, parse_path_spec, CommonArgs, PathSpec};

/// A gap in a stream's progress at least this long counts as a stall.
const STALL: Duration = Duration::from_secs(1);
/// Size of the chunks an upload writes.
const UPLOAD_CHUNK: usize = 1 << 20;
/// Handshakes in progress at once (a load run with 1,000 connections starts them in waves).
const CONCURRENT_HANDSHAKES: usize = 64;
/// How long a handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Default run length when neither --bytes nor --duration is given (iperf's).
const DEFAULT_DURATION: Duration = Duration::from_secs(10);

/// `mpquic perf client`.
#[derive(Debug, Clone, Args)]
pub struct PerfClientArgs {
    /// The server: IP:PORT or HOST:PORT.
    #[arg(value_name = "ADDR")]
    pub server: String,
    /// Bytes to move per connection (k/M/G = 10^3.., Ki/Mi/Gi = 2^10..), split over its streams.
    #[arg(long, value_name = "N", value_parser = parse_bytes, conflicts_with = "duration")]
    pub bytes: Option<u64>,
    /// Move data for this many seconds instead of a byte count (default: 10 s when --bytes is
    /// not given either).
    #[arg(long, value_name = "S", value_parser = parse_seconds)]
    pub duration: Option<Duration>,
    /// Send to the server instead of receiving from it.
    #[arg(long)]
    pub upload: bool,
    /// Streams per connection, all at once.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub streams: u32,
    /// Concurrent connections (each multipath when two or more --path are given).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub connections: u32,
    /// Application sending rate of each connection, bits/s (k/M/G suffixes): a load generator.
    #[arg(long, value_name = "R", value_parser = parse_rate)]
    pub rate: Option<u64>,
    /// A path: `LOCAL_IP[:PORT][=REMOTE_ADDR][,backup]`; each flag adds one, the first carries the
    /// handshake, REMOTE_ADDR defaults to the server's, `,backup` marks it a backup path (RFC
    /// 10069 §3.2). Two or more: multipath (RFC 10069).
    #[arg(long = "path", value_name = "LOCAL_IP[:PORT][=REMOTE_ADDR][,backup]", value_parser = parse_path_spec)]
    pub paths: Vec<PathSpec>,
    /// Trust the certificates in this PEM file (the one `mpquic perf server` wrote).
    #[arg(long, value_name = "PEM", conflicts_with = "insecure")]
    pub ca: Option<PathBuf>,
    /// Do not verify the server's certificate (signatures are still checked).
    #[arg(long)]
    pub insecure: bool,
    /// Print one JSON object instead of the table (progress still goes to standard error).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Bytes on one path, summed over connections or of one connection.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PathBytes {
    /// Path ID.
    pub id: u64,
    /// UDP payload bytes the client sent on it.
    pub bytes_sent: u64,
    /// UDP payload bytes the client received on it.
    pub bytes_received: u64,
    /// Packets the client declared lost on it.
    pub packets_lost: u64,
}

/// The outcome of one connection.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ConnectionReport {
    /// 0-based index.
    pub index: u32,
    /// Every stream moved what it was asked to (or ran for the whole duration).
    pub completed: bool,
    /// Why not, if not.
    pub error: Option<String>,
    /// Application bytes moved (received when downloading, acknowledged by the server when
    /// uploading).
    pub bytes: u64,
    /// From the first stream opened to the last one done.
    pub seconds: f64,
    /// Handshake time, ms (`null` when it failed).
    pub handshake_ms: Option<f64>,
    /// Gaps of at least 1 s in a stream's progress.
    pub stalls: u32,
    /// The longest gap in any stream's progress, ms.
    pub longest_gap_ms: f64,
    /// When that gap ended, s since the client started.
    pub longest_gap_end_s: f64,
    /// Per-path bytes of this connection.
    pub paths: Vec<PathBytes>,
}

/// What `--json` prints.
#[derive(Debug, Clone, Serialize)]
pub struct PerfReport {
    /// `download` or `upload`.
    pub direction: &'static str,
    /// The server address.
    pub server: String,
    /// Congestion controller.
    pub cc: String,
    /// Packet scheduler.
    pub scheduler: String,
    /// Connections asked for.
    pub connections: u32,
    /// Streams per connection.
    pub streams: u32,
    /// Paths per connection asked for.
    pub paths_per_connection: usize,
    /// Bytes asked for per connection (`null` in duration mode).
    pub bytes_requested: Option<u64>,
    /// Duration asked for, s (`null` in byte mode).
    pub duration_s: Option<f64>,
    /// Rate cap per connection, bits/s.
    pub rate_bps: Option<u64>,
    /// Application bytes moved, all connections.
    pub bytes: u64,
    /// Transfer time: first stream opened to last stream done.
    pub seconds: f64,
    /// bytes x 8 / seconds.
    pub goodput_bps: f64,
    /// Median handshake time, ms.
    pub handshake_ms_median: Option<f64>,
    /// Longest handshake time, ms.
    pub handshake_ms_max: Option<f64>,
    /// CPU (user + system) this client process used, s.
    pub cpu_seconds: f64,
    /// cpu_seconds per GiB moved.
    pub cpu_s_per_gib: Option<f64>,
    /// Connections that completed.
    pub completed: u32,
    /// Connections that failed.
    pub errors: u32,
    /// Stalls over all connections.
    pub stalls: u32,
    /// Per-path bytes summed over connections, by path ID.
    pub paths: Vec<PathBytes>,
    /// Each connection.
    pub per_connection: Vec<ConnectionReport>,
}

/// What one stream moved.
#[derive(Debug, Default)]
struct StreamOutcome {
    bytes: u64,
    stalls: u32,
    longest_gap: Duration,
    /// When the longest gap ended.
    longest_gap_end: Option<Instant>,
}

/// Progress of a stream: stalls and the longest gap between two steps.
#[derive(Debug)]
struct Progress {
    last: Instant,
    outcome: StreamOutcome,
    total: Arc<AtomicU64>,
}

impl Progress {
    fn new(total: Arc<AtomicU64>) -> Self {
        Self { last: Instant::now(), outcome: StreamOutcome::default(), total }
    }

    fn step(&mut self, bytes: usize) {
        let now = Instant::now();
        let gap = now - self.last;
        if gap >= STALL {
            self.outcome.stalls += 1;
        }
        if gap > self.outcome.longest_gap {
            self.outcome.longest_gap = gap;
            self.outcome.longest_gap_end = Some(now);
        }
        self.last = now;
        self.outcome.bytes += bytes as u64;
        self.total.fetch_add(bytes as u64, Ordering::Relaxed);
    }
}

/// Shared by every connection of a run.
#[derive(Debug)]
struct Plan {
    config: ClientConfig,
    host: String,
    addr: std::net::SocketAddr,
    paths: Vec<PathSpec>,
    upload: bool,
    streams: u32,
    /// Per connection; `None` in duration mode.
    bytes: Option<u64>,
    deadline_after: Option<Duration>,
    rate_bps: Option<u64>,
    payload: Bytes,
    moved: Arc<AtomicU64>,
    up: AtomicUsize,
    /// When the client started.
    started: Instant,
}

/// Runs the client; fails unless every connection completed.
pub async fn run_client(args: PerfClientArgs) -> anyhow::Result<()> {
    args.common.init()?;
    let (host, port) = split_host_port(&args.server)?;
    let addr = tokio::net::lookup_host((host.as_str(), port))
        .await
        .with_context(|| format!("resolving {host}"))?
        .next()
        .with_context(|| format!("{host} has no address"))?;
    let qlog = args.common.qlog()?;
    let tls = client_tls(args.ca.as_deref(), args.insecure, ALPN, args.common.key_log()?)?;
    let mut config = ClientConfig::new(Arc::new(tls));
    let multipath = (args.paths.len() > 1).then(|| (args.paths.len() as u32).max(crate::hq::MIN_MAX_PATHS));
    config.transport = args.common.transport(multipath, qlog.as_ref())?;
    let duration = match args.bytes {
        Some(_) => None,
        None => Some(args.duration.unwrap_or(DEFAULT_DURATION)),
    };
    let endpoint = bind_client_endpoint(&args.paths, addr)?;
    let plan = Arc::new(Plan {
        config,
        host: host.clone(),
        addr,
        paths: args.paths.clone(),
        upload: args.upload,
        streams: args.streams,
        bytes: args.bytes,
        deadline_after: duration,
        rate_bps: args.rate,
        payload: Bytes::from(vec![0xa5; UPLOAD_CHUNK]),
        moved: Arc::new(AtomicU64::new(0)),
        up: AtomicUsize::new(0),
        started: Instant::now(),
    });
    if !args.json {
        say!(
            "perf {} {} x {} stream(s) {} {addr}, {}{}, cc {}, scheduler {}",
            if args.upload { "upload:" } else { "download:" },
            plural(args.connections, "connection"),
            args.streams,
            if args.upload { "to" } else { "from" },
            match (args.bytes, duration) {
                (Some(b), _) => format!("{b} bytes per connection"),
                (None, Some(d)) => format!("{:.1} s", d.as_secs_f64()),
                _ => String::new(),
            },
            args.rate.map_or_else(String::new, |r| format!(", at most {} per connection", rate_text(r as f64))),
            args.common.cc,
            args.common.scheduler,
        );
    }

    let cpu0 = cpu_time();
    let started = Instant::now();
    let handshakes = Arc::new(tokio::sync::Semaphore::new(CONCURRENT_HANDSHAKES));
    let reporter = tokio::spawn(report_progress(plan.clone(), args.connections));
    let mut tasks = Vec::new();
    for index in 0..args.connections {
        let (plan, endpoint, handshakes) = (plan.clone(), endpoint.clone(), handshakes.clone());
        tasks.push(tokio::spawn(async move { run_connection(index, &plan, &endpoint, &handshakes).await }));
    }
    let mut reports = Vec::new();
    for (index, t) in tasks.into_iter().enumerate() {
        reports.push(t.await.unwrap_or_else(|e| ConnectionReport {
            index: index as u32,
            error: Some(format!("connection task panicked: {e}")),
            ..ConnectionReport::default()
        }));
    }
    reporter.abort();
    let _ = tokio::time::timeout(Duration::from_secs(1), endpoint.wait_idle()).await;
    let cpu = (cpu_time() - cpu0).as_secs_f64();
    let wall = started.elapsed().as_secs_f64();

    let report = summarize(&args, &plan, duration, reports, cpu, wall);
    if args.json {
        say!("{}", serde_json::to_string_pretty(&report).context("encoding the report")?);
    } else {
        print_table(&report);
    }
    if let Some(q) = &qlog {
        if let Some(e) = q.error() {
            bail!("qlog: {e}");
        }
    }
    if report.errors > 0 {
        let first = report.per_connection.iter().find_map(|c| c.error.clone()).unwrap_or_default();
        bail!("{} of {} connections failed; the first: {first}", report.errors, report.connections);
    }
    Ok(())
}

/// `HOST:PORT`, `IP:PORT` or `[IPv6]:PORT`.
fn split_host_port(s: &str) -> anyhow::Result<(String, u16)> {
    if let Ok(a) = s.parse::<std::net::SocketAddr>() {
        return Ok((a.ip().to_string(), a.port()));
    }
    let (host, port) = s.rsplit_once(':').with_context(|| format!("{s:?}: give the server as HOST:PORT"))?;
    let port = port.parse().with_context(|| format!("{s:?}: bad port {port:?}"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        bail!("{s:?}: no host");
    }
    Ok((host.to_string(), port))
}

/// Handshake, paths, streams, statistics of one connection; the connection is closed at the end.
async fn run_connection(
    index: u32,
    plan: &Plan,
    endpoint: &Endpoint,
    handshakes: &tokio::sync::Semaphore,
) -> ConnectionReport {
    let mut report = ConnectionReport { index, ..ConnectionReport::default() };
    let conn = {
        let _permit = handshakes.acquire().await;
        let t0 = Instant::now();
        let first = plan.paths.first();
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake(endpoint, &plan.config, &plan.host, plan.addr, first))
            .await
        {
            Ok(Ok(conn)) => {
                report.handshake_ms = Some(t0.elapsed().as_secs_f64() * 1e3);
                conn
            }
            Ok(Err(e)) => {
                report.error = Some(format!("{e:#}"));
                return report;
            }
            Err(_) => {
                report.error = Some(format!("handshake with {} timed out after {HANDSHAKE_TIMEOUT:?}", plan.addr));
                return report;
            }
        }
    };
    if let Err(e) = open_paths(&conn, &plan.paths, plan.addr).await {
        report.error = Some(format!("{e:#}"));
        conn.close(VarInt::from_u32(0), b"path failed");
        return report;
    }
    plan.up.fetch_add(1, Ordering::Relaxed);
    let t0 = Instant::now();
    let deadline = plan.deadline_after.map(|d| t0 + d);
    let mut streams = Vec::new();
    for s in 0..plan.streams {
        let share = plan.bytes.map(|b| b / u64::from(plan.streams) + u64::from(s == 0) * (b % u64::from(plan.streams)));
        let rate = plan.rate_bps.map(|r| (r / u64::from(plan.streams)).max(1));
        let (conn, payload, moved, upload) = (conn.clone(), plan.payload.clone(), plan.moved.clone(), plan.upload);
        streams.push(tokio::spawn(async move {
            let progress = Progress::new(moved);
            if upload {
                upload_stream(&conn, share, deadline, rate, payload, progress).await
            } else {
                download_stream(&conn, share, deadline, rate, progress).await
            }
        }));
    }
    for s in streams {
        match s.await {
            Ok(Ok(o)) => {
                report.bytes += o.bytes;
                report.stalls += o.stalls;
                let gap_ms = o.longest_gap.as_secs_f64() * 1e3;
                if gap_ms > report.longest_gap_ms {
                    report.longest_gap_ms = gap_ms;
                    report.longest_gap_end_s = o.longest_gap_end.map_or(0.0, |t| (t - plan.started).as_secs_f64());
                }
            }
            Ok(Err(e)) => {
                report.error.get_or_insert_with(|| format!("{e:#}"));
            }
            Err(e) => {
                report.error.get_or_insert_with(|| format!("stream task panicked: {e}"));
            }
        }
    }
    report.seconds = t0.elapsed().as_secs_f64();
    report.completed = report.error.is_none();
    report.paths = conn
        .paths()
        .into_iter()
        .map(|p| PathBytes {
            id: u64::from(p.id.0),
            bytes_sent: p.stats.bytes_sent,
            bytes_received: p.stats.bytes_received,
            packets_lost: p.stats.packets_lost,
        })
        .collect();
    conn.close(VarInt::from_u32(0), b"done");
    report
}

fn read_error(e: ReadError) -> anyhow::Error {
    match e {
        ReadError::Reset(code) => anyhow::anyhow!("the server reset the stream (code {code:#x})"),
        e => anyhow::anyhow!("receiving: {e}"),
    }
}

/// Asks for `bytes` (or everything until `deadline`) and receives it.
async fn download_stream(
    conn: &Connection,
    bytes: Option<u64>,
    deadline: Option<Instant>,
    rate_bps: Option<u64>,
    mut progress: Progress,
) -> anyhow::Result<StreamOutcome> {
    let (mut send, mut recv) = conn.open_bi().await.context("opening a stream")?;
    let request = Request { download: bytes.unwrap_or(UNTIL_STOPPED), rate_bps: rate_bps.unwrap_or(0) };
    send.write_all(&request.encode()).await.context("sending the request")?;
    send.finish().context("finishing the request")?;
    let mut answer = 0usize;
    loop {
        let read = recv.read_chunk(usize::MAX);
        let chunk = match deadline {
            Some(d) => match tokio::time::timeout_at(d, read).await {
                Ok(r) => r,
                Err(_) => {
                    let _ = recv.stop(VarInt::from_u32(DONE));
                    return Ok(progress.outcome);
                }
            },
            None => read.await,
        };
        let Some(chunk) = chunk.map_err(read_error)? else { break };
        // The first 8 bytes are the server's count of what it received (nothing, here).
        let skip = (8 - answer).min(chunk.len());
        answer += skip;
        progress.step(chunk.len() - skip);
    }
    if answer < 8 {
        bail!("the server's answer ended after {answer} bytes");
    }
    if let Some(b) = bytes {
        if progress.outcome.bytes != b {
            bail!("received {} bytes of {b}", progress.outcome.bytes);
        }
    } else if deadline.is_some() {
        bail!("the server ended a timed download early, after {} bytes", progress.outcome.bytes);
    }
    Ok(progress.outcome)
}

/// Sends `bytes` (or until `deadline`), then waits for the server to confirm what it received.
async fn upload_stream(
    conn: &Connection,
    bytes: Option<u64>,
    deadline: Option<Instant>,
    rate_bps: Option<u64>,
    payload: Bytes,
    mut progress: Progress,
) -> anyhow::Result<StreamOutcome> {
    let (mut send, mut recv) = conn.open_bi().await.context("opening a stream")?;
    send.write_all(&Request { download: 0, rate_bps: 0 }.encode()).await.context("sending the request")?;
    let mut pacer = Pacer::new(rate_bps.unwrap_or(0));
    let mut left = bytes.unwrap_or(u64::MAX);
    let mut sent = 0u64;
    while left > 0 && deadline.is_none_or(|d| Instant::now() < d) {
        let n = pacer.next_len(UPLOAD_CHUNK).min(usize::try_from(left).unwrap_or(usize::MAX));
        pacer.admit(n).await;
        send.write_chunk(payload.slice(..n)).await.context("sending")?;
        sent += n as u64;
        left -= n as u64;
        // Progress as the stream takes data: what the server confirmed is checked at the end.
        progress.step(n);
    }
    send.finish().context("finishing the upload")?;
    let answer = recv.read_to_end(64).await.map_err(|e| anyhow::anyhow!("receiving the server's answer: {e}"))?;
    let received = answer
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_be_bytes)
        .with_context(|| format!("the server's answer was {} bytes, not 8", answer.len()))?;
    if received != sent {
        bail!("the server received {received} bytes of the {sent} sent");
    }
    Ok(progress.outcome)
}

/// Prints the goodput of every second to standard error while the run goes on.
async fn report_progress(plan: Arc<Plan>, connections: u32) {
    let start = Instant::now();
    let mut last = 0u64;
    let mut tick = tokio::time::interval_at(start + Duration::from_secs(1), Duration::from_secs(1));
    loop {
        tick.tick().await;
        let moved = plan.moved.load(Ordering::Relaxed);
        eprintln!(
            "[{:>6.1} s] {:>14}, {} bytes so far, {} of {connections} connections up",
            start.elapsed().as_secs_f64(),
            rate_text((moved - last) as f64 * 8.0),
            moved,
            plan.up.load(Ordering::Relaxed)
        );
        last = moved;
    }
}

fn summarize(
    args: &PerfClientArgs,
    plan: &Plan,
    duration: Option<Duration>,
    reports: Vec<ConnectionReport>,
    cpu: f64,
    wall: f64,
) -> PerfReport {
    let bytes: u64 = reports.iter().map(|r| r.bytes).sum();
    // Connections run side by side: the transfer time is the longest one's.
    let seconds = reports.iter().map(|r| r.seconds).fold(0.0, f64::max);
    let seconds = if seconds > 0.0 { seconds } else { wall };
    let mut handshakes: Vec<f64> = reports.iter().filter_map(|r| r.handshake_ms).collect();
    handshakes.sort_by(f64::total_cmp);
    let mut paths: BTreeMap<u64, PathBytes> = BTreeMap::new();
    for p in reports.iter().flat_map(|r| &r.paths) {
        let e = paths.entry(p.id).or_insert_with(|| PathBytes { id: p.id, ..PathBytes::default() });
        e.bytes_sent += p.bytes_sent;
        e.bytes_received += p.bytes_received;
        e.packets_lost += p.packets_lost;
    }
    let completed = reports.iter().filter(|r| r.completed).count() as u32;
    PerfReport {
        direction: if plan.upload { "upload" } else { "download" },
        server: plan.addr.to_string(),
        cc: args.common.cc.clone(),
        scheduler: args.common.scheduler.clone(),
        connections: args.connections,
        streams: args.streams,
        paths_per_connection: args.paths.len().max(1),
        bytes_requested: args.bytes,
        duration_s: duration.map(|d| d.as_secs_f64()),
        rate_bps: args.rate,
        bytes,
        seconds,
        goodput_bps: bytes as f64 * 8.0 / seconds.max(1e-9),
        handshake_ms_median: handshakes.get(handshakes.len() / 2).copied(),
        handshake_ms_max: handshakes.last().copied(),
        cpu_seconds: cpu,
        cpu_s_per_gib: (bytes > 0).then(|| cpu / (bytes as f64 / (1u64 << 30) as f64)),
        completed,
        errors: reports.len() as u32 - completed,
        stalls: reports.iter().map(|r| r.stalls).sum(),
        paths: paths.into_values().collect(),
        per_connection: reports,
    }
}

fn plural(n: u32, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// `6.93 Gbit/s`, `512.0 kbit/s`.
fn rate_text(bps: f64) -> String {
    if bps >= 1e9 {
        format!("{:.2} Gbit/s", bps / 1e9)
    } else if bps >= 1e6 {
        format!("{:.2} Mbit/s", bps / 1e6)
    } else {
        format!("{:.1} kbit/s", bps / 1e3)
    }
}

/// Connections listed one per line up to this many; beyond, only failures are.
const LISTED_CONNECTIONS: usize = 20;

fn print_table(r: &PerfReport) {
    say!(
        "{:>5} {:>13} {:>14} {:>9} {:>14} {:>7} {:>11}  result",
        "conn",
        "handshake ms",
        "bytes",
        "seconds",
        "goodput",
        "stalls",
        "max gap ms"
    );
    let listed = r.per_connection.len() <= LISTED_CONNECTIONS;
    for c in r.per_connection.iter().filter(|c| listed || !c.completed) {
        say!(
            "{:>5} {:>13} {:>14} {:>9.3} {:>14} {:>7} {:>11.1}  {}",
            c.index,
            c.handshake_ms.map_or_else(|| "-".to_string(), |h| format!("{h:.2}")),
            c.bytes,
            c.seconds,
            rate_text(c.bytes as f64 * 8.0 / c.seconds.max(1e-9)),
            c.stalls,
            c.longest_gap_ms,
            c.error.as_deref().unwrap_or("ok")
        );
    }
    say!("paths (client's UDP payload bytes, all connections):");
    say!("  {:>4} {:>14} {:>14} {:>12}", "path", "bytes sent", "bytes recv", "pkts lost");
    for p in &r.paths {
        say!("  {:>4} {:>14} {:>14} {:>12}", p.id, p.bytes_sent, p.bytes_received, p.packets_lost);
    }
    say!(
        "total: {} bytes in {:.3} s = {}; handshake median {} ms, max {} ms",
        r.bytes,
        r.seconds,
        rate_text(r.goodput_bps),
        r.handshake_ms_median.map_or_else(|| "-".into(), |h| format!("{h:.2}")),
        r.handshake_ms_max.map_or_else(|| "-".into(), |h| format!("{h:.2}")),
    );
    say!(
        "client CPU {:.2} s ({} per GiB); {} of {} connections completed, {} stalls",
        r.cpu_seconds,
        r.cpu_s_per_gib.map_or_else(|| "-".into(), |c| format!("{c:.2} s")),
        r.completed,
        r.connections,
        r.stalls
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_addresses_parse() {
        assert_eq!(split_host_port("127.0.0.1:4433").unwrap(), ("127.0.0.1".into(), 4433));
        assert_eq!(split_host_port("[::1]:443").unwrap(), ("::1".into(), 443));
        assert_eq!(split_host_port("localhost:80").unwrap(), ("localhost".into(), 80));
        assert!(split_host_port("localhost").is_err());
        assert!(split_host_port(":80").is_err());
        assert!(split_host_port("h:port").is_err());
    }
}
