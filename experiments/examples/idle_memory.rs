//! Memory of idle connections and idle paths on one server endpoint: starts `mpquic perf
//! server` (on 127.0.0.1 and 127.0.0.2), opens N connections to it from this process, then a
//! second path on each, and reads the server's resident set size (VmRSS of /proc/PID/status)
//! before and after each step. Reports KiB per connection and KiB per extra path.
//!
//! ```text
//! cargo build --release -p mpquic-experiments --bin mpquic --example idle_memory
//! target/release/examples/idle_memory --mpquic target/release/mpquic [--connections 1000]
//! ```
//!
//! The goals (issue "Real-network speed", part 6): at most 64 KiB per connection and 16 KiB per
//! path.

use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::Parser;
use mpquic_proto::{client_config_for_quic, quic_crypto_provider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

#[derive(Debug, Parser)]
struct Args {
    /// The `mpquic` binary.
    #[arg(long)]
    mpquic: PathBuf,
    /// Idle connections to open.
    #[arg(long, default_value_t = 1000)]
    connections: usize,
}

/// The server process, killed when dropped.
struct Server {
    child: Child,
    ca: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.ca);
        let _ = std::fs::remove_file(self.ca.to_string_lossy().replace("-cert.pem", "-key.pem"));
    }
}

fn start_server(bin: &PathBuf, port: u16) -> anyhow::Result<Server> {
    let mut child = Command::new(bin)
        .args(["perf", "server", "--listen", &format!("127.0.0.1:{port}"), "--listen", &format!("127.0.0.2:{port}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting the server")?;
    let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
    let mut ca = None;
    let mut listening = 0;
    while listening < 2 {
        let Some(Ok(line)) = lines.next() else { bail!("the server exited early") };
        if let Some(i) = line.find("--ca ") {
            ca = line[i + 5..].split_whitespace().next().map(PathBuf::from);
        }
        listening += usize::from(line.contains("listening on"));
    }
    std::thread::spawn(move || lines.for_each(drop));
    Ok(Server { child, ca: ca.context("the server named no certificate")? })
}

/// Resident set size of `pid`, KiB.
fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).context("no VmRSS")?;
    Ok(line.split_whitespace().nth(1).context("VmRSS value")?.parse()?)
}

async fn measure(args: &Args) -> anyhow::Result<()> {
    let port = std::net::UdpSocket::bind("127.0.0.1:0")?.local_addr()?.port();
    let server = start_server(&args.mpquic, port)?;
    let pid = server.child.id();
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(&server.ca)? {
        roots.add(cert?)?;
    }
    let tls = client_config_for_quic(Arc::new(quic_crypto_provider()), roots, vec![b"perf".to_vec()])?;
    let mut config = mpquic_proto::ClientConfig::new(Arc::new(tls));
    config.transport = Arc::new(mpquic_proto::TransportConfig {
        keep_alive_interval: Some(Duration::from_secs(5)),
        ..mpquic_io::multipath_transport_config(2)
    });
    let endpoint = mpquic_io::Endpoint::client("0.0.0.0:0".parse()?)?;
    let server_addr = format!("127.0.0.1:{port}").parse()?;
    // Let the server settle (its runtime, buffers, certificate) before the first reading.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let base = rss_kib(pid)?;
    let mut conns = Vec::with_capacity(args.connections);
    for i in 0..args.connections {
        let c = endpoint
            .connect_from(config.clone(), "127.0.0.1:0".parse()?, server_addr, "localhost")?
            .await
            .with_context(|| format!("connection {i}"))?;
        conns.push(c);
        if (i + 1) % 100 == 0 {
            eprintln!("{} connections open", i + 1);
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let with_conns = rss_kib(pid)?;
    let second: std::net::SocketAddr = format!("127.0.0.2:{port}").parse()?;
    for (i, c) in conns.iter().enumerate() {
        let path = c.open_path("127.0.0.1:0".parse()?, second).await.with_context(|| format!("path of {i}"))?;
        path.validated().await.with_context(|| format!("path of {i}"))?;
        if (i + 1) % 100 == 0 {
            eprintln!("{} second paths open", i + 1);
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let with_paths = rss_kib(pid)?;
    let n = args.connections as f64;
    let per_conn = (with_conns.saturating_sub(base)) as f64 / n;
    let per_path = (with_paths.saturating_sub(with_conns)) as f64 / n;
    println!("server RSS: {base} KiB idle, {with_conns} KiB with {} connections, {with_paths} KiB with a second path on each", args.connections);
    println!(
        "per idle connection: {per_conn:.1} KiB (goal <= 64): {}",
        if per_conn <= 64.0 { "met" } else { "not met" }
    );
    println!(
        "per extra idle path: {per_path:.1} KiB (goal <= 16): {}",
        if per_path <= 16.0 { "met" } else { "not met" }
    );
    for c in &conns {
        c.close(mpquic_proto::VarInt::from_u32(0), b"done");
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), endpoint.wait_idle()).await;
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(measure(&args))
}
