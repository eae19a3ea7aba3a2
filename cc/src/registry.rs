//! Names to factories, for the command-line edge only (`--cc newreno|cubic|bbr|lia|olia|balia`,
//! and `newreno+hystart` / `cubic+hystart` for slow start with HyStart++, RFC 9406).
//! Everywhere else a controller is a value: an `Arc<dyn ControllerFactory>`.

use std::sync::Arc;

use crate::coupled::{BaliaRule, CoupledFactory, LiaRule, OliaRule};
use crate::{BbrFactory, ControllerFactory, CubicFactory, NewRenoFactory};

/// The names [`factory_by_name`] accepts.
pub const CONTROLLER_NAMES: &[&str] =
    &["newreno", "cubic", "bbr", "lia", "olia", "balia", "newreno+hystart", "cubic+hystart"];

/// A controller name that [`factory_by_name`] does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown congestion controller {name:?}; valid names: newreno, cubic, bbr, lia, olia, balia, newreno+hystart, cubic+hystart"
)]
pub struct UnknownController {
    /// The name asked for.
    pub name: String,
}

/// The factory for a controller name (case-insensitive): `newreno`, `cubic`, `bbr`, `lia`,
/// `olia` or `balia`; `newreno+hystart` and `cubic+hystart` leave slow start by HyStart++
/// (RFC 9406) instead of at the first loss.
pub fn factory_by_name(name: &str) -> Result<Arc<dyn ControllerFactory>, UnknownController> {
    let factory: Arc<dyn ControllerFactory> = match name.to_ascii_lowercase().as_str() {
        "newreno" => Arc::new(NewRenoFactory),
        "cubic" => Arc::new(CubicFactory::default()),
        "bbr" => Arc::new(BbrFactory),
        "lia" => Arc::new(CoupledFactory::<LiaRule>::default()),
        "olia" => Arc::new(CoupledFactory::<OliaRule>::default()),
        "balia" => Arc::new(CoupledFactory::<BaliaRule>::default()),
        "newreno+hystart" => Arc::new(crate::NewRenoHyStartFactory),
        "cubic+hystart" => Arc::new(CubicFactory { hystart: true }),
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
