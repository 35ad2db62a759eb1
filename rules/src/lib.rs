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
//!
//! # Classifiers
//!
//! - [`linear::Linear`]: the reference, every rule in order.
//! - [`fast::Fast`] ([`fast::build`], also [`default_classifier`]): the default. A few
//!   cutting decision trees over the 5-tuple (HiCuts-style equal, aligned cuts with path
//!   compression; EffiCuts-style separation of rules wide in an address), exact
//!   [`Rule::matches`] at the leaves for every other key. [`Classifier::classify_burst`]
//!   walks 8 packets in lockstep.
//! - [`tss::Tss`]: tuple space search with priority pruning, kept as the measured alternative.
//!
//! ## Why the cut trees (measured, 2 vCPU shared VM; BENCHMARKS.md "Classifier")
//!
//! On generated ClassBench-style sets ([`gen`]: acl, fw, ipc) of 10,000 rules, one core:
//!
//! - Tuple space search needs one hash probe per distinct (source length, destination
//!   length) pair: 205 to 465 tables at 10k rules here, and priority pruning rarely stops
//!   early because early rules sit in many tables. It ran at 0.4 to 4 Mpps, 1.2 to 3.4x
//!   linear.
//! - One HiCuts tree per family copies every wide rule into every child: 200 MB and
//!   2.5 s to build for acl 10k, 0.6 GB for ipc; out of the question.
//! - Range splits at rule endpoints (a 16-way HyperSplit) were tried too: fewer levels on
//!   acl (9 instead of 14) but up to 2.9 M leaf entries and 2 s builds on ipc.
//! - The cut forest (4 trees per family, wide rules apart, 8-bit cuts, leaves of 8): 3.8 to
//!   8.1 MiB, 14 to 56 ms to build, about 10 to 16 tree levels plus 3 to 7 leaf tests per
//!   lookup over all trees; 3.4 to 4.8 Mpps one packet at a time under load, 1.4 to 24x
//!   linear and 1.2 to 8.6x tuple space search in the same run. Its cost is cache misses,
//!   one per level, which the burst lookup tries to overlap. Against DPDK's rte_acl (AVX2) on
//!   the same files: 0.49 to 1.29x (`benches/acl-compare.sh`), the same answers.
//!
//! Tuning was done on the work a lookup does ([`fast::Fast::lookup_cost`]: trees, levels,
//! leaf tests), which is deterministic, because wall time on this machine was not:
//! `cargo run --release -p rules --example candidates` prints both for each setting.
//! Candidates that cut levels further (12- or 16-bit cuts, space factor 8) cost 2 to 10x
//! the memory on ipc/fw for 10 to 20% fewer levels; `wide_below` 8 gave the smallest
//! structures on all three styles.
//!
//! What it does not reach (yet): lookup cost is not flat. From 10 to 10,000 rules it
//! grows several-fold (tree depth and cache misses), not the 2x the issue asks for.

pub mod classbench;
pub mod emit;
pub mod fast;
pub mod gen;
pub mod key;
pub mod linear;
pub mod parse;
pub mod rule;
pub mod tss;

pub use classbench::{parse_classbench, parse_trace, parse_trace_file};
pub use fast::Fast;
pub use key::{Family, PacketKey};
pub use linear::Linear;
pub use parse::{parse, parse_as, parse_checked, parse_file, parse_file_checked, ActionCheck, Format, ParseError};
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
