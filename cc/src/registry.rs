//! Names to factories, for the command-line edge only (`--cc newreno|cubic|bbr|lia|olia|balia`,
//! `newreno+hystart` / `cubic+hystart` for slow start with HyStart++, RFC 9406, and two
//! controllers of the CoNEXT'17 paper's stacks: `olia-mpquic` and `cubic-quicgo`).
//! Everywhere else a controller is a value: an `Arc<dyn ControllerFactory>`.

use std::sync::Arc;

use crate::coupled::{BaliaRule, CoupledFactory, LiaRule, OliaMpQuicRule, OliaRule};
use crate::{BbrFactory, ControllerFactory, CubicFactory, NewRenoFactory};

/// The names [`factory_by_name`] accepts.
pub const CONTROLLER_NAMES: &[&str] = &[
    "newreno",
    "cubic",
    "bbr",
    "lia",
    "olia",
    "balia",
    "olia-mpquic",
    "newreno+hystart",
    "cubic+hystart",
    "cubic-quicgo",
];

/// A controller name that [`factory_by_name`] does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown congestion controller {name:?}; valid names: newreno, cubic, bbr, lia, olia, balia, olia-mpquic, newreno+hystart, cubic+hystart, cubic-quicgo"
)]
pub struct UnknownController {
    /// The name asked for.
    pub name: String,
}

/// The factory for a controller name (case-insensitive): `newreno`, `cubic`, `bbr`, `lia`,
/// `olia`, `balia`; `newreno+hystart` and `cubic+hystart` leave slow start by HyStart++ (RFC
/// 9406) instead of at the first loss; `olia-mpquic` is OLIA with mp-quic's 0.85 backoff and
/// `cubic-quicgo` quic-go's CUBIC of 2017 ([`CubicFactory::QUIC_GO`]: two emulated flows).
pub fn factory_by_name(name: &str) -> Result<Arc<dyn ControllerFactory>, UnknownController> {
    let factory: Arc<dyn ControllerFactory> = match name.to_ascii_lowercase().as_str() {
        "newreno" => Arc::new(NewRenoFactory),
        "cubic" => Arc::new(CubicFactory::default()),
        "bbr" => Arc::new(BbrFactory),
        "lia" => Arc::new(CoupledFactory::<LiaRule>::default()),
        "olia" => Arc::new(CoupledFactory::<OliaRule>::default()),
        "olia-mpquic" => Arc::new(CoupledFactory::<OliaMpQuicRule>::default()),
        "balia" => Arc::new(CoupledFactory::<BaliaRule>::default()),
        "newreno+hystart" => Arc::new(crate::NewRenoHyStartFactory),
        "cubic+hystart" => Arc::new(CubicFactory { hystart: true, emulated_flows: 1 }),
        "cubic-quicgo" => Arc::new(CubicFactory::QUIC_GO),
        _ => return Err(UnknownController { name: name.to_owned() }),
    };
    Ok(factory)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_resolves_to_itself() {
        for name in CONTROLLER_NAMES {
            assert_eq!(factory_by_name(name).unwrap().name(), *name);
        }
        assert_eq!(factory_by_name("CUBIC").unwrap().name(), "cubic");
    }

    /// RFC 5681 §4.1 restart after idle: every loss-based controller drops a grown window back
    /// to the restart window and keeps 3/4 of the old one as ssthresh; slow start then doubles
    /// per round trip again. A window already below the restart window stays.
    #[test]
    fn loss_based_controllers_restart_after_idle() {
        use crate::test_util::{ack_round, secs};
        use crate::{initial_window, Instant, PathInfo, RttEstimates};
        let rtt = RttEstimates::initial(core::time::Duration::from_millis(100));
        let iw = initial_window(1200);
        for name in ["newreno", "cubic", "lia", "olia", "balia"] {
            let mut cc = factory_by_name(name)
                .unwrap()
                .build(Instant::ZERO, PathInfo { path_id: crate::PathId(0), max_datagram_size: 1200 });
            let mut pn = 0;
            for round in 0..4 {
                let w = cc.window();
                ack_round(&mut *cc, secs(round + 1), &mut pn, w, &rtt);
            }
            let grown = cc.window();
            assert!(grown >= 8 * iw, "{name}: slow start grew the window to {grown}");
            cc.on_restart_after_idle(secs(10), iw);
            assert_eq!(cc.window(), iw, "{name}");
            // ssthresh is still infinite (no loss yet), or at least 3/4 of the old window.
            assert!(cc.metrics().ssthresh.is_none_or(|t| t >= grown / 4 * 3), "{name}: {:?}", cc.metrics());
            // Slow start again: one round doubles the window.
            ack_round(&mut *cc, secs(11), &mut pn, iw, &rtt);
            assert_eq!(cc.window(), 2 * iw, "{name}");
            cc.on_restart_after_idle(secs(20), 4 * iw);
            assert_eq!(cc.window(), 2 * iw, "{name}: a window below the restart window stays");
        }
    }

    #[test]
    fn unknown_name_lists_valid_ones() {
        let err = factory_by_name("vegas").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("\"vegas\""));
        for name in CONTROLLER_NAMES {
            assert!(msg.contains(name), "{msg}");
        }
    }
}
