//! The `--netns` topology of real mode: a client and a server network namespace made for the
//! run, joined by one veth pair per scenario path (10.77.p.1 on the client's end, 10.77.p.2 on
//! the server's), deleted afterwards. Every address lives inside these two namespaces, so no
//! datagram can leave the machine. The client endpoint's socket is bound in the client
//! namespace; the server endpoint and the relays (the link emulator: this kernel has no netem)
//! in the server namespace, the relays listening on the veth addresses. Compared with loopback,
//! each path's datagrams cross a real veth pair and two network stacks.
//!
//! Making namespaces needs root (CAP_SYS_ADMIN) and iproute2's `ip`; [`netns_available`] says
//! whether both are there. A run that is killed leaves its namespaces behind: `ip netns list`
//! shows them as `mpq<pid>r<n>c` / `mpq<pid>r<n>s`, `ip netns del NAME` removes one.

use std::net::SocketAddr;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use super::one::Side;
use super::RealError;

/// Namespaces made by this process so far (for unique names).
static MADE: AtomicU32 = AtomicU32::new(0);

/// Whether this process may make network namespaces: `Err` says why not.
pub fn netns_available() -> Result<(), String> {
    let status = std::fs::read_to_string("/proc/self/status").map_err(|e| format!("reading /proc/self/status: {e}"))?;
    // "Uid: real effective saved filesystem"
    let euid = status.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|l| l.split_whitespace().nth(1));
    if euid != Some("0") {
        return Err("making network namespaces needs root (CAP_SYS_ADMIN)".into());
    }
    match Command::new("ip").arg("-V").output() {
        Ok(o) if o.status.success() => Ok(()),
        _ => Err("iproute2's `ip` command is not available".into()),
    }
}

fn ip(args: &[&str]) -> Result<(), RealError> {
    let out = Command::new("ip").args(args).output().map_err(|e| RealError::Netns(format!("running ip: {e}")))?;
    if out.status.success() {
        return Ok(());
    }
    Err(RealError::Netns(format!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim())))
}

/// The two namespaces of one run; deleted by [`Namespaces::delete`] or when dropped.
#[derive(Debug)]
pub(super) struct Namespaces {
    client: String,
    server: String,
    live: bool,
}

impl Namespaces {
    /// Makes the namespaces and one veth pair per path, addressed as in
    /// [`AddressPlan::netns`](super::AddressPlan::netns).
    pub(super) fn create(paths: usize) -> Result<Self, RealError> {
        netns_available()
            .map_err(|why| RealError::Netns(format!("--netns: {why}; run without --netns for loopback")))?;
        let base = format!("mpq{}r{}", std::process::id(), MADE.fetch_add(1, Ordering::Relaxed));
        let ns = Self { client: format!("{base}c"), server: format!("{base}s"), live: true };
        ip(&["netns", "add", &ns.client])?;
        ip(&["netns", "add", &ns.server])?;
        for name in [&ns.client, &ns.server] {
            ip(&["-n", name, "link", "set", "lo", "up"])?;
        }
        for p in 0..paths {
            // Interface names are per namespace: both ends are `p<path>`, in every run.
            let dev = format!("p{p}");
            ip(&["-n", &ns.client, "link", "add", &dev, "type", "veth", "peer", "name", &dev, "netns", &ns.server])?;
            for (name, host) in [(&ns.client, 1), (&ns.server, 2)] {
                ip(&["-n", name, "addr", "add", &format!("10.77.{p}.{host}/24"), "dev", &dev])?;
                ip(&["-n", name, "link", "set", &dev, "up"])?;
            }
        }
        Ok(ns)
    }

    /// Binds a UDP socket on `addr` in `side`'s namespace.
    pub(super) fn bind(&self, side: Side, addr: SocketAddr) -> std::io::Result<std::net::UdpSocket> {
        let name = match side {
            Side::Client => &self.client,
            Side::Server => &self.server,
        };
        mpquic_io::netns::bind_udp(&mpquic_io::netns::named(name), addr)
    }

    /// Deletes both namespaces (and with them the veth pairs).
    pub(super) fn delete(mut self) -> Result<(), RealError> {
        self.live = false;
        let r = ip(&["netns", "del", &self.client]);
        ip(&["netns", "del", &self.server]).and(r)
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        if self.live {
            let _ = ip(&["netns", "del", &self.client]);
            let _ = ip(&["netns", "del", &self.server]);
        }
    }
}
