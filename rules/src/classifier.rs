//! What every classifier answers, whatever its structure: [`Classifier`].

use crate::key::PacketKey;

/// What a classifier answers: the index (in [`RuleSet::rules`](crate::RuleSet::rules), which
/// is also the rule's ordinal in its file) of the first rule that matches.
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
