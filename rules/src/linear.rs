//! The reference classifier: every rule in matching order, [`Rule::matches`](crate::Rule::matches) on each.
//! Its cost grows with the rules before the match, as tc's classifiers do.

use crate::classifier::Classifier;
use crate::key::PacketKey;
use crate::rule::{Rule, RuleSet};

/// The rules of a set in matching order, tried one after the other.
pub struct Linear {
    /// Rules in matching order, with their file index.
    rules: Vec<(usize, Rule)>,
}

impl Linear {
    /// Copies the rules of `set` in its matching order ([`RuleSet::order`]).
    pub fn new(set: &RuleSet) -> Linear {
        Linear { rules: set.order.iter().map(|&i| (i, set.rules[i].clone())).collect() }
    }
}

impl Classifier for Linear {
    #[inline]
    fn classify(&self, key: &PacketKey) -> Option<usize> {
        self.rules.iter().find(|(_, rule)| rule.matches(key)).map(|(index, _)| *index)
    }

    fn name(&self) -> &'static str {
        "linear"
    }
}
