//! The quinn 0.11 side of the side-by-side benchmark: a perf server and client that speak the
//! `mpquic perf` protocol (see `mpquic_experiments`' binary, `perf/mod.rs`: a 16-byte request,
//! an 8-byte answer, then the bytes) with quinn, so that `scripts/bench-vs-quinn.sh` can run
//! both stacks the same way, each in its own processes. It can also talk to `mpquic perf`.
//!
//! ```text
//! quinn_perf server --listen 127.0.0.1:4433
//! quinn_perf client 127.0.0.1:4433 --bytes 1073741824 [--upload] [--json]
//! ```
//!
//! Settings match `mpquic perf`'s defaults: one bidirectional stream, a current-thread tokio
//! runtime, 16 MiB stream and 64 MiB connection receive windows, CUBIC, MTU discovery on (quinn's
//! default), the fixed test certificate of `mpquic_experiments::tls` (ALPN `perf`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use bytes::Bytes;
use clap::{Parser, Subcommand};
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};

const ALPN: &[u8] = b"perf";
const CHUNK: usize = 1 << 20;

#[derive(Debug, Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Answer perf requests until killed.
    Server {
        #[arg(long)]
        listen: SocketAddr,
    },
    /// One connection, one stream: download (or upload) --bytes.
    Client {
        server: SocketAddr,
        #[arg(long)]
        bytes: u64,
        #[arg(long)]
        upload: bool,
        #[arg(long)]
        json: bool,
    },
}

fn transport() -> Arc<quinn::TransportConfig> {
    let mut t = quinn::TransportConfig::default();
    t.stream_receive_window(quinn::VarInt::from_u32(16 << 20));
    t.receive_window(quinn::VarInt::from_u32(64 << 20));
    t.send_window(64 << 20);
    t.congestion_controller_factory(Arc::new(quinn::congestion::CubicConfig::default()));
    Arc::new(t)
}

fn tls() -> anyhow::Result<(rustls::ServerConfig, rustls::ClientConfig)> {
    let pair = mpquic_experiments::tls::tls_pair()?;
    let mut server = (*pair.server).clone();
    server.alpn_protocols = vec![ALPN.to_vec()];
    let mut client = (*pair.client).clone();
    client.alpn_protocols = vec![ALPN.to_vec()];
    Ok((server, client))
}

fn cpu_time() -> Duration {
    use nix::sys::resource::{getrusage, UsageWho};
    getrusage(UsageWho::RUSAGE_SELF).map_or(Duration::ZERO, |u| {
        let tv = |t: nix::sys::time::TimeVal| Duration::new(t.tv_sec() as u64, t.tv_usec() as u32 * 1000);
        tv(u.user_time()) + tv(u.system_time())
    })
}

async fn server(listen: SocketAddr) -> anyhow::Result<()> {
    let (tls, _) = tls()?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(QuicServerConfig::try_from(tls)?));
    config.transport_config(transport());
    let ep = quinn::Endpoint::server(config, listen)?;
    println!("quinn perf server listening on {}", ep.local_addr()?);
    let payload = Bytes::from(vec![0x5a; CHUNK]);
    while let Some(incoming) = ep.accept().await {
        let payload = payload.clone();
        tokio::spawn(async move {
            let Ok(conn) = incoming.await else { return };
            while let Ok((send, recv)) = conn.accept_bi().await {
                let payload = payload.clone();
                tokio::spawn(async move {
                    if let Err(e) = serve_stream(send, recv, payload).await {
                        eprintln!("stream failed: {e:#}");
                    }
                });
            }
        });
    }
    Ok(())
}

async fn serve_stream(mut send: quinn::SendStream, mut recv: quinn::RecvStream, payload: Bytes) -> anyhow::Result<()> {
    let mut head = Vec::with_capacity(16);
    let mut received = 0u64;
    while let Some(chunk) = recv.read_chunk(usize::MAX, true).await? {
        let take = (16 - head.len()).min(chunk.bytes.len());
        head.extend_from_slice(&chunk.bytes[..take]);
        received += (chunk.bytes.len() - take) as u64;
    }
    if head.len() < 16 {
        bail!("short request");
    }
    let download = u64::from_be_bytes(head[..8].try_into()?);
    send.write_all(&received.to_be_bytes()).await?;
    let mut left = download;
    while left > 0 {
        let n = left.min(CHUNK as u64) as usize;
        if send.write_chunk(payload.slice(..n)).await.is_err() {
            return Ok(()); // stopped by the client
        }
        if download != u64::MAX {
            left -= n as u64;
        }
    }
    send.finish()?;
    let _ = send.stopped().await;
    Ok(())
}

async fn client(server: SocketAddr, bytes: u64, upload: bool, json: bool) -> anyhow::Result<()> {
    let (_, tls) = tls()?;
    let mut config = quinn::ClientConfig::new(Arc::new(QuicClientConfig::try_from(tls)?));
    config.transport_config(transport());
    let bind: SocketAddr = if server.is_ipv6() { "[::]:0".parse()? } else { "0.0.0.0:0".parse()? };
    let ep = quinn::Endpoint::client(bind)?;
    let cpu0 = cpu_time();
    let t0 = Instant::now();
    let conn = ep.connect_with(config, server, mpquic_experiments::tls::SERVER_NAME)?.await?;
    let handshake_ms = t0.elapsed().as_secs_f64() * 1e3;
    let t1 = Instant::now();
    let (mut send, mut recv) = conn.open_bi().await?;
    let mut request = [0u8; 16];
    request[..8].copy_from_slice(&(if upload { 0 } else { bytes }).to_be_bytes());
    send.write_all(&request).await?;
    let moved = if upload {
        let payload = Bytes::from(vec![0xa5; CHUNK]);
        let mut left = bytes;
        while left > 0 {
            let n = left.min(CHUNK as u64) as usize;
            send.write_chunk(payload.slice(..n)).await?;
            left -= n as u64;
        }
        send.finish()?;
        let answer = recv.read_to_end(64).await?;
        let got = u64::from_be_bytes(answer.get(..8).context("short answer")?.try_into()?);
        if got != bytes {
            bail!("the server received {got} of {bytes} bytes");
        }
        got
    } else {
        send.finish()?;
        let mut got = 0u64;
        while let Some(chunk) = recv.read_chunk(usize::MAX, true).await? {
            got += chunk.bytes.len() as u64;
        }
        let got = got.saturating_sub(8);
        if got != bytes {
            bail!("received {got} of {bytes} bytes");
        }
        got
    };
    let seconds = t1.elapsed().as_secs_f64();
    conn.close(0u32.into(), b"done");
    ep.wait_idle().await;
    let cpu = (cpu_time() - cpu0).as_secs_f64();
    let goodput_bps = moved as f64 * 8.0 / seconds;
    if json {
        println!(
            "{}",
            serde_json::json!({
                "direction": if upload { "upload" } else { "download" },
                "bytes": moved,
                "seconds": seconds,
                "goodput_bps": goodput_bps,
                "handshake_ms_median": handshake_ms,
                "cpu_seconds": cpu,
                "cpu_s_per_gib": cpu / (moved as f64 / (1u64 << 30) as f64),
                "completed": 1,
                "errors": 0,
            })
        );
    } else {
        println!("quinn: {moved} bytes in {seconds:.3} s = {:.2} Gbit/s; client CPU {cpu:.2} s", goodput_bps / 1e9);
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    match Cli::parse().command {
        Command::Server { listen } => rt.block_on(server(listen)),
        Command::Client { server: addr, bytes, upload, json } => rt.block_on(client(addr, bytes, upload, json)),
    }
}
