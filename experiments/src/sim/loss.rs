//! Random loss models: independent (Bernoulli) loss, and the Gilbert-Elliott two-state Markov
//! chain that produces bursts (Gilbert 1960, Elliott 1963).

use rand::Rng;

/// How a link loses packets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LossModel {
    /// Each packet is lost with this probability, independently.
    Bernoulli(f64),
    /// A good and a bad state; the state changes before each packet, then the packet is lost
    /// with the state's loss probability.
    GilbertElliott {
        /// P(good -> bad) per packet.
        p_good_to_bad: f64,
        /// P(bad -> good) per packet.
        p_bad_to_good: f64,
        /// Loss probability in the good state.
        loss_good: f64,
        /// Loss probability in the bad state.
        loss_bad: f64,
    },
}

impl LossModel {
    /// Long-run loss rate: for Gilbert-Elliott, the stationary mix of the two states.
    pub fn mean_loss(&self) -> f64 {
        match *self {
            LossModel::Bernoulli(p) => p,
            LossModel::GilbertElliott { p_good_to_bad, p_bad_to_good, loss_good, loss_bad } => {
                let pi_bad = p_good_to_bad / (p_good_to_bad + p_bad_to_good);
                pi_bad * loss_bad + (1.0 - pi_bad) * loss_good
            }
        }
    }
}

/// The chain's state (only Gilbert-Elliott has one).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LossState {
    /// In the bad state.
    pub bad: bool,
}

impl LossState {
    /// Advances the chain by one packet and says whether this packet is lost.
    pub fn lose(&mut self, model: &LossModel, rng: &mut impl Rng) -> bool {
        match *model {
            LossModel::Bernoulli(p) => p > 0.0 && rng.random_bool(p),
            LossModel::GilbertElliott { p_good_to_bad, p_bad_to_good, loss_good, loss_bad } => {
                let flip = if self.bad { p_bad_to_good } else { p_good_to_bad };
                if rng.random_bool(flip) {
                    self.bad = !self.bad;
                }
                let p = if self.bad { loss_bad } else { loss_good };
                p > 0.0 && rng.random_bool(p)
            }
        }
    }
}
