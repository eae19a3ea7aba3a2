//! The readable summary printed on the terminal.

use std::fmt::Write;

use crate::metrics::RunSummary;
use crate::runner::{Mode, Report};

fn fmt_opt(v: Option<f64>, unit: &str) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{v:.3}{unit}"))
}

fn run_rows(out: &mut String, runs: &[RunSummary]) {
    for r in runs {
        let _ = writeln!(
            out,
            "  {:<28} seed {:<4} {:<9} completion {:>10}  goodput {:>8.2} Mbit/s  handshake {:>9}  migrations {}",
            r.label,
            r.seed,
            if r.completed { "completed" } else { "FAILED" },
            fmt_opt(r.completion_time_s, " s"),
            r.goodput_mbps,
            fmt_opt(r.handshake_ms, " ms"),
            r.migrations,
        );
        if let Some(e) = &r.error {
            let _ = writeln!(out, "      reason: {e}");
        }
        if r.requests.planned > 1 {
            let l = &r.requests.latency_ms;
            let _ = writeln!(
                out,
                "      requests {}/{}  latency ms: mean {:.1} median {:.1} p95 {:.1} max {:.1}  deadlines missed {}",
                r.requests.completed, r.requests.planned, l.mean, l.median, l.p95, l.max, r.requests.deadlines_missed
            );
        }
        if let Some(d) = &r.datagrams {
            let _ = writeln!(
                out,
                "      datagrams {}/{} received  delay ms: mean {:.1} max {:.1}",
                d.received, d.sent, d.mean_delay_ms, d.max_delay_ms
            );
        }
        if r.longest_delivery_gap_ms > 0.0 {
            let _ = writeln!(
                out,
                "      longest delivery gap {:.1} ms (ended at {:.3} s)",
                r.longest_delivery_gap_ms, r.longest_delivery_gap_end_s
            );
        }
        if let Some(w) = &r.shared_window {
            let _ = writeln!(
                out,
                "      shared window {:.3}-{:.3} s: this connection {:.2} Mbit/s, {} x the competing flows",
                w.start_s,
                w.end_s,
                w.goodput_mbps,
                fmt_opt(w.ratio_to_competing, "")
            );
        }
        for c in &r.competing {
            let _ = writeln!(
                out,
                "      competing {:<10} cc {:<8} {:<9} {} B  goodput {:.2} Mbit/s (in window {:.2})",
                c.name,
                c.congestion_controller,
                if c.completed { "completed" } else { "running" },
                c.app_bytes_received,
                c.goodput_mbps,
                c.window_goodput_mbps
            );
        }
        let _ = writeln!(
            out,
            "      {:<10} {:>14} {:>14} {:>10} {:>12} {:>10}",
            "path", "sent down (B)", "delivered (B)", "lost pkts", "cong. events", "Mbit/s"
        );
        for p in &r.paths {
            let _ = writeln!(
                out,
                "      {:<10} {:>14} {:>14} {:>10} {:>12} {:>10.2}",
                p.name,
                p.bytes_sent_down,
                p.bytes_delivered_down,
                p.packets_lost,
                p.congestion_events,
                p.mean_goodput_mbps
            );
        }
    }
}

/// The report as a table for the terminal.
pub fn table(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "scenario {} ({}), cc {}, scheduler {}{}",
        report.scenario,
        report.description,
        report.congestion_controller,
        report.scheduler,
        if report.mode == Mode::Real { " [real sockets, emulated links]" } else { "" }
    );
    run_rows(&mut out, &report.runs);
    if !report.baselines.is_empty() {
        let _ = writeln!(out, "single-path baselines:");
        run_rows(&mut out, &report.baselines);
    }
    let a = &report.aggregate;
    let _ = writeln!(
        out,
        "mean over {} run(s): goodput {:.2} Mbit/s, completion {:.3} s ({} completed)",
        a.runs, a.goodput_mbps.mean, a.completion_time_s.mean, a.completed
    );
    if let Some(b) = report.aggregation_benefit {
        let _ = writeln!(out, "aggregation benefit (EABen): {b:.3}");
    }
    comparison_rows(&mut out, &report.comparisons);
    for n in &report.notes {
        let _ = writeln!(out, "note: {n}");
    }
    out
}

/// The protocols of a `--netns` comparison side by side, per seed.
fn comparison_rows(out: &mut String, comparisons: &[crate::metrics::Comparison]) {
    let Some(first) = comparisons.first() else { return };
    let _ =
        writeln!(out, "protocols over the same emulated links (bytes down per path: the client devices' counters):");
    let _ = write!(
        out,
        "      {:<10} {:>5} {:>10} {:>13} {:>11} {:>10}",
        "protocol", "seed", "completed", "completion s", "Mbit/s", "gap ms"
    );
    for p in &first.paths {
        let _ = write!(out, " {:>12}", format!("{} MB", p.name));
    }
    let _ = writeln!(out);
    let opt = |v: Option<f64>, digits: usize| v.map(|v| format!("{v:.digits$}")).unwrap_or_else(|| "-".into());
    for c in comparisons {
        let _ = write!(
            out,
            "      {:<10} {:>5} {:>10} {:>13} {:>11.2} {:>10}",
            c.protocol,
            c.seed,
            if c.completed { "yes" } else { "no" },
            opt(c.completion_time_s, 3),
            c.goodput_mbps,
            opt(c.longest_delivery_gap_ms, 1)
        );
        for p in &c.paths {
            let _ = write!(out, " {:>12.2}", p.bytes_down as f64 / 1e6);
        }
        let _ = writeln!(out);
        if let Some(e) = &c.error {
            let _ = writeln!(out, "        {}: {e}", c.protocol);
        }
    }
}
