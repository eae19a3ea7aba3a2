//! The baselines of a `--netns` run (`[compare]`, `--compare`): the scenario's workload over the
//! same emulated paths with Linux MPTCP (one subflow per path), single-path TCP (the first
//! path), or an external client/server command pair.
//!
//! MPTCP and TCP carry the workload as one byte stream, requests pipelined like HTTP/1.1: the
//! client writes each request when the plan starts it (`[length u64][the request as the QUIC
//! applications send it]`), the server answers them in order with `response_bytes` of the byte
//! pattern, and the client checks every byte and keeps the same records and delivery-gap measure
//! as our QUIC client. A response waits for the ones before it (head-of-line blocking is what a
//! single byte stream does).
//!
//! MPTCP: `IPPROTO_MPTCP` sockets on both sides, the kernel's default packet scheduler and path
//! manager; the client namespace gets one `subflow` endpoint per path after the first (`ip
//! mptcp endpoint add 10.77.p.1 dev t<p> subflow`) and both namespaces the limits for them, so
//! the connection has one subflow per scenario path. Congestion control is the scenario's where
//! Linux has it (`newreno` is Linux's `reno`, `cubic`, `bbr`); Linux has no coupled controller
//! (LIA, OLIA, BALIA), so those runs use `cubic` and say so.

use std::fs::File;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::cleanup;
use super::netns::{device, ip, path_ip, Namespaces};
use super::one::Side;
use super::RealError;
use crate::metrics::Comparison;
use crate::scenario::{ExternalSpec, Scenario};
use crate::sim::Nanos;
use crate::workload::{
    decode_request_header, encode_request, pattern_chunk, pattern_mismatches, plan, DeliveryGaps, RequestPlan,
    RequestRecord, Start,
};

/// The port the kernel baselines' server listens on (the namespaces are the run's own).
const PORT: u16 = 5201;
/// Most MPTCP subflows and accepted addresses Linux allows per connection (`ip mptcp limits`).
const MPTCP_MAX_SUBFLOWS: usize = 8;
/// How often blocking socket calls come back to look at the clock.
const POLL: Duration = Duration::from_millis(100);

/// A kernel protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// Linux MPTCP over every path.
    Mptcp,
    /// TCP over the first path.
    Tcp,
}

impl Kernel {
    /// From its name in `[compare] protocols`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "mptcp" => Some(Self::Mptcp),
            "tcp" => Some(Self::Tcp),
            _ => None,
        }
    }

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Mptcp => "mptcp",
            Self::Tcp => "tcp",
        }
    }
}

/// Whether MPTCP can run here: `Err` says why not (no MPTCP in the kernel, or
/// `net.mptcp.enabled = 0` in this network namespace).
pub fn mptcp_available() -> Result<(), String> {
    match std::fs::read_to_string("/proc/sys/net/mptcp/enabled") {
        Ok(v) if v.trim() == "1" => Ok(()),
        Ok(v) => Err(format!(
            "MPTCP is disabled (net.mptcp.enabled = {}): enable it with `sysctl -w net.mptcp.enabled=1`, or drop mptcp \
             from the comparison",
            v.trim()
        )),
        Err(_) => Err("this kernel has no MPTCP (no /proc/sys/net/mptcp/enabled): it needs CONFIG_MPTCP".into()),
    }
}

/// Linux's name of the scenario's controller, and a note when Linux has none like it.
pub fn linux_congestion_control(name: &str) -> (&'static str, Option<String>) {
    match name {
        "newreno" => ("reno", None),
        "cubic" => ("cubic", None),
        "bbr" => ("bbr", None),
        other => ("cubic", Some(format!("Linux has no `{other}`: the kernel baselines ran with cubic"))),
    }
}

/// Sets up `ns` for `protocol` (MPTCP endpoints and limits); before the emulator starts.
pub(super) fn prepare(ns: &Namespaces, protocol: Kernel) -> Result<(), RealError> {
    if protocol != Kernel::Mptcp {
        return Ok(());
    }
    let extra = (ns.paths - 1).min(MPTCP_MAX_SUBFLOWS).to_string();
    ip(&["-n", &ns.client, "mptcp", "limits", "set", "subflows", &extra, "add_addr_accepted", &extra])?;
    ip(&["-n", &ns.server, "mptcp", "limits", "set", "subflows", &extra, "add_addr_accepted", &extra])?;
    for p in 1..ns.paths.min(MPTCP_MAX_SUBFLOWS + 1) {
        let addr = path_ip(p, Side::Client).to_string();
        ip(&["-n", &ns.client, "mptcp", "endpoint", "add", &addr, "dev", &device(p), "subflow"])?;
    }
    Ok(())
}

/// The client's state, shared by its writer and reader threads.
#[derive(Debug, Default)]
struct ClientState {
    records: Vec<RequestRecord>,
    open: usize,
    gaps: DeliveryGaps,
}

fn since(t0: Instant) -> Nanos {
    t0.elapsed().as_nanos() as Nanos
}

/// Makes a stream socket of `protocol` in `side`'s namespace.
fn socket(ns: &Namespaces, side: Side, protocol: Kernel, cc: &str) -> Result<Socket, RealError> {
    let proto = match protocol {
        Kernel::Mptcp => Protocol::MPTCP,
        Kernel::Tcp => Protocol::TCP,
    };
    let name = ns.name(side).to_owned();
    let sock = mpquic_io::netns::enter(&mpquic_io::netns::named(&name), || {
        Socket::new(Domain::IPV4, Type::STREAM, Some(proto))
    })
    .map_err(|e| RealError::Netns(format!("{} socket in {name}: {e}", protocol.name())))?;
    sock.set_tcp_congestion(cc.as_bytes()).map_err(|e| {
        RealError::Netns(format!("{} socket: congestion control {cc} (TCP_CONGESTION): {e}", protocol.name()))
    })?;
    Ok(sock)
}

/// Runs the workload of `s` once over `protocol` between the namespaces of `ns` (links
/// already emulated); the result has no `paths` yet (the caller reads the kernel's counters).
pub(super) fn run_kernel(s: &Scenario, seed: u64, protocol: Kernel, ns: &Namespaces) -> Comparison {
    let (cc, _) = linux_congestion_control(&s.transport.congestion_controller);
    let mut out = Comparison {
        protocol: protocol.name().to_owned(),
        seed,
        congestion_controller: Some(cc.to_owned()),
        ..Comparison::default()
    };
    let limit = Duration::from_secs_f64(s.duration_s);
    let server_addr = SocketAddr::new(path_ip(0, Side::Server), PORT);
    let setup = || -> Result<(Socket, Socket), RealError> {
        let listener = socket(ns, Side::Server, protocol, cc)?;
        listener.set_reuse_address(true).map_err(|e| RealError::Netns(format!("SO_REUSEADDR: {e}")))?;
        listener
            .bind(&SockAddr::from(server_addr))
            .and_then(|()| listener.listen(8))
            .map_err(|error| RealError::Socket { addr: server_addr, error })?;
        // accept() honours SO_RCVTIMEO.
        listener.set_read_timeout(Some(limit)).map_err(|e| RealError::Netns(format!("SO_RCVTIMEO: {e}")))?;
        Ok((listener, socket(ns, Side::Client, protocol, cc)?))
    };
    let (listener, client) = match setup() {
        Ok(pair) => pair,
        Err(e) => {
            out.error = Some(e.to_string());
            return out;
        }
    };
    let server = std::thread::spawn(move || serve(listener, limit));
    let t0 = Instant::now();
    let result = client_run(s, client, server_addr, t0, limit);
    let (records, gaps) = match result {
        Ok(state) => (state.records, state.gaps),
        Err((e, state)) => {
            out.error = Some(e);
            (state.records, state.gaps)
        }
    };
    let _ = server.join();
    let planned = plan(&s.workload).len();
    let done = records.len() == planned && records.iter().all(|r| r.completed_ns.is_some());
    let corrupt: u64 = records.iter().map(|r| r.corrupt_bytes).sum();
    if done && corrupt > 0 && out.error.is_none() {
        out.error = Some(format!("{corrupt} response bytes differ from the pattern"));
    }
    out.completed = done && out.error.is_none();
    let end = records.iter().filter_map(|r| r.completed_ns).max().unwrap_or_else(|| since(t0));
    let bytes: u64 = records.iter().map(|r| r.bytes).sum();
    let secs = end as f64 / 1e9;
    out.goodput_mbps = if secs > 0.0 { bytes as f64 * 8.0 / secs / 1e6 } else { 0.0 };
    out.completion_time_s = out.completed.then_some(secs);
    out.longest_delivery_gap_ms = Some(gaps.longest_ns as f64 / 1e6);
    if out.error.is_none() && !out.completed {
        out.error = Some(format!(
            "time limit of {} s reached with {} of {planned} requests complete",
            s.duration_s,
            records.iter().filter(|r| r.completed_ns.is_some()).count()
        ));
    }
    out
}

/// The server: accepts one connection and answers its requests in order until it ends.
fn serve(listener: Socket, limit: Duration) {
    // The listener stays open while the connection lives: MPTCP's MP_JOIN SYNs of the other
    // subflows arrive at it.
    let Ok((conn, _)) = listener.accept() else { return };
    let mut conn: std::net::TcpStream = conn.into();
    let _ = conn.set_write_timeout(Some(limit));
    let _ = conn.set_read_timeout(Some(limit));
    let mut len = [0u8; 8];
    let mut request = Vec::new();
    while conn.read_exact(&mut len).is_ok() {
        request.resize(u64::from_be_bytes(len).min(1 << 20) as usize, 0);
        if conn.read_exact(&mut request).is_err() {
            return;
        }
        let Some((_id, response_bytes)) = decode_request_header(&request) else { return };
        let mut written = 0u64;
        while written < response_bytes {
            let chunk = pattern_chunk(written, response_bytes - written);
            if conn.write_all(&chunk).is_err() {
                return;
            }
            written += chunk.len() as u64;
        }
    }
}

type Failed = (String, ClientState);

/// The client: connects, starts the requests as the plan says (a writer thread), reads the
/// responses in order.
fn client_run(
    s: &Scenario,
    client: Socket,
    server: SocketAddr,
    t0: Instant,
    limit: Duration,
) -> Result<ClientState, Failed> {
    let fail = |e: String| Err((e, ClientState::default()));
    if let Err(e) = client.connect_timeout(&SockAddr::from(server), limit) {
        return fail(format!("connecting to {server}: {e}"));
    }
    let base = since(t0);
    let mut stream: std::net::TcpStream = client.into();
    let _ = stream.set_read_timeout(Some(POLL));
    let _ = stream.set_write_timeout(Some(limit));
    let writer_stream = match stream.try_clone() {
        Ok(w) => w,
        Err(e) => return fail(format!("cloning the socket: {e}")),
    };
    let plans = plan(&s.workload);
    let state = Arc::new(Mutex::new(ClientState::default()));
    let window = plans.iter().find_map(|p| match p.start {
        Start::Window(n) => Some(n.max(1) as usize),
        Start::At(_) => None,
    });
    let (permit_tx, permit_rx) = mpsc::channel::<()>();
    for _ in 0..window.unwrap_or(0) {
        let _ = permit_tx.send(());
    }
    let (started_tx, started_rx) = mpsc::channel::<usize>();
    let deadline = t0 + limit;
    let writer = {
        let (state, plans) = (state.clone(), plans.clone());
        std::thread::spawn(move || {
            write_requests(writer_stream, &plans, &state, t0, base, deadline, &permit_rx, &started_tx)
        })
    };
    let read = read_responses(&mut stream, &plans, &state, t0, deadline, &started_rx, &permit_tx);
    let _ = stream.shutdown(std::net::Shutdown::Both);
    drop(permit_tx);
    let written = writer.join().unwrap_or_else(|_| Err("the request writer panicked".into()));
    let state = std::mem::take(&mut *state.lock().unwrap_or_else(|p| p.into_inner()));
    match read.and(written) {
        Ok(()) => Ok(state),
        Err(e) => Err((e, state)),
    }
}

#[allow(clippy::too_many_arguments)]
fn write_requests(
    mut stream: std::net::TcpStream,
    plans: &[RequestPlan],
    state: &Mutex<ClientState>,
    t0: Instant,
    base: Nanos,
    deadline: Instant,
    permits: &mpsc::Receiver<()>,
    started: &mpsc::Sender<usize>,
) -> Result<(), String> {
    for (id, p) in plans.iter().enumerate() {
        match p.start {
            Start::At(t) => {
                let at = t0 + Duration::from_nanos(base + t);
                if at >= deadline {
                    return Ok(());
                }
                std::thread::sleep(at.saturating_duration_since(Instant::now()));
            }
            Start::Window(_) => loop {
                match permits.recv_timeout(POLL) {
                    Ok(()) => break,
                    Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() < deadline => {}
                    Err(_) => return Ok(()),
                }
            },
        }
        let now = since(t0);
        {
            let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
            let open = st.open;
            st.gaps.request_started(now, open);
            st.open += 1;
            st.records.push(RequestRecord::started(id as u64, now, p));
        }
        let req = encode_request(id as u64, p);
        let mut frame = (req.len() as u64).to_be_bytes().to_vec();
        frame.extend_from_slice(&req);
        if started.send(id).is_err() {
            return Ok(());
        }
        stream.write_all(&frame).map_err(|e| format!("sending request {id}: {e}"))?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn read_responses(
    stream: &mut std::net::TcpStream,
    plans: &[RequestPlan],
    state: &Mutex<ClientState>,
    t0: Instant,
    deadline: Instant,
    started: &mpsc::Receiver<usize>,
    permits: &mpsc::Sender<()>,
) -> Result<(), String> {
    let mut buf = vec![0u8; 256 * 1024];
    for (id, p) in plans.iter().enumerate() {
        loop {
            match started.recv_timeout(POLL) {
                Ok(_) => break,
                Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() < deadline => {}
                Err(_) => return Ok(()),
            }
        }
        let mut offset = 0u64;
        while offset < p.response_bytes {
            if Instant::now() >= deadline {
                return Ok(());
            }
            let want = (p.response_bytes - offset).min(buf.len() as u64) as usize;
            let n = match stream.read(&mut buf[..want]) {
                Ok(0) => return Err(format!("request {id}: the server closed the connection")),
                Ok(n) => n,
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(format!("request {id}: receiving: {e}")),
            };
            let now = since(t0);
            let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
            let r = &mut st.records[id];
            r.bytes += n as u64;
            r.corrupt_bytes += pattern_mismatches(offset, &buf[..n]);
            offset += n as u64;
            st.gaps.progressed(now);
        }
        let now = since(t0);
        let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
        st.records[id].completed_ns = Some(now);
        st.open -= 1;
        st.gaps.progressed(now);
        if st.open == 0 {
            st.gaps.idle();
        }
        let _ = permits.send(());
    }
    Ok(())
}

/// The placeholders of external commands and their values for a run of `s` (see
/// SCENARIOS.md).
pub fn placeholders(s: &Scenario) -> Vec<(String, String)> {
    let bytes: u64 = plan(&s.workload).iter().map(|p| p.response_bytes).sum();
    let server_ip = path_ip(0, Side::Server);
    let mut v = vec![
        ("server_addr".to_owned(), SocketAddr::new(server_ip, PORT).to_string()),
        ("server_ip".to_owned(), server_ip.to_string()),
        ("port".to_owned(), PORT.to_string()),
        ("client_ip".to_owned(), path_ip(0, Side::Client).to_string()),
        ("bytes".to_owned(), bytes.to_string()),
        ("paths".to_owned(), s.paths.len().to_string()),
        ("duration_s".to_owned(), s.duration_s.to_string()),
        (
            "mpquic".to_owned(),
            std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_else(|_| "mpquic".into()),
        ),
    ];
    for p in 0..s.paths.len() {
        v.push((format!("server_ip_{p}"), path_ip(p, Side::Server).to_string()));
        v.push((format!("client_ip_{p}"), path_ip(p, Side::Client).to_string()));
    }
    v
}

/// `command` with every `{name}` of `values` replaced; an unknown `{name}` is an error.
pub fn expand(command: &str, values: &[(String, String)]) -> Result<String, String> {
    let mut out = String::with_capacity(command.len());
    let mut rest = command;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            out.push_str(&rest[open..]);
            return Ok(out);
        };
        let name = &after[..close];
        // `${NAME}` is the shell's, not ours.
        let shell = out.ends_with('$');
        match values.iter().find(|(k, _)| k == name).filter(|_| !shell) {
            Some((_, v)) => out.push_str(v),
            None if !shell && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') && !name.is_empty() => {
                return Err(format!(
                    "unknown placeholder {{{name}}}; known: {}",
                    values.iter().map(|(k, _)| format!("{{{k}}}")).collect::<Vec<_>>().join(" ")
                ))
            }
            // Not a placeholder (e.g. a shell `${VAR}` or `{a,b}`): kept as written.
            None => out.push_str(&rest[open..open + 2 + close]),
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// A child process in a process group of its own, killed with its group when dropped.
struct Child {
    child: std::process::Child,
    log: std::path::PathBuf,
}

impl Child {
    fn spawn(ns: &str, command: &str, log: std::path::PathBuf) -> Result<Self, String> {
        let file = File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        // Removed on Ctrl-C too (the handler exits without running `Drop`).
        cleanup::add_file(&log);
        let err = file.try_clone().map_err(|e| format!("{}: {e}", log.display()))?;
        let child = Command::new("ip")
            .args(["netns", "exec", ns, "sh", "-c", command])
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(err)
            .process_group(0)
            .spawn()
            .map_err(|e| format!("starting `{command}`: {e}"))?;
        cleanup::add_group(child.id() as i32);
        Ok(Self { child, log })
    }

    /// The last lines of its output.
    fn tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().rev().take(5).collect();
        lines.into_iter().rev().collect::<Vec<_>>().join(" | ")
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        // SIGTERM to the group first, so that a peer can remove what it made (an `mpquic perf
        // server` its self-signed certificate); SIGKILL for what is still there after 1 s.
        let group = nix::unistd::Pid::from_raw(self.child.id() as i32);
        if nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGTERM).is_ok() {
            let deadline = Instant::now() + Duration::from_secs(1);
            // Signal 0: whether any process of the group is left.
            while nix::sys::signal::killpg(group, None).is_ok() && Instant::now() < deadline {
                let _ = self.child.try_wait();
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        cleanup::kill_group(self.child.id() as i32);
        let _ = self.child.wait();
        cleanup::remove_file(&self.log);
    }
}

/// Runs external peer `e` once: its server in the server namespace, then its client in the
/// client namespace until it exits or the time limit passes.
pub(super) fn run_external(s: &Scenario, seed: u64, e: &ExternalSpec, ns: &Namespaces) -> Comparison {
    let mut out = Comparison { protocol: e.name.clone(), seed, ..Comparison::default() };
    let values = placeholders(s);
    let commands = expand(&e.server, &values)
        .map_err(|m| format!("compare.external `{}`, server: {m}", e.name))
        .and_then(|server| {
            expand(&e.client, &values)
                .map(|c| (server, c))
                .map_err(|m| format!("compare.external `{}`, client: {m}", e.name))
        });
    let (server_cmd, client_cmd) = match commands {
        Ok(c) => c,
        Err(m) => {
            out.error = Some(m);
            return out;
        }
    };
    let log = |side: &str| std::env::temp_dir().join(format!("{}-{}-{side}.log", ns.client, e.name));
    let server = match Child::spawn(&ns.server, &server_cmd, log("server")) {
        Ok(c) => c,
        Err(m) => {
            out.error = Some(format!("server: {m}"));
            return out;
        }
    };
    std::thread::sleep(Duration::from_secs_f64(e.server_startup_ms / 1e3));
    let limit = Duration::from_secs_f64(s.duration_s);
    let t0 = Instant::now();
    let mut client = match Child::spawn(&ns.client, &client_cmd, log("client")) {
        Ok(c) => c,
        Err(m) => {
            out.error = Some(format!("client: {m}"));
            return out;
        }
    };
    let status = loop {
        match client.child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if t0.elapsed() < limit => std::thread::sleep(Duration::from_millis(5)),
            _ => break None,
        }
    };
    let secs = t0.elapsed().as_secs_f64();
    match status {
        Some(st) if st.success() => {
            out.completed = true;
            out.completion_time_s = Some(secs);
            let bytes: u64 = plan(&s.workload).iter().map(|p| p.response_bytes).sum();
            out.goodput_mbps = bytes as f64 * 8.0 / secs / 1e6;
        }
        Some(st) => {
            out.error = Some(format!("the client exited with {st}: {} (server: {})", client.tail(), server.tail()))
        }
        None => out.error = Some(format!("time limit of {} s reached before the client exited", s.duration_s)),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_expand_and_unknown_ones_are_errors() {
        let v = vec![("server_addr".to_owned(), "10.77.0.2:5201".to_owned()), ("bytes".to_owned(), "7".to_owned())];
        assert_eq!(expand("c {server_addr} -n {bytes}", &v).unwrap(), "c 10.77.0.2:5201 -n 7");
        assert_eq!(expand("echo ${HOME} ${bytes} {a,b} {", &v).unwrap(), "echo ${HOME} ${bytes} {a,b} {");
        let e = expand("c {serveraddr}", &v).unwrap_err();
        assert!(e.contains("{serveraddr}") && e.contains("{server_addr}"), "{e}");
    }

    #[test]
    fn linux_names_of_the_controllers() {
        assert_eq!(linux_congestion_control("newreno"), ("reno", None));
        assert_eq!(linux_congestion_control("cubic").0, "cubic");
        let (cc, note) = linux_congestion_control("olia");
        assert_eq!(cc, "cubic");
        assert!(note.unwrap().contains("olia"));
        assert_eq!(Kernel::from_name("mptcp"), Some(Kernel::Mptcp));
        assert_eq!(Kernel::from_name("quic"), None);
    }
}
