//! Rules: the language (tc flower's keys and syntax), the classifiers that look a packet up
//! in a rule set, and the emitters that express the same rules for the kernel's classifiers.
//!
//! One rule file, one meaning, in every engine. The meaning is [`Rule::matches`] on a
//! [`PacketKey`]; [`linear::Linear`] applies it rule by rule and is the reference every other
//! classifier is tested against.
//!
//! Order: first match wins, by lowest `prio`, then file order ([`RuleSet::rules`] is kept
//! in that order).
//!
//! Tunnels: on a tunnelled frame, the plain keys (and `protocol`) match the inner headers and
//! the `enc_` keys the outer ones, as flower does on a tunnel device after decapsulation.

pub mod fast;
pub mod gen;
pub mod key;
pub mod linear;
pub mod rule;
pub mod tss;

pub use fast::Fast;
pub use key::{Family, PacketKey};
pub use linear::Linear;
pub use rule::{Action, Keys, Masked, PortMatch, Prefix, Protocol, Rule, RuleSet};

/// What a classifier answers: the index (in [`RuleSet::rules`], which is also the rule's
/// ordinal in its file) of the first rule that matches.
pub trait Classifier: Send + Sync {
    /// `None` when no rule matches.
    fn classify(&self, key: &PacketKey) -> Option<usize>;
    /// Classifies a burst: `out[i]` answers `keys[i]` (pairs up to the shorter of the two).
    /// Classifiers that can overlap the memory accesses of several lookups override it.
    fn classify_burst(&self, keys: &[PacketKey], out: &mut [Option<usize>]) {
        for (key, answer) in keys.iter().zip(out.iter_mut()) {
            *answer = self.classify(key);
        }
    }
    /// A short name for reports ("linear", ...).
    fn name(&self) -> &'static str;
}

/// The classifier to use by default: [`fast::build`] (why: see the crate documentation).
pub fn default_classifier(set: &RuleSet) -> Box<dyn Classifier> {
    Box::new(fast::build(set))
}
