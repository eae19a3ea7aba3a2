//! `mpquic server`: serves the files under `--root` over hq-interop on every `--listen` address.

use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context as _};
use clap::Args;
use mpquic_io::{Connection, Endpoint, RecvStream, SendStream};
use mpquic_proto::{quic_crypto_provider, server_config_for_quic};
use mpquic_proto::{ServerConfig, VarInt};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::file_io::FileReader;
use super::{print_path_stats, CommonArgs, PathRecorder, ALPN};

/// Application error code on a stream whose request was refused (bad request, path outside
/// the root, file missing).
const REQUEST_REFUSED: u32 = 0x10;
/// Longest request line accepted.
const MAX_REQUEST_BYTES: usize = 8 * 1024;

/// `mpquic server`: serve files over hq-interop.
#[derive(Debug, Clone, Args)]
pub struct ServerArgs {
    #[command(flatten)]
    pub listen: ListenArgs,
    /// Directory whose files are served; requests for paths outside it are refused.
    #[arg(long, value_name = "DIR")]
    pub root: PathBuf,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Where and as whom a server listens: options of `mpquic server` and `mpquic perf server`.
#[derive(Debug, Clone, Args)]
pub struct ListenArgs {
    /// Address to listen on (IPv4 `0.0.0.0:4433` or IPv6 `[::]:4433`); repeat for several (a
    /// multipath client's paths may reach any of them).
    #[arg(long, value_name = "ADDR", required = true)]
    pub listen: Vec<SocketAddr>,
    /// Certificate chain (PEM). Without --cert/--key a self-signed certificate for localhost
    /// and the listen addresses is made and written to the system temporary directory
    /// (clients: --ca FILE, or --insecure).
    #[arg(long, value_name = "PEM", requires = "key")]
    pub cert: Option<PathBuf>,
    /// Private key (PEM) of --cert.
    #[arg(long, value_name = "PEM", requires = "cert")]
    pub key: Option<PathBuf>,
    /// Paths per connection the server allows (multipath, RFC 10069 initial_max_path_id + 1;
    /// always offered).
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_paths: u32,
    /// Refuse 0-RTT (RFC 9001 §4.6): tickets no longer offer early data, and a client resuming
    /// an older ticket gets its early data rejected (it sends it again in 1-RTT). 0-RTT is
    /// accepted by default, with single-use tickets against replay (RFC 8446 §8.1).
    #[arg(long = "no-0rtt")]
    pub no_0rtt: bool,
}

impl ListenArgs {
    /// One server endpoint on every `--listen` address (a connection's paths may reach any of
    /// them) for `alpn`, with the certificate of `--cert`/`--key` or a self-signed one whose
    /// files are named after `cert_prefix` (removed when the returned guard is dropped); prints
    /// a line per address, starting with `label`.
    pub(crate) fn endpoint(
        &self,
        common: &CommonArgs,
        alpn: &[u8],
        cert_prefix: &str,
        label: &str,
    ) -> anyhow::Result<(Endpoint, CertFiles)> {
        let (chain, key, files) = match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => {
                let (chain, key) = load_cert(cert, key)?;
                (chain, key, CertFiles(Vec::new()))
            }
            _ => self_signed(&self.listen, cert_prefix)?,
        };
        let mut tls = server_config_for_quic(Arc::new(quic_crypto_provider()), chain, key, vec![alpn.to_vec()])
            .context("building the TLS configuration")?;
        if let Some(log) = common.key_log()? {
            tls.key_log = log;
        }
        if self.no_0rtt {
            tls.max_early_data_size = 0;
        }
        let mut config = ServerConfig::new(Arc::new(tls));
        config.zero_rtt = !self.no_0rtt;
        // Multipath (RFC 10069) is always offered; it is used when the client offers it too.
        let qlog = common.qlog()?;
        if let Some(dir) = &common.qlog {
            say!("qlog traces of every connection in {}", dir.display());
        }
        config.transport = common.transport(Some(self.max_paths), qlog.as_ref())?;
        let ep = Endpoint::server_on(config, &self.listen).with_context(|| {
            format!("listening on {}", self.listen.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(", "))
        })?;
        let caps = ep.socket_capabilities();
        for addr in ep.local_addrs() {
            say!(
                "{label}listening on {addr} (GSO {} segments, GRO {}, ECN {}, PKTINFO {}; cc {}, scheduler {})",
                caps.max_gso_segments,
                caps.gro,
                caps.ecn,
                caps.pktinfo,
                common.cc,
                common.scheduler
            );
        }
        Ok((ep, files))
    }
}

/// The PEM files of a self-signed certificate (for clients' `--ca`), removed when dropped: the
/// server keeps it until it stops (Ctrl-C or SIGTERM; a SIGKILL leaves them behind).
#[derive(Debug)]
pub(crate) struct CertFiles(Vec<PathBuf>);

impl Drop for CertFiles {
    fn drop(&mut self) {
        for f in &self.0 {
            let _ = std::fs::remove_file(f);
        }
    }
}

/// Ctrl-C or SIGTERM (what `kill` and benchmark drivers send): how a server is stopped.
pub(crate) async fn shutdown_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("waiting for SIGTERM")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("waiting for Ctrl-C"),
        _ = term.recv() => Ok(()),
    }
}

/// Runs the server until Ctrl-C or SIGTERM.
pub async fn run_server(args: ServerArgs) -> anyhow::Result<()> {
    args.common.init()?;
    let root = args.root.canonicalize().with_context(|| format!("--root {}", args.root.display()))?;
    if !root.is_dir() {
        bail!("--root {} is not a directory", root.display());
    }
    let (ep, _cert_files) = args.listen.endpoint(&args.common, ALPN, "mpquic-server", "")?;
    let root = Arc::new(root);
    tokio::spawn(accept_loop(ep.clone(), root.clone()));
    say!("serving {}", root.display());
    shutdown_signal().await?;
    ep.close(VarInt::from_u32(0), b"server shutting down");
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), ep.wait_idle()).await;
    Ok(())
}

pub(crate) fn load_cert(
    cert: &Path,
    key: &Path,
) -> anyhow::Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
    let chain = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("--cert {}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("--cert {}: not a PEM certificate chain", cert.display()))?;
    if chain.is_empty() {
        bail!("--cert {}: no certificate in the file", cert.display());
    }
    let key =
        PrivateKeyDer::from_pem_file(key).with_context(|| format!("--key {}: no PEM private key", key.display()))?;
    Ok((chain, key))
}

/// A self-signed certificate for localhost and the listen addresses, written as PEM so that
/// clients can trust it with `--ca`.
pub(crate) fn self_signed(
    listen: &[SocketAddr],
    prefix: &str,
) -> anyhow::Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>, CertFiles)> {
    let mut names = vec!["localhost".to_string(), "127.0.0.1".into(), "::1".into()];
    for a in listen {
        if !a.ip().is_unspecified() && !names.contains(&a.ip().to_string()) {
            names.push(a.ip().to_string());
        }
    }
    let cert = rcgen::generate_simple_self_signed(names.clone()).context("making a self-signed certificate")?;
    let dir = std::env::temp_dir();
    let cert_path = dir.join(format!("{prefix}-{}-cert.pem", std::process::id()));
    let key_path = dir.join(format!("{prefix}-{}-key.pem", std::process::id()));
    let files = CertFiles(vec![cert_path.clone(), key_path.clone()]);
    std::fs::write(&cert_path, cert.cert.pem()).with_context(|| format!("writing {}", cert_path.display()))?;
    std::fs::write(&key_path, cert.signing_key.serialize_pem())
        .with_context(|| format!("writing {}", key_path.display()))?;
    say!(
        "no --cert given: self-signed certificate for {} written to {} (key {}); clients: --ca {}",
        names.join(", "),
        cert_path.display(),
        key_path.display(),
        cert_path.display()
    );
    let chain = vec![CertificateDer::from(cert.cert.der().to_vec())];
    let key = PrivateKeyDer::try_from(cert.signing_key.serialize_der()).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok((chain, key, files))
}

async fn accept_loop(ep: Endpoint, root: Arc<PathBuf>) {
    while let Some(connecting) = ep.accept().await {
        let root = root.clone();
        tokio::spawn(async move {
            let remote = connecting.remote_address();
            match connecting.await {
                Ok(conn) => {
                    tracing::info!(?remote, "connection established");
                    serve_connection(conn, root).await;
                }
                Err(e) => tracing::info!(?remote, error = %e, "handshake failed"),
            }
        });
    }
}

async fn serve_connection(conn: Connection, root: Arc<PathBuf>) {
    let remote = conn.remote_address();
    let recorder = PathRecorder::start(&conn);
    loop {
        match conn.accept_bi().await {
            Ok((send, recv)) => {
                let root = root.clone();
                tokio::spawn(async move {
                    if let Err(e) = serve_stream(send, recv, &root).await {
                        tracing::info!(error = %e, "request failed");
                    }
                });
            }
            Err(e) => {
                tracing::info!(error = %e, "connection ended");
                print_path_stats(&format!("connection from {remote} ended ({e})"), &recorder.paths());
                return;
            }
        }
    }
}

async fn serve_stream(mut send: SendStream, mut recv: RecvStream, root: &Path) -> anyhow::Result<()> {
    let request = read_request(&mut recv).await?;
    let path = match parse_request(&request).and_then(|p| resolve(root, p)) {
        Ok(p) => p,
        Err(e) => {
            let _ = send.reset(VarInt::from_u32(REQUEST_REFUSED));
            return Err(e);
        }
    };
    let mut file = match FileReader::open(&path) {
        Ok(f) => f,
        Err(e) => {
            let _ = send.reset(VarInt::from_u32(REQUEST_REFUSED));
            bail!("{}: {e}", path.display());
        }
    };
    let mut sent = 0u64;
    while let Some(chunk) = file.next().await {
        let chunk = chunk.with_context(|| format!("reading {}", path.display()))?;
        sent += chunk.len() as u64;
        send.write_chunk(chunk).await.context("sending")?;
    }
    send.finish().context("finishing the stream")?;
    tracing::info!(path = %path.display(), bytes = sent, "served");
    // Keep the stream until the peer has everything, so that the connection is not dropped early.
    let _ = send.stopped().await;
    Ok(())
}

/// Reads the request line: up to CRLF or the end of the stream.
async fn read_request(recv: &mut RecvStream) -> anyhow::Result<Vec<u8>> {
    let mut request = Vec::new();
    while !request.ends_with(b"\r\n") && !request.ends_with(b"\n") {
        match recv.read_chunk(MAX_REQUEST_BYTES - request.len()).await? {
            Some(chunk) => request.extend_from_slice(&chunk),
            None => break,
        }
        if request.len() >= MAX_REQUEST_BYTES {
            bail!("request longer than {MAX_REQUEST_BYTES} bytes");
        }
    }
    Ok(request)
}

/// The path of `GET /path\r\n`.
fn parse_request(request: &[u8]) -> anyhow::Result<&str> {
    let line = std::str::from_utf8(request).context("request is not UTF-8")?.trim_end_matches(['\r', '\n']);
    let path = line.strip_prefix("GET ").with_context(|| format!("not a GET request: {line:?}"))?;
    if !path.starts_with('/') {
        bail!("request path must start with '/': {path:?}");
    }
    Ok(path)
}

/// The file under `root` a request path names; refuses paths that would leave the root
/// (`..`, absolute components, symbolic links pointing outside).
fn resolve(root: &Path, request_path: &str) -> anyhow::Result<PathBuf> {
    let relative = request_path.trim_start_matches('/');
    let relative = relative.split(['?', '#']).next().unwrap_or("");
    let mut path = root.to_path_buf();
    for component in Path::new(relative).components() {
        match component {
            Component::Normal(c) => path.push(c),
            Component::CurDir => {}
            _ => bail!("refused: {request_path:?} leaves the root"),
        }
    }
    if path == root || relative.is_empty() {
        path.push("index.html");
    }
    let canonical = path.canonicalize().with_context(|| format!("not found: {request_path}"))?;
    if !canonical.starts_with(root) {
        bail!("refused: {request_path:?} leaves the root");
    }
    if !canonical.is_file() {
        bail!("not a file: {request_path}");
    }
    Ok(canonical)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_parsed_and_confined_to_the_root() {
        let dir = std::env::temp_dir().join(format!("mpquic-hq-test-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("sub/a.txt"), b"a").unwrap();
        std::fs::write(dir.join("index.html"), b"i").unwrap();
        let root = dir.canonicalize().unwrap();
        assert_eq!(parse_request(b"GET /sub/a.txt\r\n").unwrap(), "/sub/a.txt");
        assert!(parse_request(b"PUT /x\r\n").is_err());
        assert!(parse_request(b"GET x\r\n").is_err());
        assert_eq!(resolve(&root, "/sub/a.txt").unwrap(), root.join("sub/a.txt"));
        assert_eq!(resolve(&root, "/").unwrap(), root.join("index.html"));
        assert_eq!(resolve(&root, "/./sub/./a.txt").unwrap(), root.join("sub/a.txt"));
        for bad in ["/../etc/passwd", "/sub/../../x", "//etc/passwd", "/missing", "/sub"] {
            assert!(resolve(&root, bad).is_err(), "{bad}");
        }
        #[cfg(unix)]
        {
            let link = root.join("escape");
            let _ = std::os::unix::fs::symlink("/etc", &link);
            assert!(resolve(&root, "/escape/hostname").is_err(), "symlinks may not leave the root");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
