//! The `--netns` topology of real mode: a client and a server network namespace made for each
//! run, joined by one pair of TUN devices per scenario path (`t<p>` in both namespaces: the
//! client's end holds 10.77.p.1/24, the server's 10.77.p.2/24) and the IP-level link emulator
//! ([`crate::emulator::IpEmulator`]) between the two ends. Every IP packet from one namespace to
//! the other crosses a path's emulated links, whichever protocol sent it: our QUIC, Linux MPTCP
//! and TCP, or an external peer's binaries. Every address lives inside the two namespaces, so no
//! packet can leave the machine.
//!
//! In both namespaces IPv6 is off (no router solicitations on the links) and reverse-path
//! filtering is off: an MPTCP subflow bound to path 1's device reaches the server's path-0
//! address through path 1.
//!
//! Needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN), iproute2's `ip` and `/dev/net/tun`
//! ([`netns_available`] says which is missing). The namespaces are named
//! `mpq16-<pid>-<n>c` / `mpq16-<pid>-<n>s`; they, and with them the devices and routes, are
//! deleted after the run, on an error (`Drop`) and on Ctrl-C ([`super::cleanup`]).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use super::cleanup;
use super::one::Side;
use super::RealError;
use crate::emulator::{EmulatorStats, IpEmulator, TunPair};
use crate::scenario::Scenario;

/// Namespace pairs made by this process so far (for unique names).
static MADE: AtomicU32 = AtomicU32::new(0);

/// Prefix of the namespaces' names.
pub const NAMESPACE_PREFIX: &str = "mpq16-";

/// Whether this process may make the `--netns` topology: `Err` says why not (not root, no
/// `ip`, no TUN).
pub fn netns_available() -> Result<(), String> {
    let status = std::fs::read_to_string("/proc/self/status").map_err(|e| format!("reading /proc/self/status: {e}"))?;
    // "Uid: real effective saved filesystem"
    let euid = status.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|l| l.split_whitespace().nth(1));
    if euid != Some("0") {
        return Err("making network namespaces and TUN devices needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN)".into());
    }
    match Command::new("ip").arg("-V").output() {
        Ok(o) if o.status.success() => {}
        _ => return Err("iproute2's `ip` command is not available (apt-get install iproute2)".into()),
    }
    mpquic_io::tun::available()
}

/// Runs `ip ARGS`; the error quotes the command and its message.
pub(super) fn ip(args: &[&str]) -> Result<String, RealError> {
    let out = Command::new("ip").args(args).output().map_err(|e| RealError::Netns(format!("running ip: {e}")))?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    Err(RealError::Netns(format!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim())))
}

/// Path `p`'s address on `side`'s end: 10.77.p.1 (client) or 10.77.p.2 (server).
pub fn path_ip(p: usize, side: Side) -> IpAddr {
    let host = match side {
        Side::Client => 1,
        Side::Server => 2,
    };
    IpAddr::V4(Ipv4Addr::new(10, 77, p as u8, host))
}

/// Most paths the topology numbers (one 10.77.p.0/24 per path).
pub const MAX_PATHS: usize = 250;

/// The two namespaces of one run and their devices; deleted by [`Namespaces::delete`] or when
/// dropped.
#[derive(Debug)]
pub(super) struct Namespaces {
    pub(super) client: String,
    pub(super) server: String,
    pub(super) paths: usize,
    live: bool,
}

/// The name of path `p`'s device (the same in both namespaces).
pub(super) fn device(p: usize) -> String {
    format!("t{p}")
}

impl Namespaces {
    /// Makes the namespaces and one TUN pair per path, addressed and up; returns them with the
    /// devices' files (for the emulator, which must run before any packet can cross).
    pub(super) fn create(paths: usize) -> Result<(Self, Vec<TunPair>), RealError> {
        netns_available()
            .map_err(|why| RealError::Netns(format!("--netns: {why}; run without --netns for loopback")))?;
        if paths > MAX_PATHS {
            return Err(RealError::Unsupported(format!("--netns numbers at most {MAX_PATHS} paths")));
        }
        cleanup::install_interrupt_handler().map_err(RealError::Netns)?;
        let base = format!("{NAMESPACE_PREFIX}{}-{}", std::process::id(), MADE.fetch_add(1, Ordering::Relaxed));
        let mut ns = Self { client: format!("{base}c"), server: format!("{base}s"), paths, live: false };
        // Registered before they exist: an interrupt between `add` and the end of set-up still
        // removes them.
        cleanup::add_namespace(&ns.client);
        cleanup::add_namespace(&ns.server);
        ns.live = true;
        ip(&["netns", "add", &ns.client])?;
        ip(&["netns", "add", &ns.server])?;
        let mut pairs = Vec::with_capacity(paths);
        for name in [&ns.client, &ns.server] {
            ip(&["-n", name, "link", "set", "lo", "up"])?;
            ns.sysctls(name)?;
        }
        for p in 0..paths {
            let dev = device(p);
            let open = |name: &str| {
                mpquic_io::tun::open_in(&mpquic_io::netns::named(name), &dev)
                    .map_err(|e| RealError::Netns(format!("TUN device {dev} in {name}: {e}")))
            };
            let pair = TunPair { client: open(&ns.client)?, server: open(&ns.server)? };
            for (name, side) in [(&ns.client, Side::Client), (&ns.server, Side::Server)] {
                ip(&["-n", name, "addr", "add", &format!("{}/24", path_ip(p, side)), "dev", &dev])?;
                ip(&["-n", name, "link", "set", &dev, "up"])?;
            }
            pairs.push(pair);
        }
        Ok((ns, pairs))
    }

    /// IPv6 off, reverse-path filtering off, in namespace `name`.
    fn sysctls(&self, name: &str) -> Result<(), RealError> {
        let settings = [
            ("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1"),
            ("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1"),
            ("/proc/sys/net/ipv4/conf/all/rp_filter", "0"),
            ("/proc/sys/net/ipv4/conf/default/rp_filter", "0"),
        ];
        mpquic_io::netns::enter(&mpquic_io::netns::named(name), || {
            for (file, value) in settings {
                // A kernel without IPv6 has no such file: nothing to turn off.
                match std::fs::write(file, value) {
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    r => r.map_err(|e| std::io::Error::new(e.kind(), format!("{file}: {e}")))?,
                }
            }
            Ok(())
        })
        .map_err(|e| RealError::Netns(format!("sysctls in {name}: {e}")))
    }

    /// The namespace of `side`.
    pub(super) fn name(&self, side: Side) -> &str {
        match side {
            Side::Client => &self.client,
            Side::Server => &self.server,
        }
    }

    /// Binds a UDP socket on `addr` in `side`'s namespace.
    pub(super) fn bind(&self, side: Side, addr: SocketAddr) -> std::io::Result<std::net::UdpSocket> {
        mpquic_io::netns::bind_udp(&mpquic_io::netns::named(self.name(side)), addr)
    }

    /// Bytes the kernel of the client namespace received on each path's device (what the
    /// emulator delivered down the path), IP headers included: `/proc/net/dev` read from a
    /// thread in the namespace (no process to start, so it can be sampled often).
    pub(super) fn client_rx_bytes(&self) -> Result<Vec<u64>, RealError> {
        let text = mpquic_io::netns::enter(&mpquic_io::netns::named(&self.client), || {
            std::fs::read_to_string("/proc/thread-self/net/dev")
        })
        .map_err(|e| RealError::Netns(format!("reading /proc/net/dev in {}: {e}", self.client)))?;
        (0..self.paths)
            .map(|p| {
                let dev = device(p);
                // "  t0: rx_bytes rx_packets ..."
                text.lines()
                    .find_map(|l| l.trim_start().strip_prefix(&format!("{dev}:")))
                    .and_then(|rest| rest.split_whitespace().next())
                    .and_then(|b| b.parse().ok())
                    .ok_or_else(|| RealError::Netns(format!("no receive counter for {dev} in {}", self.client)))
            })
            .collect()
    }

    /// Deletes both namespaces (and with them the devices and routes).
    pub(super) fn delete(mut self) -> Result<(), RealError> {
        self.live = false;
        let r = cleanup::delete_namespace(&self.client);
        cleanup::delete_namespace(&self.server).and(r).map_err(RealError::Netns)
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        if self.live {
            let _ = cleanup::delete_namespace(&self.client);
            let _ = cleanup::delete_namespace(&self.server);
        }
    }
}

/// The links of `scenario` between a client and a server namespace, running: namespaces, one
/// TUN pair per path and the IP-level emulator. For programs of their own between the two
/// namespaces (`mpquic_io::netns::enter` makes sockets there); removed by [`Self::stop`], when
/// dropped, or on Ctrl-C.
#[derive(Debug)]
pub struct EmulatedLinks {
    namespaces: Namespaces,
    emulator: Option<IpEmulator>,
}

impl EmulatedLinks {
    /// Makes the namespaces and devices and starts the emulator with `scenario`'s links and
    /// `seed`.
    pub fn start(scenario: &Scenario, seed: u64) -> Result<Self, RealError> {
        Self::start_with(scenario, seed, |_| Ok(()))
    }

    /// As [`Self::start`], calling `prepare` after the namespaces exist and before any packet
    /// can cross (e.g. MPTCP endpoints).
    pub(super) fn start_with(
        scenario: &Scenario,
        seed: u64,
        prepare: impl FnOnce(&Namespaces) -> Result<(), RealError>,
    ) -> Result<Self, RealError> {
        let (namespaces, pairs) = Namespaces::create(scenario.paths.len())?;
        prepare(&namespaces)?;
        let emulator = IpEmulator::start(scenario, seed, pairs)?;
        Ok(Self { namespaces, emulator: Some(emulator) })
    }

    /// The name of `side`'s namespace (`ip netns exec NAME ...`).
    pub fn namespace(&self, side: Side) -> &str {
        self.namespaces.name(side)
    }

    /// The namespaces.
    pub(super) fn namespaces(&self) -> &Namespaces {
        &self.namespaces
    }

    /// The emulator.
    pub(super) fn emulator(&self) -> Option<&IpEmulator> {
        self.emulator.as_ref()
    }

    /// Bytes the client's kernel received on each path's device so far (IP packets).
    pub fn client_rx_bytes(&self) -> Result<Vec<u64>, RealError> {
        self.namespaces.client_rx_bytes()
    }

    /// The emulator's counters now.
    pub fn stats(&self) -> EmulatorStats {
        self.emulator.as_ref().map(IpEmulator::stats).unwrap_or_default()
    }

    /// Stops the emulator, deletes the namespaces (devices and routes with them) and returns
    /// the emulator's final counters.
    pub fn stop(mut self) -> Result<EmulatorStats, RealError> {
        let stats = self.emulator.take().map(IpEmulator::stop).unwrap_or_default();
        let namespaces = std::mem::replace(
            &mut self.namespaces,
            Namespaces { client: String::new(), server: String::new(), paths: 0, live: false },
        );
        namespaces.delete()?;
        Ok(stats)
    }
}
