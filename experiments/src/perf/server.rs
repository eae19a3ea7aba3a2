//! `mpquic perf server`: answers perf requests on every `--listen` address until interrupted.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::Context as _;
use bytes::Bytes;
use clap::Args;
use mpquic_io::{Connection, Endpoint, RecvStream, SendStream, WriteError};
use mpquic_proto::VarInt;

use super::{Pacer, Request, ALPN, UNTIL_STOPPED};
use crate::hq::{shutdown_signal, CommonArgs, ListenArgs};

/// Size of the shared payload buffer the server sends slices of.
const PAYLOAD_CHUNK: usize = 1 << 20;

/// `mpquic perf server`.
#[derive(Debug, Clone, Args)]
pub struct PerfServerArgs {
    #[command(flatten)]
    pub listen: ListenArgs,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Counters of the whole server, printed when it stops.
#[derive(Debug, Default)]
struct Totals {
    connections: AtomicU64,
    failed_handshakes: AtomicU64,
    bytes_sent: AtomicU64,
    bytes_received: AtomicU64,
}

/// Runs the server until Ctrl-C or SIGTERM.
pub async fn run_server(args: PerfServerArgs) -> anyhow::Result<()> {
    args.common.init()?;
    let (ep, _cert_files) = args.listen.endpoint(&args.common, ALPN, "mpquic-perf", "perf server ")?;
    let totals = Arc::new(Totals::default());
    let payload = Bytes::from(vec![0x5a; PAYLOAD_CHUNK]);
    tokio::spawn(accept_loop(ep.clone(), totals.clone(), payload));
    shutdown_signal().await?;
    ep.close(VarInt::from_u32(0), b"server shutting down");
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), ep.wait_idle()).await;
    say!(
        "perf server: {} connections ({} handshakes failed), {} bytes sent, {} bytes received",
        totals.connections.load(Ordering::Relaxed),
        totals.failed_handshakes.load(Ordering::Relaxed),
        totals.bytes_sent.load(Ordering::Relaxed),
        totals.bytes_received.load(Ordering::Relaxed)
    );
    Ok(())
}

async fn accept_loop(ep: Endpoint, totals: Arc<Totals>, payload: Bytes) {
    while let Some(connecting) = ep.accept().await {
        let (totals, payload) = (totals.clone(), payload.clone());
        tokio::spawn(async move {
            let remote = connecting.remote_address();
            match connecting.await {
                Ok(conn) => {
                    totals.connections.fetch_add(1, Ordering::Relaxed);
                    serve_connection(conn, totals, payload).await;
                }
                Err(e) => {
                    totals.failed_handshakes.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(?remote, error = %e, "handshake failed");
                }
            }
        });
    }
}

async fn serve_connection(conn: Connection, totals: Arc<Totals>, payload: Bytes) {
    loop {
        match conn.accept_bi().await {
            Ok((send, recv)) => {
                let (totals, payload) = (totals.clone(), payload.clone());
                tokio::spawn(async move {
                    if let Err(e) = serve_stream(send, recv, &totals, payload).await {
                        tracing::info!(error = %e, "perf stream failed");
                    }
                });
            }
            Err(e) => {
                tracing::info!(remote = %conn.remote_address(), error = %e, "connection ended");
                return;
            }
        }
    }
}

async fn serve_stream(
    mut send: SendStream,
    mut recv: RecvStream,
    totals: &Totals,
    payload: Bytes,
) -> anyhow::Result<()> {
    // The request, then everything else the client sends (its upload) up to FIN.
    let mut head = Vec::with_capacity(Request::LEN);
    let mut received = 0u64;
    while let Some(chunk) = recv.read_chunk(usize::MAX).await.context("receiving")? {
        let take = (Request::LEN - head.len()).min(chunk.len());
        head.extend_from_slice(&chunk[..take]);
        received += (chunk.len() - take) as u64;
    }
    totals.bytes_received.fetch_add(received, Ordering::Relaxed);
    let Some(request) = Request::decode(&head) else {
        send.reset(VarInt::from_u32(1)).ok();
        anyhow::bail!("the stream ended after {} bytes, before a whole request", head.len());
    };
    send.write_all(&received.to_be_bytes()).await.context("answering")?;
    let mut pacer = Pacer::new(request.rate_bps);
    let mut left = request.download;
    while left > 0 {
        let n = pacer.next_len(PAYLOAD_CHUNK).min(usize::try_from(left).unwrap_or(usize::MAX));
        pacer.admit(n).await;
        match send.write_chunk(payload.slice(..n)).await {
            Ok(()) => {}
            // A `--duration` client stops the stream when its time is up.
            Err(WriteError::Stopped(_)) if request.download == UNTIL_STOPPED => return Ok(()),
            Err(e) => return Err(e).context("sending"),
        }
        totals.bytes_sent.fetch_add(n as u64, Ordering::Relaxed);
        if request.download != UNTIL_STOPPED {
            left -= n as u64;
        }
    }
    send.finish().context("finishing the stream")?;
    // Keep the stream until the client has everything.
    let _ = send.stopped().await;
    Ok(())
}
