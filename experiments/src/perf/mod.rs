//! `mpquic perf`: the iperf of the stack, memory to memory, in the manner of secnetperf.
//!
//! The client opens `--streams` bidirectional streams on each of `--connections` connections.
//! On each stream it sends a [`Request`] (16 bytes: how many bytes the server is to send back,
//! and the rate to send them at), then, when uploading, its data, and then FIN. The server reads
//! the whole stream, answers with the number of bytes it received (8 bytes), then sends the
//! requested bytes and FIN. So
//! - a download is `Request { download: N }` + FIN, answered by 8 + N bytes;
//! - an upload is `Request { download: 0 }` + N bytes + FIN, and the 8-byte answer, which the
//!   server sends only once it has read everything, confirms every byte arrived;
//! - `--duration` asks for [`UNTIL_STOPPED`] bytes and stops the stream (STOP_SENDING) when the
//!   time is up, or, uploading, sends until then.
//!
//! No payload touches a disk, and the server sends slices of one shared buffer: what is measured
//! is the stack.

mod client;
mod server;

use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::{Args, Subcommand};

pub use client::{run_client, PerfClientArgs};
pub use server::{run_server, PerfServerArgs};

/// ALPN of the perf protocol.
pub const ALPN: &[u8] = b"perf";

/// `download` value asking the server to send until the client stops the stream.
pub const UNTIL_STOPPED: u64 = u64::MAX;

/// Application error code the client stops a `--duration` download with.
pub const DONE: u32 = 0;

/// `mpquic perf`: memory-to-memory throughput and load.
#[derive(Debug, Args)]
pub struct PerfArgs {
    #[command(subcommand)]
    pub command: PerfCommand,
}

/// The two sides.
#[derive(Debug, Subcommand)]
pub enum PerfCommand {
    /// Answer perf clients until interrupted (Ctrl-C or SIGTERM).
    Server(PerfServerArgs),
    /// Measure: download (or upload) over one or more connections and print the result.
    Client(PerfClientArgs),
}

/// What a client asks for on one stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    /// Bytes the server sends back ([`UNTIL_STOPPED`]: until the client stops the stream).
    pub download: u64,
    /// The server's sending rate on this stream, bits per second; 0 for no limit.
    pub rate_bps: u64,
}

impl Request {
    /// Encoded length.
    pub const LEN: usize = 16;

    /// Big-endian `download`, then `rate_bps`.
    pub fn encode(&self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        out[..8].copy_from_slice(&self.download.to_be_bytes());
        out[8..].copy_from_slice(&self.rate_bps.to_be_bytes());
        out
    }

    /// Decodes the first [`Request::LEN`] bytes; `None` if there are fewer.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let download = u64::from_be_bytes(bytes.get(..8)?.try_into().ok()?);
        let rate_bps = u64::from_be_bytes(bytes.get(8..16)?.try_into().ok()?);
        Some(Self { download, rate_bps })
    }
}

/// Parses a count with an optional decimal (k, M, G, T: powers of 1000) or binary (Ki, Mi, Gi,
/// Ti: powers of 1024) suffix, and an optional unit letter `unit` after it (`B` for bytes,
/// `bit`/`b` for rates): `1G`, `64MiB`, `100k`, `2.5Mbit`.
fn parse_scaled(s: &str, units: &[&str]) -> anyhow::Result<u64> {
    let t = s.trim();
    let mut body = t;
    for u in units {
        if let Some(b) = body.strip_suffix(u) {
            body = b;
            break;
        }
    }
    let (number, factor) = [
        ("Ki", 1u64 << 10),
        ("Mi", 1 << 20),
        ("Gi", 1 << 30),
        ("Ti", 1 << 40),
        ("k", 1_000),
        ("K", 1_000),
        ("M", 1_000_000),
        ("G", 1_000_000_000),
        ("T", 1_000_000_000_000),
    ]
    .iter()
    .find_map(|(suffix, f)| body.strip_suffix(suffix).map(|n| (n, *f)))
    .unwrap_or((body, 1));
    let value: f64 = number
        .trim()
        .parse()
        .with_context(|| format!("{s:?} is not a number with an optional k/M/G/Ki/Mi/Gi suffix"))?;
    if !value.is_finite() || value < 0.0 {
        bail!("{s:?} must be a non-negative number");
    }
    let scaled = value * factor as f64;
    if scaled >= u64::MAX as f64 {
        bail!("{s:?} is too large");
    }
    Ok(scaled.round() as u64)
}

/// A byte count for `--bytes`: `1G`, `64MiB`, `1000000`.
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    match parse_scaled(s, &["B"]) {
        Ok(0) => Err("must be at least 1 byte".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("{e:#}")),
    }
}

/// A rate for `--rate`, bits per second: `100k`, `2.5M`, `1Gbit`.
pub fn parse_rate(s: &str) -> Result<u64, String> {
    match parse_scaled(s, &["bit/s", "bps", "bit", "b"]) {
        Ok(0) => Err("must be above 0 bits/s".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("{e:#}")),
    }
}

/// A duration for `--duration`, seconds (fractions allowed).
pub fn parse_seconds(s: &str) -> Result<Duration, String> {
    let secs: f64 = s.trim().trim_end_matches('s').parse().map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !secs.is_finite() || secs <= 0.0 || secs > 1e7 {
        return Err(format!("{s:?}: give a number of seconds above 0"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// CPU time (user + system) this process has used so far.
pub fn cpu_time() -> Duration {
    use nix::sys::resource::{getrusage, UsageWho};
    match getrusage(UsageWho::RUSAGE_SELF) {
        Ok(u) => {
            let tv = |t: nix::sys::time::TimeVal| Duration::new(t.tv_sec() as u64, t.tv_usec() as u32 * 1000);
            tv(u.user_time()) + tv(u.system_time())
        }
        Err(_) => Duration::ZERO,
    }
}

/// Paces writes to `rate_bps`: how long to wait before the next `len` bytes may go, given what
/// was sent since `start`.
#[derive(Debug, Clone, Copy)]
pub struct Pacer {
    start: tokio::time::Instant,
    rate_bps: u64,
    sent: u64,
}

impl Pacer {
    /// A pacer from now; `rate_bps` 0 never waits.
    pub fn new(rate_bps: u64) -> Self {
        Self { start: tokio::time::Instant::now(), rate_bps, sent: 0 }
    }

    /// How many bytes to write next: a whole `chunk`, or at a limited rate about 10 ms worth
    /// (at least one full-size datagram), so that a slow rate is smooth.
    pub fn next_len(&self, chunk: usize) -> usize {
        if self.rate_bps == 0 {
            return chunk;
        }
        ((self.rate_bps / 8 / 100) as usize).clamp(1200, chunk)
    }

    /// Waits until `len` more bytes keep the average at or under the rate, then counts them.
    pub async fn admit(&mut self, len: usize) {
        if self.rate_bps > 0 {
            let due = Duration::from_secs_f64(self.sent as f64 * 8.0 / self.rate_bps as f64);
            tokio::time::sleep_until(self.start + due).await;
        }
        self.sent += len as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip() {
        let r = Request { download: UNTIL_STOPPED, rate_bps: 100_000 };
        assert_eq!(Request::decode(&r.encode()), Some(r));
        assert_eq!(Request::decode(&r.encode()[..15]), None);
    }

    #[test]
    fn sizes_and_rates_parse() {
        assert_eq!(parse_bytes("1G").unwrap(), 1_000_000_000);
        assert_eq!(parse_bytes("64MiB").unwrap(), 64 << 20);
        assert_eq!(parse_bytes("1Gi").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("1500").unwrap(), 1500);
        assert_eq!(parse_bytes("2.5k").unwrap(), 2500);
        assert!(parse_bytes("0").is_err());
        assert!(parse_bytes("-1M").is_err());
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("99999999999T").is_err());
        assert_eq!(parse_rate("100k").unwrap(), 100_000);
        assert_eq!(parse_rate("2.5Mbit").unwrap(), 2_500_000);
        assert_eq!(parse_rate("1Gbps").unwrap(), 1_000_000_000);
        assert!(parse_rate("0").is_err());
        assert_eq!(parse_seconds("2.5").unwrap(), Duration::from_millis(2500));
        assert_eq!(parse_seconds("3s").unwrap(), Duration::from_secs(3));
        assert!(parse_seconds("0").is_err());
        assert!(parse_seconds("nan").is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn the_pacer_keeps_the_rate() {
        let mut p = Pacer::new(8_000_000); // 1 MB/s
        let t0 = tokio::time::Instant::now();
        for _ in 0..100 {
            let n = p.next_len(1 << 20);
            assert_eq!(n, 10_000);
            p.admit(n).await;
        }
        // 100 x 10 kB at 1 MB/s: the last chunk may go after 0.99 s.
        assert_eq!((tokio::time::Instant::now() - t0).as_millis(), 990);
        assert_eq!(Pacer::new(0).next_len(4096), 4096);
    }
}
