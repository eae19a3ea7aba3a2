//! Names for the built-in schedulers, for the command-line edge (`--scheduler NAME`) only: inside
//! the stack schedulers are values (`Arc<dyn SchedulerFactory>`).

use std::sync::Arc;

use crate::backup::BackupPriority;
use crate::blest::{Blest, BlestConfig};
use crate::ecf::Ecf;
use crate::min_rtt::MinRtt;
use crate::redundant::Redundant;
use crate::reinjection::ReinjectingFactory;
use crate::round_robin::RoundRobin;
use crate::scheduler::SchedulerFactory;
use crate::weighted::WeightedFactory;
use crate::PathId;

/// The names [`factory_by_name`] knows. Any of them followed by `+reinject` adds XLINK-style
/// re-injection ([`crate::Reinjecting`]), e.g. `minrtt+reinject`, `ecf+reinject`.
pub const SCHEDULER_NAMES: &[&str] =
    &["minrtt", "roundrobin", "weighted", "redundant", "backup", "blest", "ecf", "minrtt+reinject"];

/// The suffix that wraps a scheduler in [`crate::Reinjecting`].
const REINJECT_SUFFIX: &str = "+reinject";

/// A scheduler name the registry does not know, or bad arguments to one it does.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnknownScheduler {
    /// No scheduler has this name.
    #[error("unknown scheduler `{0}`; valid names: minrtt, roundrobin, weighted[:PATH=WEIGHT,...], redundant, backup, blest, ecf, each optionally followed by +reinject (minrtt+reinject)")]
    Name(String),
    /// `weighted:` followed by something other than `PATH=WEIGHT` pairs.
    #[error(
        "bad weights `{0}`: expected weighted:PATH=WEIGHT,... with integer path IDs and weights, e.g. weighted:0=3,1=1"
    )]
    Weights(String),
}

/// The factory for a built-in scheduler name (case-insensitive). `weighted` takes optional
/// per-path weights: `weighted:0=3,1=1` (unlisted paths weigh 1).
pub fn factory_by_name(name: &str) -> Result<Arc<dyn SchedulerFactory>, UnknownScheduler> {
    let lower = name.trim().to_ascii_lowercase();
    if let Some(base) = lower.strip_suffix(REINJECT_SUFFIX) {
        if base.ends_with(REINJECT_SUFFIX) {
            return Err(UnknownScheduler::Name(name.to_owned()));
        }
        let inner = factory_by_name(base).map_err(|e| match e {
            UnknownScheduler::Name(_) => UnknownScheduler::Name(name.to_owned()),
            other => other,
        })?;
        return Ok(Arc::new(ReinjectingFactory::new(inner)));
    }
    if let Some(args) = lower.strip_prefix("weighted:") {
        return parse_weights(args)
            .map(|weights| Arc::new(WeightedFactory { weights }) as Arc<dyn SchedulerFactory>)
            .ok_or_else(|| UnknownScheduler::Weights(name.to_owned()));
    }
    Ok(match lower.as_str() {
        "minrtt" => MinRtt::factory(),
        "roundrobin" => RoundRobin::factory(),
        "weighted" => Arc::new(WeightedFactory::default()),
        "redundant" => Redundant::factory(),
        "backup" => BackupPriority::factory(),
        "blest" => Blest::factory(BlestConfig::default()),
        "ecf" => Ecf::factory(),
        _ => return Err(UnknownScheduler::Name(name.to_owned())),
    })
}

fn parse_weights(args: &str) -> Option<Vec<(PathId, u32)>> {
    args.split(',')
        .map(|pair| {
            let (id, w) = pair.split_once('=')?;
            Some((PathId(id.trim().parse().ok()?), w.trim().parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_builds_a_scheduler_of_that_name() {
        for &name in SCHEDULER_NAMES {
            let f = factory_by_name(name).unwrap();
            assert_eq!(f.name(), name);
            assert_eq!(f.build().name(), name);
        }
        assert_eq!(factory_by_name("MinRTT").unwrap().name(), "minrtt");
    }

    #[test]
    fn unknown_name_lists_valid_ones() {
        let err = factory_by_name("fastest").unwrap_err();
        let msg = err.to_string();
        for &name in SCHEDULER_NAMES {
            assert!(msg.contains(name.split(':').next().unwrap()), "{msg}");
        }
    }

    #[test]
    fn reinject_suffix_wraps_any_scheduler() {
        for base in ["ecf", "blest", "weighted:0=2"] {
            let f = factory_by_name(&format!("{base}+reinject")).unwrap();
            assert!(f.name().ends_with("+reinject"), "{}", f.name());
        }
        assert_eq!(factory_by_name("ecf+reinject").unwrap().build().name(), "ecf+reinject");
        assert!(factory_by_name("fastest+reinject").is_err());
        assert!(factory_by_name("minrtt+reinject+reinject").is_err());
    }

    /// Only the `+reinject` variants say they may re-inject (proto skips asking the others), and
    /// stream affinity passes the answer of the scheduler it wraps through.
    #[test]
    fn only_reinjecting_schedulers_ask_to_be_asked() {
        use crate::Scheduler as _;
        for &name in SCHEDULER_NAMES {
            let name = if name.starts_with("weighted") { "weighted:0=2" } else { name };
            let base = name.strip_suffix("+reinject").unwrap_or(name);
            for (n, expect) in [(base.to_string(), false), (format!("{base}+reinject"), true)] {
                let s = factory_by_name(&n).unwrap().build();
                assert_eq!(s.reinjects(), expect, "{n}");
                assert_eq!(crate::StreamAffinity::new(s).reinjects(), expect, "{n} with stream affinity");
            }
        }
    }

    #[test]
    fn weights_parse() {
        assert!(factory_by_name("weighted:0=3,1=1").is_ok());
        assert_eq!(factory_by_name("weighted:0=x").unwrap_err(), UnknownScheduler::Weights("weighted:0=x".into()));
        assert!(factory_by_name("weighted:").is_err());
    }
}
