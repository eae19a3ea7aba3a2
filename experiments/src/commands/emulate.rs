//! `mpquic emulate`: only the link emulator, for a scenario's paths and timeline, so that
//! `mpquic server`, the emulator and `mpquic client` run as three processes (or any other QUIC
//! implementation in place of ours).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::Args;
use mpquic_experiments::emulator::{Emulator, EmulatorStats, RelaySpec};
use mpquic_experiments::scenario::Scenario;

/// `mpquic emulate`: relay a scenario's paths through its emulated links.
#[derive(Debug, Args)]
pub struct EmulateArgs {
    /// Scenario file (TOML): its paths' links, shared bottlenecks and timeline are emulated; its
    /// workload and transport settings are for the client and server to follow.
    pub scenario: PathBuf,
    /// One per scenario path: NAME=LISTEN,SERVER: the client sends path NAME's datagrams to
    /// LISTEN, the relay forwards them to SERVER (from LISTEN's IP, a free port) and the
    /// answers back, through the path's links. Example: fast=127.0.0.1:7001,127.0.0.1:4433
    #[arg(long = "relay", value_name = "NAME=LISTEN,SERVER", value_parser = parse_relay, required = true)]
    pub relays: Vec<(String, SocketAddr, SocketAddr)>,
    /// Seed of the links' random draws (loss, jitter, reordering); the scenario's by default.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Write the counters as JSON to FILE every second and when stopping.
    #[arg(long, value_name = "FILE")]
    pub stats: Option<PathBuf>,
    /// Stop this many seconds after the first datagram (time 0 of the timeline); without it,
    /// run until Ctrl-C or SIGTERM.
    #[arg(long, value_name = "SECONDS")]
    pub duration: Option<f64>,
}

fn parse_relay(s: &str) -> Result<(String, SocketAddr, SocketAddr), String> {
    let (name, addrs) = s.split_once('=').ok_or_else(|| format!("{s:?}: expected NAME=LISTEN,SERVER"))?;
    let (listen, server) = addrs.split_once(',').ok_or_else(|| format!("{s:?}: expected NAME=LISTEN,SERVER"))?;
    let addr = |a: &str| a.trim().parse::<SocketAddr>().map_err(|_| format!("{a:?} is not a socket address (IP:PORT)"));
    Ok((name.to_owned(), addr(listen)?, addr(server)?))
}

/// The relays in scenario path order; every path needs exactly one.
fn relay_specs(scenario: &Scenario, relays: &[(String, SocketAddr, SocketAddr)]) -> anyhow::Result<Vec<RelaySpec>> {
    for (name, _, _) in relays {
        if scenario.path_index(name).is_none() {
            let known: Vec<&str> = scenario.paths.iter().map(|p| p.name.as_str()).collect();
            bail!("--relay {name}=...: the scenario has no path {name:?} (its paths: {})", known.join(", "));
        }
    }
    scenario
        .paths
        .iter()
        .map(|p| {
            let mut given = relays.iter().filter(|(n, _, _)| *n == p.name);
            match (given.next(), given.next()) {
                (Some(&(_, listen, server)), None) => Ok(RelaySpec::new(listen, server)),
                (None, _) => bail!("path {:?} has no --relay {}=LISTEN,SERVER", p.name, p.name),
                (Some(_), Some(_)) => bail!("path {:?} has more than one --relay", p.name),
            }
        })
        .collect()
}

fn write_stats(path: &std::path::Path, stats: &EmulatorStats) -> anyhow::Result<()> {
    let tmp = path.with_extension("partial");
    std::fs::write(&tmp, serde_json::to_string_pretty(stats)? + "\n")
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn print_stats(stats: &EmulatorStats) {
    say!("after {:.3} s, {} timeline event(s) applied:", stats.elapsed_s.unwrap_or(0.0), stats.events_applied);
    say!(
        "  {:<10} {:>14} {:>14} {:>14} {:>14} {:>10}",
        "relay",
        "from client B",
        "to server B",
        "from server B",
        "to client B",
        "unroutable"
    );
    for r in &stats.relays {
        say!(
            "  {:<10} {:>14} {:>14} {:>14} {:>14} {:>10}",
            r.name,
            r.from_client.bytes,
            r.to_server.bytes,
            r.from_server.bytes,
            r.to_client.bytes,
            r.unroutable
        );
    }
    say!(
        "  {:<14} {:>10} {:>10} {:>8} {:>8} {:>8} {:>8} {:>9}",
        "link",
        "offered",
        "delivered",
        "queue",
        "loss",
        "down",
        "CE",
        "max queue"
    );
    for l in &stats.links {
        let s = &l.stats;
        say!(
            "  {:<14} {:>10} {:>10} {:>8} {:>8} {:>8} {:>8} {:>9}",
            l.name,
            s.packets_offered,
            s.packets_delivered,
            s.dropped_queue,
            s.dropped_loss,
            s.dropped_down,
            s.ce_marked,
            s.max_queue_packets
        );
    }
    say!(
        "  releases more than 1 ms late: {}; latest: {:.3} ms; priority: {}",
        stats.late_wakeups,
        stats.max_lateness_us as f64 / 1e3,
        if stats.realtime { "real-time (SCHED_FIFO)" } else { "normal (SCHED_FIFO needs root)" }
    );
}

/// Runs the emulator until a signal (or `--duration`).
pub async fn run_emulate(args: EmulateArgs) -> anyhow::Result<()> {
    let scenario = Scenario::load(&args.scenario)?;
    let specs = relay_specs(&scenario, &args.relays)?;
    let seed = args.seed.unwrap_or(scenario.seed);
    let emulator = Emulator::start(&scenario, seed, &specs)?;
    for (p, path) in scenario.paths.iter().enumerate() {
        say!(
            "relay {}: {} -> {} (the server sees it from {})",
            path.name,
            emulator.listen_addr(p).map_or_else(|| "-".into(), |a| a.to_string()),
            specs[p].server,
            emulator.server_facing_addr(p).map_or_else(|| "-".into(), |a| a.to_string()),
        );
    }
    say!("ready: emulating {} (seed {seed}); the timeline starts with the first datagram", scenario.name);
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut ticks = 0u64;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = sigterm.recv() => break,
            _ = tick.tick() => {
                ticks += 1;
                let stats = emulator.stats();
                if let (Some(limit), Some(elapsed)) = (args.duration, stats.elapsed_s) {
                    if elapsed >= limit {
                        break;
                    }
                }
                if let (Some(path), true) = (&args.stats, ticks % 10 == 0) {
                    write_stats(path, &stats)?;
                }
            }
        }
    }
    let stats = tokio::task::spawn_blocking(move || emulator.stop()).await.context("stopping the emulator")?;
    print_stats(&stats);
    if let Some(path) = &args.stats {
        write_stats(path, &stats)?;
    }
    Ok(())
}

/// Runs the relays on a multi-threaded runtime until interrupted.
pub fn run(args: EmulateArgs) -> anyhow::Result<()> {
    super::block_on(run_emulate(args))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relays_are_matched_to_paths_by_name() {
        let scenario = Scenario::load(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/failover_bulk.toml").as_ref())
            .expect("shipped scenario");
        let fast = parse_relay("fast=127.0.0.1:7001,127.0.0.1:4433").unwrap();
        let slow = parse_relay("slow=[::1]:7001, [::1]:4433").unwrap();
        assert_eq!(slow.2, "[::1]:4433".parse().unwrap());
        // Given in any order, returned in path order.
        let specs = relay_specs(&scenario, &[slow.clone(), fast.clone()]).unwrap();
        assert_eq!(specs[0].listen, fast.1);
        assert_eq!(specs[1].server, slow.2);
        assert_eq!(specs[1].server_facing, "[::1]:0".parse().unwrap());
        let missing = relay_specs(&scenario, std::slice::from_ref(&fast)).unwrap_err().to_string();
        assert!(missing.contains("\"slow\" has no --relay"), "{missing}");
        let unknown = relay_specs(&scenario, &[fast.clone(), slow.clone(), ("wifi".into(), fast.1, fast.2)]);
        assert!(unknown.unwrap_err().to_string().contains("no path \"wifi\""));
        assert!(relay_specs(&scenario, &[fast.clone(), fast, slow]).unwrap_err().to_string().contains("more than one"));
        assert!(parse_relay("fast=127.0.0.1:7001").is_err());
        assert!(parse_relay("127.0.0.1:7001,127.0.0.1:4433").is_err());
        assert!(parse_relay("fast=here,there").unwrap_err().contains("not a socket address"));
    }
}
