//! Checks on a parsed [`Scenario`] that serde cannot make: ranges, names that must exist,
//! exactly-one-of choices. Each error names the field by its path in the file
//! (`paths[1].down.loss`) and says what is allowed.

use std::collections::BTreeSet;

use thiserror::Error;

use super::{Action, LinkSpec, Scenario, Workload};

/// A scenario value that is out of range or inconsistent.
#[derive(Debug, Clone, PartialEq, Error)]
#[error("field `{field}`: {problem}")]
pub struct ValidationError {
    /// Where, as a path into the file (`paths[0].up.rate_mbps`).
    pub field: String,
    /// What is wrong and what is allowed.
    pub problem: String,
}

/// The kernel protocols `[compare] protocols` takes.
pub const COMPARE_PROTOCOLS: [&str; 2] = ["mptcp", "tcp"];

fn err(field: impl Into<String>, problem: impl Into<String>) -> ValidationError {
    ValidationError { field: field.into(), problem: problem.into() }
}

fn finite_non_negative(field: &str, v: f64) -> Result<(), ValidationError> {
    if !v.is_finite() || v < 0.0 {
        return Err(err(field, format!("{v} is not allowed: expected a finite number >= 0")));
    }
    Ok(())
}

fn probability(field: &str, v: f64) -> Result<(), ValidationError> {
    if !(0.0..=1.0).contains(&v) {
        return Err(err(field, format!("{v} is not a probability: expected 0.0 to 1.0")));
    }
    Ok(())
}

fn link(prefix: &str, l: &LinkSpec) -> Result<(), ValidationError> {
    finite_non_negative(&format!("{prefix}.rate_mbps"), l.rate_mbps)?;
    finite_non_negative(&format!("{prefix}.delay_ms"), l.delay_ms)?;
    finite_non_negative(&format!("{prefix}.jitter_ms"), l.jitter_ms)?;
    finite_non_negative(&format!("{prefix}.reorder_delay_ms"), l.reorder_delay_ms)?;
    probability(&format!("{prefix}.loss"), l.loss)?;
    probability(&format!("{prefix}.reorder"), l.reorder)?;
    probability(&format!("{prefix}.duplicate"), l.duplicate)?;
    if let Some(q) = &l.queue {
        let set = [q.packets.is_some(), q.bytes.is_some(), q.bdp.is_some()].iter().filter(|b| **b).count();
        if set != 1 {
            return Err(err(
                format!("{prefix}.queue"),
                "give exactly one of `packets`, `bytes` or `bdp` (a multiple of the bandwidth-delay product)",
            ));
        }
        if q.packets == Some(0) || q.bytes == Some(0) {
            return Err(err(format!("{prefix}.queue"), "a queue limit must be at least 1"));
        }
        if let Some(bdp) = q.bdp {
            if !bdp.is_finite() || bdp <= 0.0 {
                return Err(err(format!("{prefix}.queue.bdp"), format!("{bdp}: expected a number > 0")));
            }
            if l.rate_mbps == 0.0 {
                return Err(err(format!("{prefix}.queue.bdp"), "a BDP-sized queue needs a rate_mbps > 0"));
            }
        }
    }
    if let Some(ge) = &l.gilbert_elliott {
        if l.loss > 0.0 {
            return Err(err(format!("{prefix}.gilbert_elliott"), "use either `loss` or `gilbert_elliott`, not both"));
        }
        let p = format!("{prefix}.gilbert_elliott");
        probability(&format!("{p}.p_good_to_bad"), ge.p_good_to_bad)?;
        probability(&format!("{p}.p_bad_to_good"), ge.p_bad_to_good)?;
        probability(&format!("{p}.loss_good"), ge.loss_good)?;
        probability(&format!("{p}.loss_bad"), ge.loss_bad)?;
        if ge.p_bad_to_good == 0.0 {
            return Err(err(format!("{p}.p_bad_to_good"), "0 would keep the link in the bad state forever"));
        }
    }
    if l.ecn_threshold_packets == Some(0) {
        return Err(err(format!("{prefix}.ecn_threshold_packets"), "must be at least 1"));
    }
    Ok(())
}

impl Scenario {
    /// Checks ranges and references; returns the first problem.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.name.is_empty() || !self.name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
            return Err(err("name", "must be non-empty and use only letters, digits, '-', '_' and '.'"));
        }
        if self.repetitions == 0 {
            return Err(err("repetitions", "must be at least 1"));
        }
        self.validate_compare()?;
        if !self.duration_s.is_finite() || self.duration_s <= 0.0 {
            return Err(err("duration_s", "must be a number of seconds > 0"));
        }
        if !self.sample_interval_ms.is_finite() || self.sample_interval_ms < 1.0 {
            return Err(err("sample_interval_ms", "must be at least 1 (ms)"));
        }
        if let Err(e) = mpquic_cc::factory_by_name(&self.transport.congestion_controller) {
            return Err(err("transport.congestion_controller", e.to_string()));
        }
        if let Some(cc) = &self.transport.baseline_congestion_controller {
            if let Err(e) = mpquic_cc::factory_by_name(cc) {
                return Err(err("transport.baseline_congestion_controller", e.to_string()));
            }
        }
        if let Err(e) = mpquic_scheduler::factory_by_name(&self.transport.scheduler) {
            return Err(err("transport.scheduler", e.to_string()));
        }
        if let Some(rtt) = self.transport.initial_rtt_ms {
            if !rtt.is_finite() || rtt <= 0.0 {
                return Err(err("transport.initial_rtt_ms", "must be > 0"));
            }
        }
        let pf = &self.transport.path_failure;
        if let Some(f) = pf.rtt_factor {
            if !f.is_finite() || f <= 0.0 {
                return Err(err("transport.path_failure.rtt_factor", format!("{f}: expected a number > 0")));
            }
        }
        if let Some(ms) = pf.min_timeout_ms {
            finite_non_negative("transport.path_failure.min_timeout_ms", ms)?;
        }
        if pf.consecutive_ptos == Some(0) {
            return Err(err("transport.path_failure.consecutive_ptos", "must be at least 1"));
        }
        if let Some(s) = pf.abandon_after_s {
            if !s.is_finite() || s <= 0.0 {
                return Err(err("transport.path_failure.abandon_after_s", format!("{s}: expected seconds > 0")));
            }
        }
        if self.paths.is_empty() {
            return Err(err("paths", "at least one [[paths]] entry is needed"));
        }
        if self.transport.reconnect && self.transport.multipath && self.paths.len() > 1 {
            return Err(err(
                "transport.reconnect",
                "reconnecting is the single-path alternative: set multipath = false",
            ));
        }
        if self.transport.reconnect && matches!(self.workload, super::Workload::Datagrams { .. }) {
            return Err(err("transport.reconnect", "datagram flows are not sent again after a reconnect"));
        }
        let bottlenecks: BTreeSet<&str> = self.bottlenecks.iter().map(|b| b.name.as_str()).collect();
        if bottlenecks.len() != self.bottlenecks.len() {
            return Err(err("bottlenecks", "bottleneck names must be unique"));
        }
        for (i, b) in self.bottlenecks.iter().enumerate() {
            link(&format!("bottlenecks[{i}].up"), &b.up)?;
            link(&format!("bottlenecks[{i}].down"), &b.down)?;
        }
        let mut names = BTreeSet::new();
        let mut pairs = BTreeSet::new();
        for (i, p) in self.paths.iter().enumerate() {
            if !names.insert(p.name.as_str()) {
                return Err(err(format!("paths[{i}].name"), format!("`{}` is used by two paths", p.name)));
            }
            if !pairs.insert((p.client, p.server)) {
                return Err(err(
                    format!("paths[{i}].client"),
                    "each path needs its own (client, server) address pair; give the client another interface address",
                ));
            }
            if p.client.is_ipv4() != p.server.is_ipv4() {
                return Err(err(format!("paths[{i}].server"), "client and server must both be IPv4 or both IPv6"));
            }
            link(&format!("paths[{i}].up"), &p.up)?;
            link(&format!("paths[{i}].down"), &p.down)?;
            if let Some(b) = &p.bottleneck {
                if !bottlenecks.contains(b.as_str()) {
                    let known: Vec<&str> = bottlenecks.iter().copied().collect();
                    return Err(err(
                        format!("paths[{i}].bottleneck"),
                        format!("no bottleneck named `{b}`; defined: {known:?}"),
                    ));
                }
            }
        }
        for (i, c) in self.competing.iter().enumerate() {
            let f = |name: &str| format!("competing[{i}].{name}");
            if !bottlenecks.contains(c.bottleneck.as_str()) {
                let known: Vec<&str> = bottlenecks.iter().copied().collect();
                return Err(err(
                    f("bottleneck"),
                    format!("no bottleneck named `{}`; defined: {known:?}", c.bottleneck),
                ));
            }
            let taken = |a: &std::net::SocketAddr| {
                self.paths.iter().any(|p| p.client == *a || p.server == *a)
                    || self.competing[..i].iter().any(|o| o.client == *a || o.server == *a)
            };
            if taken(&c.client) || taken(&c.server) || c.client == c.server {
                return Err(err(
                    f("client"),
                    "a competing flow has its own endpoints: its client and server addresses must not be used \
                     by any path or other flow",
                ));
            }
            if c.client.is_ipv4() != c.server.is_ipv4() {
                return Err(err(f("server"), "client and server must both be IPv4 or both IPv6"));
            }
            link(&f("up"), &c.up)?;
            link(&f("down"), &c.down)?;
            if let Err(e) = mpquic_cc::factory_by_name(&c.congestion_controller) {
                return Err(err(f("congestion_controller"), e.to_string()));
            }
            if c.bytes == 0 {
                return Err(err(f("bytes"), "must be at least 1"));
            }
            if !c.start_s.is_finite() || c.start_s < 0.0 {
                return Err(err(f("start_s"), "must be a time in seconds >= 0"));
            }
        }
        if self.paths[0].starts_down {
            return Err(err("paths[0].starts_down", "the first path carries the handshake and must start up"));
        }
        for (i, e) in self.events.iter().enumerate() {
            let f = |name: &str| format!("events[{i}].{name}");
            if !e.at_s.is_finite() || e.at_s < 0.0 {
                return Err(err(f("at_s"), "must be a time in seconds >= 0"));
            }
            let is_path = names.contains(e.path.as_str());
            if !is_path && !bottlenecks.contains(e.path.as_str()) {
                let known: Vec<&str> = names.iter().chain(bottlenecks.iter()).copied().collect();
                return Err(err(f("path"), format!("no path or bottleneck named `{}`; defined: {known:?}", e.path)));
            }
            match e.action {
                Action::Handover => {
                    let Some(to) = &e.to else {
                        return Err(err(f("to"), "a handover needs `to`, the path that takes over"));
                    };
                    if !names.contains(to.as_str()) || !is_path || to == &e.path {
                        return Err(err(f("to"), format!("`{to}` must be another path name; paths: {names:?}")));
                    }
                }
                Action::Set => {
                    if e.rate_mbps.is_none() && e.delay_ms.is_none() && e.loss.is_none() {
                        return Err(err(f("action"), "`set` needs at least one of rate_mbps, delay_ms, loss"));
                    }
                }
                Action::Down | Action::Up => {}
            }
            if e.to.is_some() && e.action != Action::Handover {
                return Err(err(f("to"), "only a `handover` takes `to`"));
            }
            if let Some(v) = e.rate_mbps {
                finite_non_negative(&f("rate_mbps"), v)?;
            }
            if let Some(v) = e.delay_ms {
                finite_non_negative(&f("delay_ms"), v)?;
            }
            if let Some(v) = e.loss {
                probability(&f("loss"), v)?;
            }
        }
        self.validate_workload()
    }

    fn validate_compare(&self) -> Result<(), ValidationError> {
        for (i, p) in self.compare.protocols.iter().enumerate() {
            if !COMPARE_PROTOCOLS.contains(&p.as_str()) {
                return Err(err(
                    format!("compare.protocols[{i}]"),
                    format!("unknown protocol {p:?}; known: {}", COMPARE_PROTOCOLS.join(", ")),
                ));
            }
            if self.compare.protocols[..i].contains(p) {
                return Err(err(format!("compare.protocols[{i}]"), format!("{p:?} is listed twice")));
            }
        }
        for (i, e) in self.compare.external.iter().enumerate() {
            let field = |f: &str| format!("compare.external[{i}].{f}");
            if e.name.is_empty() || !e.name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
                return Err(err(field("name"), "must be non-empty and use only letters, digits, '-', '_' and '.'"));
            }
            if COMPARE_PROTOCOLS.contains(&e.name.as_str())
                || e.name == "mpquic"
                || self.compare.external[..i].iter().any(|o| o.name == e.name)
            {
                return Err(err(field("name"), format!("{:?} is already the name of another protocol", e.name)));
            }
            for (key, cmd) in [("server", &e.server), ("client", &e.client)] {
                if cmd.trim().is_empty() {
                    return Err(err(field(key), "must be a command line"));
                }
            }
            if !e.server_startup_ms.is_finite() || e.server_startup_ms < 0.0 {
                return Err(err(field("server_startup_ms"), "must be >= 0"));
            }
        }
        Ok(())
    }

    fn validate_workload(&self) -> Result<(), ValidationError> {
        match &self.workload {
            Workload::Bulk { bytes } => {
                if *bytes == 0 {
                    return Err(err("workload.bytes", "must be at least 1"));
                }
            }
            Workload::Files { count, bytes, parallel } => {
                if *count == 0 {
                    return Err(err("workload.count", "must be at least 1"));
                }
                if *bytes == 0 {
                    return Err(err("workload.bytes", "must be at least 1"));
                }
                if *parallel == 0 || *parallel > 100 {
                    return Err(err("workload.parallel", "must be 1 to 100 (the peer's stream limit)"));
                }
            }
            Workload::RequestResponse { interval_ms, request_bytes, count, .. } => {
                if !interval_ms.is_finite() || *interval_ms <= 0.0 {
                    return Err(err("workload.interval_ms", "must be > 0"));
                }
                if *request_bytes < 16 {
                    return Err(err("workload.request_bytes", "must be at least 16 (the request header)"));
                }
                if *count == 0 {
                    return Err(err("workload.count", "must be at least 1"));
                }
            }
            Workload::Video { bitrate_mbps, chunk_s, chunks, deadline_s } => {
                if !bitrate_mbps.is_finite() || *bitrate_mbps <= 0.0 {
                    return Err(err("workload.bitrate_mbps", "must be > 0"));
                }
                if !chunk_s.is_finite() || *chunk_s <= 0.0 {
                    return Err(err("workload.chunk_s", "must be > 0"));
                }
                if *chunks == 0 {
                    return Err(err("workload.chunks", "must be at least 1"));
                }
                if deadline_s.is_some_and(|d| !d.is_finite() || d <= 0.0) {
                    return Err(err("workload.deadline_s", "must be > 0"));
                }
            }
            Workload::Datagrams { bytes, interval_ms, count } => {
                if !(16..=1100).contains(bytes) {
                    return Err(err("workload.bytes", "must be 16 to 1100 (one datagram frame in one packet)"));
                }
                if !interval_ms.is_finite() || *interval_ms <= 0.0 {
                    return Err(err("workload.interval_ms", "must be > 0"));
                }
                if *count == 0 {
                    return Err(err("workload.count", "must be at least 1"));
                }
            }
        }
        Ok(())
    }
}
