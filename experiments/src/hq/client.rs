//! `mpquic client`: downloads URLs over hq-interop, each on its own stream, all at once,
//! writing bytes to disk as they arrive, and prints a summary.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use clap::Args;
use mpquic_experiments::qlog::QlogFactory;
use mpquic_io::{Connection, Endpoint};
use mpquic_proto::{client_config_for_quic, quic_crypto_provider};
use mpquic_proto::{ClientConfig, VarInt, ZeroRttStatus};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

use super::file_io::FileWriter;
use super::{goodput, print_path_stats, CommonArgs, PathRecorder, ALPN};

/// Paths a multipath client allows at least (initial_max_path_id + 1).
pub(crate) const MIN_MAX_PATHS: u32 = 8;

/// System CA bundle used when neither --ca nor --insecure is given.
const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// `mpquic client`: download files over hq-interop.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// URLs to fetch, e.g. https://localhost:4433/file.bin or `https://[::1]:4433/a`; each on its
    /// own stream, concurrently (one connection per host and port).
    #[arg(required = true, value_name = "URL")]
    pub urls: Vec<String>,
    /// Directory the files are written to (created if missing), named after the URL's path.
    #[arg(long, value_name = "DIR")]
    pub output: PathBuf,
    /// Trust the certificates in this PEM file (e.g. the one `mpquic server` wrote). Without
    /// --ca or --insecure, the system bundle /etc/ssl/certs/ca-certificates.crt is used.
    #[arg(long, value_name = "PEM", conflicts_with = "insecure")]
    pub ca: Option<PathBuf>,
    /// Do not verify the server's certificate (signatures are still checked). For tests only.
    #[arg(long)]
    pub insecure: bool,
    /// A path: `LOCAL_IP[:PORT][=REMOTE_ADDR][,backup]`, e.g. 127.0.0.2 or
    /// 10.0.1.2=192.0.2.1:4433 or `[::1]:0=[::1]:4433` or 127.0.0.2,backup (a backup path, RFC
    /// 10069 §3.2: try it with --scheduler backup). Each flag adds one; the first carries the
    /// handshake; REMOTE_ADDR
    /// defaults to the URL's address; all paths share one socket, so PORT is 0 (any) or the
    /// first path's port. With two or more, multipath (RFC 10069) is
    /// negotiated and the other paths are opened once the handshake is confirmed.
    #[arg(long = "path", value_name = "LOCAL_IP[:PORT][=REMOTE_ADDR][,backup]", value_parser = parse_path_spec)]
    pub paths: Vec<PathSpec>,
    /// After the downloads, connect this many more times, each connection resuming the TLS
    /// session of the one before and sending its requests in 0-RTT (RFC 9001 §4.6); the summary
    /// says for each whether the server accepted the early data. Session tickets stay in this
    /// process: rustls 0.23 has no way to serialize a client ticket, so they cannot be kept in
    /// a file between runs.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub resume: u32,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// One `--path` of the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathSpec {
    /// Local address (port 0: the socket's port).
    pub local: SocketAddr,
    /// Server address; `None` means the URL's.
    pub remote: Option<SocketAddr>,
    /// Marked as a backup path once open (RFC 10069 §3.2 PATH_STATUS_BACKUP): the `backup`
    /// scheduler uses it only while no available path works.
    pub backup: bool,
}

/// Parses `LOCAL_IP[:PORT][=REMOTE_ADDR][,backup]`.
pub(crate) fn parse_path_spec(s: &str) -> Result<PathSpec, String> {
    let (s, backup) = match s.split_once(',') {
        Some((spec, "backup")) => (spec, true),
        Some((_, flag)) => return Err(format!("unknown path flag {flag:?}: the only one is `backup`")),
        None => (s, false),
    };
    let (local, remote) = match s.split_once('=') {
        Some((l, r)) => (l, Some(r)),
        None => (s, None),
    };
    let local = match local.parse::<SocketAddr>() {
        Ok(a) => a,
        Err(_) => match local.trim_start_matches('[').trim_end_matches(']').parse::<std::net::IpAddr>() {
            Ok(ip) => SocketAddr::new(ip, 0),
            Err(_) => return Err(format!("{local:?} is not an IP address or IP:PORT")),
        },
    };
    let remote = remote
        .map(|r| r.parse::<SocketAddr>().map_err(|_| format!("{r:?} is not a socket address (IP:PORT)")))
        .transpose()?;
    Ok(PathSpec { local, remote, backup })
}

/// A parsed `https://host[:port]/path` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Url {
    host: String,
    port: u16,
    path: String,
}

fn parse_url(s: &str) -> anyhow::Result<Url> {
    let rest = s.strip_prefix("https://").with_context(|| format!("{s}: only https:// URLs are supported"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']').with_context(|| format!("{s}: unclosed '[' in the host"))?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().with_context(|| format!("{s}: bad port {p:?}"))?,
            None if after.is_empty() => 443,
            None => bail!("{s}: unexpected {after:?} after the IPv6 address"),
        };
        (host.to_string(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), p.parse().with_context(|| format!("{s}: bad port {p:?}"))?),
            None => (authority.to_string(), 443),
        }
    };
    if host.is_empty() {
        bail!("{s}: no host");
    }
    Ok(Url { host, port, path: path.to_string() })
}

/// The output file name of a URL path: its last segment, or `index.html`.
fn file_name(path: &str) -> String {
    let path = path.split(['?', '#']).next().unwrap_or("");
    let last = path.rsplit('/').next().unwrap_or("");
    if last.is_empty() || last == "." || last == ".." {
        "index.html".to_string()
    } else {
        last.to_string()
    }
}

/// Accepts any certificate; TLS 1.3 handshake signatures are still verified against it.
#[derive(Debug)]
struct InsecureVerifier(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for InsecureVerifier {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General("TLS 1.2 is not used by QUIC".into()))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The rustls client configuration of `--ca` / `--insecure` (else the system bundle), for
/// `alpn`, logging secrets to `key_log` when given.
pub(crate) fn client_tls(
    ca: Option<&Path>,
    insecure: bool,
    alpn: &[u8],
    key_log: Option<Arc<dyn rustls::KeyLog>>,
) -> anyhow::Result<rustls::ClientConfig> {
    let provider = Arc::new(quic_crypto_provider());
    let mut roots = rustls::RootCertStore::empty();
    let ca = ca.map(Path::to_path_buf).or_else(|| (!insecure).then(|| PathBuf::from(SYSTEM_CA_BUNDLE)));
    if let Some(ca) = &ca {
        let certs = CertificateDer::pem_file_iter(ca)
            .with_context(|| format!("--ca {}", ca.display()))?
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("--ca {}: not a PEM file", ca.display()))?;
        let (added, _) = roots.add_parsable_certificates(certs);
        if added == 0 {
            bail!("--ca {}: no usable certificate", ca.display());
        }
    }
    let mut tls = client_config_for_quic(provider.clone(), roots, vec![alpn.to_vec()])?;
    if insecure {
        tls.dangerous().set_certificate_verifier(Arc::new(InsecureVerifier(provider)));
    }
    if let Some(log) = key_log {
        tls.key_log = log;
    }
    Ok(tls)
}

fn client_config(args: &ClientArgs, qlog: Option<&QlogFactory>) -> anyhow::Result<ClientConfig> {
    let mut tls = client_tls(args.ca.as_deref(), args.insecure, ALPN, args.common.key_log()?)?;
    // RFC 9001 §5.6: early data only when asked for. hq-interop GETs are safe to replay.
    tls.enable_early_data = args.resume > 0;
    let mut config = ClientConfig::new(Arc::new(tls));
    // Multipath with room to open more paths than asked for (path IDs are never reused).
    let multipath = (args.paths.len() > 1).then(|| (args.paths.len() as u32).max(MIN_MAX_PATHS));
    config.transport = args.common.transport(multipath, qlog)?;
    Ok(config)
}

/// A connection with its path statistics, or why it could not be made.
type ConnectResult = Result<(Endpoint, Connection, PathRecorder), String>;

/// Result of one download.
struct Outcome {
    url: String,
    file: PathBuf,
    bytes: u64,
    elapsed: Duration,
    error: Option<String>,
}

/// Runs the client; an error names every download that failed.
pub async fn run_client(args: ClientArgs) -> anyhow::Result<()> {
    args.common.init()?;
    let urls = args.urls.iter().map(|u| parse_url(u)).collect::<anyhow::Result<Vec<_>>>()?;
    let qlog = args.common.qlog()?;
    let config = client_config(&args, qlog.as_ref())?;
    tokio::fs::create_dir_all(&args.output).await.with_context(|| format!("--output {}", args.output.display()))?;

    // Output names: the last path segment, made unique when several URLs share it.
    let mut used: HashMap<String, usize> = HashMap::new();
    let mut files = Vec::new();
    for u in &urls {
        let name = file_name(&u.path);
        let n = used.entry(name.clone()).or_insert(0);
        *n += 1;
        let name = if *n == 1 { name } else { format!("{name}.{}", *n - 1) };
        files.push(args.output.join(name));
    }

    let mut failed = Vec::new();
    for round in 0..=args.resume {
        if round > 0 {
            say!("resumed connection {round} of {}:", args.resume);
        }
        failed.extend(fetch_round(&args, &config, &urls, &files, round > 0).await?);
    }
    if let Some(q) = &qlog {
        for f in q.files() {
            say!("qlog trace: {}", f.display());
        }
        if let Some(e) = q.error() {
            failed.push(format!("qlog: {e}"));
        }
    }
    if !failed.is_empty() {
        let total = urls.len() * (args.resume as usize + 1);
        bail!("{} of {total} downloads failed:\n  {}", failed.len(), failed.join("\n  "));
    }
    Ok(())
}

/// One connection per host and port, every URL downloaded on it, and the summary; `early`
/// sends the requests in 0-RTT when the session resumes. Returns the failures.
async fn fetch_round(
    args: &ClientArgs,
    config: &ClientConfig,
    urls: &[Url],
    files: &[PathBuf],
    early: bool,
) -> anyhow::Result<Vec<String>> {
    let start = Instant::now();
    // One connection per (host, port).
    let mut connections: HashMap<(String, u16), ConnectResult> = HashMap::new();
    for u in urls {
        let key = (u.host.clone(), u.port);
        if connections.contains_key(&key) {
            continue;
        }
        let conn = connect(config, &u.host, u.port, &args.paths, early).await.map_err(|e| format!("{e:#}"));
        if let Err(e) = &conn {
            eprintln!("connecting to {}:{} failed: {e}", u.host, u.port);
        }
        connections.insert(key, conn);
    }

    let mut tasks = Vec::new();
    for ((u, file), original) in urls.iter().zip(files).zip(&args.urls) {
        let conn = connections.get(&(u.host.clone(), u.port)).and_then(|c| c.as_ref().ok()).map(|(_, c, _)| c.clone());
        let (url, file, path) = (original.clone(), file.clone(), u.path.clone());
        tasks.push(tokio::spawn(async move {
            let t0 = Instant::now();
            let result = match conn {
                Some(conn) => download(&conn, &path, &file).await,
                None => Err(anyhow::anyhow!("no connection to the server")),
            };
            if result.is_err() {
                // A partial file must not pass for a complete one.
                let _ = tokio::fs::remove_file(&file).await;
            }
            let (bytes, error) = match result {
                Ok(b) => (b, None),
                Err(e) => (0, Some(format!("{e:#}"))),
            };
            Outcome { url, file, bytes, elapsed: t0.elapsed(), error }
        }));
    }
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.context("download task panicked")?);
    }
    let total_elapsed = start.elapsed();
    let mut path_stats = Vec::new();
    let mut zero_rtt = Vec::new();
    for ((host, port), c) in connections.into_iter() {
        if let Ok((ep, conn, recorder)) = c {
            if early {
                // The answer to 0-RTT is known once the handshake is complete.
                let _ = tokio::time::timeout(Duration::from_secs(5), conn.handshake_complete()).await;
                zero_rtt.push((format!("{host}:{port}"), conn.zero_rtt(), conn.is_resumed()));
            }
            recorder.record(&conn);
            conn.close(VarInt::from_u32(0), b"done");
            let _ = tokio::time::timeout(Duration::from_secs(1), ep.wait_idle()).await;
            path_stats.push((format!("{host}:{port}"), recorder.paths()));
        }
    }

    let mut total = 0u64;
    let mut failed = Vec::new();
    say!("{:<40} {:>12} {:>10} {:>16}", "file", "bytes", "seconds", "goodput");
    for o in &outcomes {
        let secs = o.elapsed.as_secs_f64();
        match &o.error {
            None => {
                total += o.bytes;
                say!("{:<40} {:>12} {:>10.3} {:>16}", o.file.display(), o.bytes, secs, goodput(o.bytes, secs));
            }
            Some(e) => {
                say!("{:<40} {:>12} {:>10.3} {:>16}", o.file.display(), "FAILED", secs, "-");
                failed.push(format!("{}: {e}", o.url));
            }
        }
    }
    let secs = total_elapsed.as_secs_f64();
    say!("{:<40} {:>12} {:>10.3} {:>16}", "total", total, secs, goodput(total, secs));
    for (server, status, resumed) in &zero_rtt {
        say!("{server}: session {}, {}", if *resumed { "resumed" } else { "not resumed" }, zero_rtt_line(status));
    }
    for (server, paths) in &path_stats {
        print_path_stats(&format!("paths to {server}"), paths);
    }
    Ok(failed)
}

/// The summary line of a connection's 0-RTT, e.g. `0-RTT: accepted, 52 bytes sent early`.
fn zero_rtt_line(status: &ZeroRttStatus) -> String {
    match status {
        ZeroRttStatus::NotAttempted => "0-RTT: not attempted (no ticket allowing early data)".to_string(),
        ZeroRttStatus::Pending { bytes } => format!("0-RTT: no answer yet, {bytes} bytes sent early"),
        ZeroRttStatus::Accepted { bytes } => format!("0-RTT: accepted, {bytes} bytes sent early"),
        ZeroRttStatus::Rejected { bytes } => {
            format!("0-RTT: rejected, {bytes} bytes sent early and again in 1-RTT")
        }
    }
}

async fn connect(
    config: &ClientConfig,
    host: &str,
    port: u16,
    paths: &[PathSpec],
    early: bool,
) -> anyhow::Result<(Endpoint, Connection, PathRecorder)> {
    let addr: SocketAddr = tokio::net::lookup_host((host, port))
        .await
        .with_context(|| format!("resolving {host}"))?
        .next()
        .with_context(|| format!("{host} has no address"))?;
    let endpoint = bind_client_endpoint(paths, addr)?;
    let conn = if early {
        connect_0rtt(&endpoint, config, host, addr, paths.first()).await?
    } else {
        tokio::time::timeout(Duration::from_secs(10), handshake(&endpoint, config, host, addr, paths.first()))
            .await
            .with_context(|| format!("handshake with {addr} timed out"))??
    };
    let recorder = PathRecorder::start(&conn);
    if paths.len() > 1 {
        // RFC 10069: no path but the first before the handshake is confirmed.
        conn.handshake_complete().await.with_context(|| format!("handshake with {addr}"))?;
    }
    open_paths(&conn, paths, addr).await?;
    Ok((endpoint, conn, recorder))
}

/// The client endpoint of `--path` flags: one socket on the unspecified address (of the first
/// path's family, else the server's), so that every path's source IP is chosen per packet; port
/// 0 or the first path's.
pub(crate) fn bind_client_endpoint(paths: &[PathSpec], server: SocketAddr) -> anyhow::Result<Endpoint> {
    let first = paths.first();
    let v6 = first.map_or(server.is_ipv6(), |p| p.local.is_ipv6());
    let bind_port = first.map_or(0, |p| p.local.port());
    for p in paths.iter().skip(1) {
        if p.local.port() != 0 && p.local.port() != bind_port {
            bail!("--path {}: all paths share one socket; give port 0 or {bind_port}", p.local);
        }
    }
    let bind: SocketAddr = if v6 { ([0u16; 8], bind_port).into() } else { ([0u8; 4], bind_port).into() };
    Endpoint::client(bind).with_context(|| format!("binding {bind}"))
}

/// Connects to `server` (from `first`'s local address and to its remote, when given) and waits
/// for the handshake.
pub(crate) async fn handshake(
    endpoint: &Endpoint,
    config: &ClientConfig,
    host: &str,
    server: SocketAddr,
    first: Option<&PathSpec>,
) -> anyhow::Result<Connection> {
    let (connecting, remote0) = start_connect(endpoint, config, host, server, first)?;
    connecting.await.with_context(|| format!("handshake with {remote0}"))
}

/// Starts a connection to `server` (from `first`'s local address and to its remote, when
/// given); returns it with the address it goes to.
fn start_connect(
    endpoint: &Endpoint,
    config: &ClientConfig,
    host: &str,
    server: SocketAddr,
    first: Option<&PathSpec>,
) -> anyhow::Result<(mpquic_io::Connecting, SocketAddr)> {
    let remote0 = first.and_then(|p| p.remote).unwrap_or(server);
    let connecting = match first {
        Some(p) => endpoint.connect_from(config.clone(), p.local, remote0, host),
        None => endpoint.connect_with(config.clone(), remote0, host),
    }
    .with_context(|| format!("connecting to {remote0}"))?;
    Ok((connecting, remote0))
}

/// Connects to `server` like [`handshake`], but hands the connection over at once when it can
/// send 0-RTT (a resumed session whose ticket allows early data); otherwise waits for the
/// handshake.
pub(crate) async fn connect_0rtt(
    endpoint: &Endpoint,
    config: &ClientConfig,
    host: &str,
    server: SocketAddr,
    first: Option<&PathSpec>,
) -> anyhow::Result<Connection> {
    let (connecting, remote0) = start_connect(endpoint, config, host, server, first)?;
    match connecting.into_0rtt() {
        Ok(conn) => Ok(conn),
        Err(connecting) => tokio::time::timeout(Duration::from_secs(10), connecting)
            .await
            .with_context(|| format!("handshake with {remote0} timed out"))?
            .with_context(|| format!("handshake with {remote0}")),
    }
}

/// Opens every path after the first and waits until each is validated; marks the `,backup`
/// ones (the first path too) as backup paths.
pub(crate) async fn open_paths(conn: &Connection, paths: &[PathSpec], server: SocketAddr) -> anyhow::Result<()> {
    if paths.len() < 2 {
        if paths.first().is_some_and(|p| p.backup) {
            bail!("--path ...,backup needs two or more paths (multipath)");
        }
        return Ok(());
    }
    if !conn.is_multipath() {
        bail!("the server at {} did not negotiate multipath; cannot open more than one path", conn.remote_address());
    }
    if paths[0].backup {
        let first = conn.path(mpquic_io::PathId(0)).context("the handshake path is gone")?;
        first.set_status(true).context("marking the first path as a backup")?;
    }
    for p in &paths[1..] {
        let remote = p.remote.unwrap_or(server);
        let path =
            conn.open_path(p.local, remote).await.with_context(|| format!("opening a path {} -> {remote}", p.local))?;
        tokio::time::timeout(Duration::from_secs(5), path.validated())
            .await
            .with_context(|| format!("path {} ({} -> {remote}) not validated within 5 s", path.id(), p.local))?
            .with_context(|| format!("path {} ({} -> {remote})", path.id(), p.local))?;
        if p.backup {
            path.set_status(true).with_context(|| format!("marking path {} as a backup", path.id()))?;
        }
        tracing::info!(path = %path.id(), local = %p.local, %remote, backup = p.backup, "path validated");
    }
    Ok(())
}

/// Fetches `path` into `file`, writing chunks as they arrive; returns the bytes received.
async fn download(conn: &Connection, path: &str, file: &Path) -> anyhow::Result<u64> {
    let (mut send, mut recv) = conn.open_bi().await.context("opening a stream")?;
    send.write_all(format!("GET {path}\r\n").as_bytes()).await.context("sending the request")?;
    send.finish().context("finishing the request")?;
    let mut out = FileWriter::create(file).with_context(|| format!("creating {}", file.display()))?;
    let mut bytes = 0u64;
    while let Some(chunk) = recv.read_chunk(usize::MAX).await.map_err(|e| match e {
        mpquic_io::ReadError::Reset(code) => {
            anyhow::anyhow!("the server refused the request (stream reset, code {code:#x})")
        }
        e => anyhow::anyhow!("receiving: {e}"),
    })? {
        bytes += chunk.len() as u64;
        out.write(chunk).await.with_context(|| format!("writing {}", file.display()))?;
    }
    out.finish().await.with_context(|| format!("writing {}", file.display()))?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("https://localhost:4433/a/b.bin").unwrap(),
            Url { host: "localhost".into(), port: 4433, path: "/a/b.bin".into() }
        );
        assert_eq!(parse_url("https://[::1]:443/x").unwrap(), Url { host: "::1".into(), port: 443, path: "/x".into() });
        assert_eq!(parse_url("https://example.org").unwrap().port, 443);
        assert!(parse_url("http://x/").is_err());
        assert!(parse_url("https://[::1/").is_err());
        assert!(parse_url("https://h:port/").is_err());
        assert_eq!(file_name("/a/b.bin"), "b.bin");
        assert_eq!(file_name("/"), "index.html");
        assert_eq!(file_name("/a/..?x"), "index.html");
        let spec = |l: &str, r: Option<&str>| PathSpec {
            local: l.parse().unwrap(),
            remote: r.map(|r| r.parse().unwrap()),
            backup: false,
        };
        assert_eq!(parse_path_spec("127.0.0.2").unwrap(), spec("127.0.0.2:0", None));
        assert_eq!(parse_path_spec("127.0.0.2:5000").unwrap(), spec("127.0.0.2:5000", None));
        assert_eq!(parse_path_spec("10.0.0.1=192.0.2.1:443").unwrap(), spec("10.0.0.1:0", Some("192.0.2.1:443")));
        assert_eq!(parse_path_spec("::1").unwrap(), spec("[::1]:0", None));
        assert_eq!(parse_path_spec("[::1]").unwrap(), spec("[::1]:0", None));
        assert_eq!(parse_path_spec("[::1]:7=[::1]:443").unwrap(), spec("[::1]:7", Some("[::1]:443")));
        assert!(parse_path_spec("host").is_err());
        assert_eq!(
            parse_path_spec("127.0.0.2=127.0.0.2:443,backup").unwrap(),
            PathSpec { backup: true, ..spec("127.0.0.2:0", Some("127.0.0.2:443")) }
        );
        assert!(parse_path_spec("127.0.0.2,spare").unwrap_err().contains("only one is `backup`"));
        assert!(parse_path_spec("127.0.0.1=nowhere").is_err());
    }
}
